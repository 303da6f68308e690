"""Input quality: flag audio the emotion model should not trust (narrowband, clipped, very noisy).

The model was trained on clean wideband studio speech (16 kHz, energy up to about 7-8 kHz). Three
common problems move an input away from that and make its predictions less trustworthy:

* **narrowband** — telephone or 8 kHz audio: resampled to 16 kHz it has no energy above 4 kHz, so
  the fricative and breathiness cues up there are missing. Detected from the long-term spectrum of
  the active frames, or from the file's original sample rate (``source_sr``) when the caller knows it.
* **clipped** — samples stuck at full scale in runs (flat tops), which add harsh harmonics.
* **very noisy** — a low estimated signal-to-noise ratio.
* **mains hum** — 50 or 60 Hz and its multiples (:func:`ser.hum.find_hum`). The features filter it out before the
  model hears it (``FeatureConfig.remove_hum``), so it is reported without lowering the reliability, and the other
  measures are taken on the signal without it (except for a model trained before that).

:func:`assess` measures all three with numpy on the framed signal and one ``rfft`` of its active frames
(about 2 ms for a 4 s clip; memory stays bounded on long recordings) and returns a :class:`Quality`
with human-readable warnings and a ``reliability`` in ``[0.2, 1]``; :func:`temper` uses that
reliability to soften class probabilities toward uniform.

Methods (all on mono ``y [shape=(n,)]`` at ``sr`` Hz, Hann frames of about 32 ms, hop half a frame):

* *frame energy* — mean windowed power of each frame. The **noise floor** is the 10th
  percentile of the frame energies, the **speech level** the mean energy of the louder half of the
  frames; ``snr_db`` is ``10 log10((speech - noise) / noise)``, clamped to ``SNR_RANGE_DB``. Pauses
  make the 10th percentile a noise estimate; a clip with no pause at all gets a pessimistic (lower)
  estimate, one that is mostly silence too. The speech level is an active-speech level, so on clips
  with pauses white noise mixed at 0 dB of *average* power reads as about +3 dB (+7 dB on the
  generated test signal), and pure noise as about -8 dB.
* *bandwidth* — the power spectrum averaged over the **active** frames (energy within
  ``ACTIVE_RANGE_DB`` of the loud frames and above the noise floor), smoothed over about 125 Hz,
  in dB; ``bandwidth_hz`` is the highest frequency still within ``BANDWIDTH_DROP_DB`` of the
  spectrum's peak (the peak is searched above ``PEAK_MIN_HZ`` to ignore hum and DC).
* *clipping* — for each polarity whose extreme reaches ``CLIP_MIN_PEAK``, the samples within
  ``CLIP_TOLERANCE`` (relative) of that extreme that lie in runs of at least ``CLIP_MIN_RUN``
  consecutive samples; ``clipping_ratio`` is their fraction of all samples. A single loud peak or a
  smooth waveform top does not form such a run; a flat top does. Resampling smears flat tops into
  ripples (a clipped 48 kHz file loaded at 16 kHz), so runs beyond ``CLIP_NEAR_FULL_SCALE`` in
  absolute value also count once they reach ``CLIP_NEAR_MIN_RATIO`` of the clip: heavy clipping is
  caught at any rate, mild clipping only at the rate it happened (pass the original-rate samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from .audio import check_signal, remove_dc
from .errors import AudioError
from .hum import Found, find_hum, remove_hum

# -- narrowband ------------------------------------------------------------------------------------
#: Bandwidth (Hz) below which an input counts as narrowband. Clean 16 kHz speech reaches ~7-8 kHz;
#: telephone speech stops at 3.4 kHz, 8 kHz audio at 4 kHz.
NARROWBAND_HZ = 5_000.0
#: Bandwidth (Hz) at or below which the narrowband reliability factor reaches its minimum.
NARROWBAND_FULL_HZ = 4_000.0
#: Original sample rates (Hz) at or below this are narrowband whatever the spectrum shows.
NARROWBAND_SOURCE_SR = 8_000
#: Reliability factor of a fully narrowband input (bandwidth ≤ ``NARROWBAND_FULL_HZ``).
NARROWBAND_RELIABILITY = 0.5
#: ... for a model with a narrowband member (trained on telephone-band copies): on the held-out split's
#: telephone-band clips it is right 60 % of the time at a mean confidence of 0.67, and a factor of 0.85 brings the
#: mean confidence to about its accuracy (0.5 would make it 0.41; benchmarks/EXPERIMENTS.md, session 11).
NARROWBAND_MEMBER_RELIABILITY = 0.85
#: The bandwidth edge: how far (dB) below its peak the long-term spectrum may fall and still count.
BANDWIDTH_DROP_DB = 45.0
#: The spectral peak is searched above this frequency (Hz), so that hum or DC cannot set it.
PEAK_MIN_HZ = 80.0
#: Width (Hz) of the moving average that smooths the long-term spectrum.
SMOOTH_HZ = 125.0

# -- clipping --------------------------------------------------------------------------------------
#: Clipping ratio (fraction of samples) above which an input is flagged as clipped (0.1 %).
CLIP_RATIO = 1e-3
#: Clipping ratio at which the clipping reliability factor reaches its minimum (5 %).
CLIP_RATIO_FULL = 5e-2
#: Reliability factor of heavily clipped input (ratio ≥ ``CLIP_RATIO_FULL``); log-linear in between.
CLIP_RELIABILITY = 0.6
#: A sample is "at full scale" when within this fraction of its polarity's extreme (0.1 %).
CLIP_TOLERANCE = 1e-3
#: ... and in a run of at least this many consecutive such samples.
CLIP_MIN_RUN = 3
#: Resampling (e.g. a clipped 48 kHz file loaded at 16 kHz) turns flat tops into ripples around full
#: scale, so runs of samples beyond this absolute level (either sign) also count as clipped ...
CLIP_NEAR_FULL_SCALE = 0.9
#: ... when they make up at least this fraction of the clip (1 %: clean speech peak-normalised to full
#: scale has at most ~0.5 % of its samples beyond 0.9, mild clipping of a resampled file is missed).
CLIP_NEAR_MIN_RATIO = 1e-2
#: Only an extreme at least this high (of full scale 1.0) is examined: flat tops of quieter signals
#: are clipped-then-attenuated audio (still caught) or, much more rarely, quantisation.
CLIP_MIN_PEAK = 0.3

# -- noise -----------------------------------------------------------------------------------------
#: Estimated SNR (dB) below which an input is flagged as very noisy.
NOISY_SNR_DB = 10.0
#: SNR (dB) at or below which the noise reliability factor reaches its minimum.
NOISY_SNR_FULL_DB = 0.0
#: Reliability factor of input at ``NOISY_SNR_FULL_DB`` or worse (linear from ``NOISY_SNR_DB``).
NOISY_RELIABILITY = 0.4
#: Percentile of the frame energies taken as the noise floor; the frames at or above the
#: ``SPEECH_PERCENTILE`` (the median) give the speech level (their mean energy).
NOISE_PERCENTILE = 10.0
SPEECH_PERCENTILE = 50.0
#: The range the SNR estimate is clamped to (dB).
SNR_RANGE_DB = (-10.0, 60.0)
#: Frames within this many dB of the loud frames' level (the ``LOUD_PERCENTILE`` of the frame
#: energies) and above the noise floor are "active" and make the long-term spectrum.
ACTIVE_RANGE_DB = 30.0
LOUD_PERCENTILE = 90.0

# -- mains hum ------------------------------------------------------------------------------------
#: Reliability factor of input with mains hum for a model whose features keep it (bundles made before
#: ``FeatureConfig.remove_hum``: 50 Hz hum 10 dB below the speech cost them 0.11-0.12 UAR).
HUM_RELIABILITY = 0.8

# -- overall ---------------------------------------------------------------------------------------
#: Lowest reliability :func:`assess` reports (the product of the factors is floored here).
MIN_RELIABILITY = 0.2
#: Analysis frame length (s); the FFT size is the nearest power of two at ``sr``.
FRAME_SECONDS = 0.032
_CHUNK_FRAMES = 2048  # frames per block (~65 s at 16 kHz): bounds memory on long recordings


@dataclass(frozen=True)
class Quality:
    """What :func:`assess` found. ``ok`` is true when there is no warning (then ``reliability == 1``)."""

    bandwidth_hz: float  # highest frequency (Hz) within BANDWIDTH_DROP_DB of the active-speech spectrum's peak
    source_sr: int | None  # the file's original sample rate (Hz) when the caller gave it
    clipping_ratio: float  # fraction of samples in full-scale runs (flat tops), in [0, 1]
    snr_db: float  # estimated SNR (dB), speech level vs noise floor, clamped to SNR_RANGE_DB
    warnings: tuple[str, ...]  # one human-readable sentence per problem found
    reliability: float  # in [MIN_RELIABILITY, 1]: 1 = clean, lower for each problem by severity
    hum_hz: float | None = None  # mains frequency (50 or 60 Hz) of hum found in the input (ser.hum), None: none

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.warnings

    def to_dict(self) -> dict:
        """JSON-ready dict of every field plus ``ok`` (warnings as a list)."""
        return {
            "bandwidth_hz": float(self.bandwidth_hz),
            "source_sr": None if self.source_sr is None else int(self.source_sr),
            "clipping_ratio": float(self.clipping_ratio),
            "snr_db": float(self.snr_db),
            "warnings": list(self.warnings),
            "reliability": float(self.reliability),
            "hum_hz": None if self.hum_hz is None else float(self.hum_hz),
            "ok": self.ok,
        }


def _ramp(x: float, start: float, end: float) -> float:
    """0 at ``x ≤ start`` ... 1 at ``x ≥ end`` (linear; ``start > end`` for a falling variable)."""
    return min(1.0, max(0.0, (x - start) / (end - start)))


def _frames(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Strided (no copy) frames ``[shape=(frames, n_fft)]`` of ``y`` (hop ``n_fft // 2``) and the Hann window."""
    n_fft = 1 << max(5, round(math.log2(FRAME_SECONDS * sr)))
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[:: n_fft // 2]
    return frames, np.hanning(n_fft).astype(np.float32)


def _frame_energy(frames: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean windowed power of each frame ``[shape=(frames,)]``, computed block by block."""
    w2 = window * window / window.size
    return np.concatenate(
        [np.square(frames[i : i + _CHUNK_FRAMES]) @ w2 for i in range(0, len(frames), _CHUNK_FRAMES)]
    )


def _mean_spectrum(frames: np.ndarray, window: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Mean power spectrum ``[shape=(n_fft // 2 + 1,)]`` of the frames at indices ``which``."""
    total = np.zeros(window.size // 2 + 1, dtype=np.float64)
    for i in range(0, which.size, _CHUNK_FRAMES):
        spec = scipy.fft.rfft(frames[which[i : i + _CHUNK_FRAMES]] * window, axis=1)  # float32: fast
        total += (spec.real**2 + spec.imag**2).sum(axis=0)
    return total / max(1, which.size)


def _in_runs(mask: np.ndarray, min_run: int) -> np.ndarray:
    """Which entries of the boolean ``mask [shape=(n,)]`` lie in runs of ≥ ``min_run`` true values."""
    out = np.zeros(mask.size, dtype=bool)
    if mask.sum() < min_run:
        return out
    starts = mask[: mask.size - min_run + 1].copy()
    for k in range(1, min_run):
        starts &= mask[k : mask.size - min_run + 1 + k]
    for k in range(min_run):
        out[k : k + starts.size] |= starts
    return out


def _clipping_ratio(y: np.ndarray) -> float:
    """Fraction of samples in flat tops (see the module docstring); 0 for unclipped audio."""
    plateau = np.zeros(y.size, dtype=bool)
    near = np.zeros(y.size, dtype=bool)
    for x in (y, -y):  # each polarity: flat tops and flat bottoms may sit at different levels
        extreme = float(x.max())
        if extreme >= CLIP_MIN_PEAK:
            plateau |= _in_runs(x >= extreme * (1 - CLIP_TOLERANCE), CLIP_MIN_RUN)
        if extreme >= CLIP_NEAR_FULL_SCALE:
            near |= _in_runs(x >= CLIP_NEAR_FULL_SCALE, CLIP_MIN_RUN)
    near_ratio = float(near.mean())
    return max(float(plateau.mean()), near_ratio if near_ratio >= CLIP_NEAR_MIN_RATIO else 0.0)


def assess(y: np.ndarray, *, sr: int, source_sr: int | None = None,
           narrowband_reliability: float = NARROWBAND_RELIABILITY, hum_removed: bool = True,
           found: Found = "find") -> Quality:
    """Measure bandwidth, clipping and SNR of ``y [shape=(n,)]`` (mono, float in [-1, 1]) at ``sr`` Hz.

    ``source_sr`` is the file's original sample rate (Hz) if known: audio recorded at ≤ 8 kHz is
    narrowband even after resampling. ``narrowband_reliability``: the reliability factor of a fully
    narrowband input (:data:`NARROWBAND_MEMBER_RELIABILITY` for a model that has a narrowband member).
    ``hum_removed``: whether the model's features filter mains hum out (``FeatureConfig.remove_hum``); for a model
    that hears it, hum lowers the reliability by :data:`HUM_RELIABILITY`. ``found``: the hum :func:`ser.hum.find_hum` found
    in ``y`` without its mean when the caller looked already (None: none), so a clip is searched once. Raises :class:`~ser.errors.AudioError` for empty, NaN/inf,
    too-short or silent input, or a non-positive rate.
    """
    if sr is None or sr <= 0:
        raise AudioError(f"invalid sample rate: {sr}")
    if source_sr is not None and source_sr <= 0:
        raise AudioError(f"invalid source sample rate: {source_sr}")
    y = check_signal(y, sr=sr)
    y = remove_dc(y)  # a DC offset is neither speech nor bandwidth
    hum = find_hum(y, sr=sr) if isinstance(found, str) else found
    if hum is not None and hum_removed:  # the rest is measured on what the model hears (hum would read as noise)
        y = remove_hum(y, sr=sr, hum=hum)
    frames, window = _frames(y, sr)

    # SNR: speech level (louder half of the frames) vs noise floor (quiet frames).
    energy = _frame_energy(frames, window)
    median, noise = np.percentile(energy, [SPEECH_PERCENTILE, NOISE_PERCENTILE])
    speech = float(energy[energy >= median].mean())
    lo, hi = SNR_RANGE_DB
    noise = max(float(noise), speech * 10 ** (-hi / 10), 1e-30)
    snr = 10 * math.log10(max(speech - noise, noise * 10 ** (lo / 10)) / noise)
    snr = min(hi, max(lo, snr))

    # Bandwidth: long-term spectrum of the active frames.
    loud = float(np.percentile(energy, LOUD_PERCENTILE))
    active = (energy >= loud * 10 ** (-ACTIVE_RANGE_DB / 10)) & (energy > noise)
    if not active.any():
        active = energy >= loud
    spectrum = _mean_spectrum(frames, window, np.flatnonzero(active))
    freqs = np.fft.rfftfreq(window.size, 1.0 / sr)
    width = max(1, round(SMOOTH_HZ / (freqs[1] - freqs[0])))
    spectrum = np.convolve(spectrum, np.ones(width) / width, mode="same")
    level = 10 * np.log10(spectrum + 1e-30)
    peak = float(level[freqs >= PEAK_MIN_HZ].max())
    above = np.flatnonzero(level >= peak - BANDWIDTH_DROP_DB)
    bandwidth = float(freqs[above[-1]])

    clipping = _clipping_ratio(y)

    warnings: list[str] = []
    reliability = 1.0
    effective = bandwidth if source_sr is None else min(bandwidth, source_sr / 2)
    if source_sr is not None and source_sr <= NARROWBAND_SOURCE_SR:
        warnings.append(
            f"narrowband input ({source_sr / 1000:g} kHz source, ≤ {source_sr / 2000:.1f} kHz bandwidth, "
            f"telephone-like): emotion cues above {effective / 1000:.1f} kHz are missing"
        )
    elif bandwidth < NARROWBAND_HZ:
        warnings.append(
            f"narrowband input (≈{bandwidth / 1000:.1f} kHz bandwidth, telephone-like): "
            f"emotion cues above {bandwidth / 1000:.1f} kHz are missing"
        )
    if warnings:
        severity = _ramp(effective, NARROWBAND_HZ, NARROWBAND_FULL_HZ)
        if source_sr is not None and source_sr <= NARROWBAND_SOURCE_SR:
            severity = 1.0
        reliability *= 1 - (1 - narrowband_reliability) * severity
    if clipping > CLIP_RATIO:
        warnings.append(f"clipped: {100 * clipping:.2g} % of samples at full scale (flat tops)")
        severity = _ramp(math.log10(clipping), math.log10(CLIP_RATIO), math.log10(CLIP_RATIO_FULL))
        reliability *= 1 - (1 - CLIP_RELIABILITY) * severity
    if snr < NOISY_SNR_DB:
        warnings.append(f"very noisy: SNR ≈ {round(snr)} dB (below {NOISY_SNR_DB:.0f} dB, noise masks the cues)")
        severity = _ramp(snr, NOISY_SNR_DB, NOISY_SNR_FULL_DB)
        reliability *= 1 - (1 - NOISY_RELIABILITY) * severity
    if hum is not None:
        found = f"mains hum ({hum.base_hz:.0f} Hz and its multiples, {round(hum.strength_db)} dB above the sound around it)"
        if hum_removed:
            warnings.append(f"{found}: filtered out before the model listens; check the cable or the interface")
        else:
            warnings.append(f"{found}: this model was trained before hum removal and hears it")
            reliability *= HUM_RELIABILITY
    return Quality(
        bandwidth_hz=bandwidth,
        source_sr=None if source_sr is None else int(source_sr),
        clipping_ratio=clipping,
        snr_db=float(snr),
        warnings=tuple(warnings),
        reliability=max(MIN_RELIABILITY, reliability),
        hum_hz=None if hum is None else hum.base_hz,
    )


def temper(probabilities: np.ndarray, reliability: float) -> np.ndarray:
    """Soften class probabilities ``[shape=(k,) or (n, k)]`` toward uniform as reliability drops.

    ``p' = r * p + (1 - r) / k`` along the last axis, with ``r = reliability`` in ``[0, 1]``: rows that
    sum to 1 still do, the ranking is kept, ``r = 1`` returns the input unchanged and ``r = 0`` gives
    the uniform distribution. Same shape out, float.
    """
    p = np.asarray(probabilities)
    if p.ndim not in (1, 2) or p.shape[-1] == 0:
        raise ValueError(f"expected probabilities of shape (k,) or (n, k), got {p.shape}")
    r = float(reliability)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"reliability must be in [0, 1], got {reliability}")
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)
    if r == 1.0:
        return p.copy()
    return (r * p + (1.0 - r) / p.shape[-1]).astype(p.dtype, copy=False)
