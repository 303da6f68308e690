"""Channel conditions: what a browser/laptop microphone, a room and a phone line do to speech.

Every function takes and returns mono ``np.ndarray [shape=(n,), dtype=float32]`` at ``sr`` Hz
(16 kHz by default), is deterministic for a given ``seed`` (or ``rng``), keeps the input's length
and never returns NaN. Output peaks stay at or below 1 (the conditions re-scale, limit or clip as the
thing they simulate would), except :func:`gain`, which by default keeps float headroom (see there).

Levels are in dB; "active speech power" is the mean power of the 20 ms frames within 40 dB of the
loudest frame, so a clip's pauses do not dilute the SNR.

* :data:`CONDITIONS` / :func:`apply` — the fixed, named conditions of the robustness benchmark.
* :func:`random_channel` — a random realistic chain for training-time augmentation.
* :func:`narrowband` — a random phone line or 8 kHz link (the narrowband member's training copies).
* :func:`microphone` — a random microphone/device frequency response (high-pass, shelves, a resonance).

Filters of :func:`microphone` and the ``mic_*`` conditions are audiomentations' biquads with fixed
parameters (drawn here, seeded). Codecs use PyAV's bundled FFmpeg: Opus (``libopus``, in Ogg, 48 kHz) and MP3
(``libmp3lame``).
:func:`available_codecs` says which of them this FFmpeg can encode.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal

from .audio import SAMPLE_RATE, resample
from .errors import AudioError

NoiseColor = Literal["white", "pink", "brown"]
Makeup = Literal["auto", "target"] | float | None

#: Peak the conditions re-scale to when a result would exceed full scale.
PEAK_CEILING = 0.99
#: Level (dBFS, active speech RMS) that ``compressor(makeup="target")`` aims for.
TARGET_DBFS = -20.0
_FRAME_S = 0.02  # frame length (s) of the active-speech measure
_ACTIVE_DB = -40.0  # frames above this (dB re the loudest frame) count as active speech
_OPUS_RATE = 48_000
_MP3_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)

# -- helpers -----------------------------------------------------------------------------------------


def _mono(y: np.ndarray) -> np.ndarray:
    """``y`` as contiguous float32 ``[shape=(n,)]``; raises :class:`AudioError` on bad input."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AudioError(f"expected a mono signal of shape (n,), got shape {y.shape}")
    if not np.isfinite(y).all():
        raise AudioError("the signal contains NaN or infinite samples")
    return y


def active_power(y: np.ndarray, *, sr: int = SAMPLE_RATE) -> float:
    """Mean power (linear, full scale = 1) of the active frames of ``y [shape=(n,)]``: the 20 ms frames
    whose power is within 40 dB of the loudest frame. 0.0 for digital silence."""
    y = np.asarray(y, dtype=np.float64)
    frame = max(1, int(round(_FRAME_S * sr)))
    n_frames = y.size // frame
    if n_frames < 2:
        return float(np.mean(y**2)) if y.size else 0.0
    p = np.mean(y[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1)
    top = float(p.max())
    if top <= 0.0:
        return 0.0
    return float(p[p >= top * 10.0 ** (_ACTIVE_DB / 10.0)].mean())


def _fit_peak(y: np.ndarray, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """Scale ``y`` down to peak ``ceiling`` if its peak exceeds 1 (float32 out)."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y * (ceiling / peak)
    return np.asarray(y, dtype=np.float32)


def _match_level(out: np.ndarray, ref: np.ndarray, sr: int) -> np.ndarray:
    """``out`` scaled so that its active speech power equals that of ``ref``."""
    p_out, p_ref = active_power(out, sr=sr), active_power(ref, sr=sr)
    if p_out > 0.0 and p_ref > 0.0:
        out = out * np.sqrt(p_ref / p_out)
    return out


def _fix_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``y`` to ``n`` samples."""
    if y.size >= n:
        return y[:n]
    return np.pad(y, (0, n - y.size))


def _filtfilt(sos: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Zero-phase ``sosfiltfilt`` (no delay, so alignment is kept), safe for very short signals."""
    padlen = min(3 * (2 * len(sos) + 1), max(0, y.size - 1))
    return scipy.signal.sosfiltfilt(sos, y, padlen=padlen)


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


# -- conditions --------------------------------------------------------------------------------------


def gain(y: np.ndarray, *, db: float, clip: bool = False) -> np.ndarray:
    """``y [shape=(n,)]`` times ``db`` decibels, ``[shape=(n,)]`` float32.

    By default the result is *not* clipped: this package works in float, so +20 dB on a loud clip
    may give a peak above 1 (the only condition that can). ``clip=True`` clips to [-1, 1], as an
    ADC driven too hard would.
    """
    y = _mono(y)
    out = y * np.float32(10.0 ** (db / 20.0))
    if clip:
        out = np.clip(out, -1.0, 1.0)
    return out.astype(np.float32, copy=False)


def clipping(y: np.ndarray, *, percent: float) -> np.ndarray:
    """``y [shape=(n,)]`` hard-clipped so that about ``percent`` % of its samples sit at the clipping level, as an input
    gain set too high for a loud voice delivers it (audiomentations ``ClippingDistortion`` with that percentile),
    ``[shape=(n,)]`` float32 at the level it had (the clipped peak scaled back up to the original peak)."""
    import audiomentations as am

    x = _mono(y)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak <= 0.0 or percent <= 0.0:
        return x.copy()
    p = int(round(min(float(percent), 99.0)))
    out = am.ClippingDistortion(min_percentile_threshold=p, max_percentile_threshold=p, p=1.0)(samples=x, sample_rate=SAMPLE_RATE)
    top = float(np.abs(out).max())
    return (out * (peak / top) if top > 0 else out).astype(np.float32)


def _limit(y: np.ndarray, sr: int, ceiling: float = PEAK_CEILING) -> np.ndarray:
    """A fast peak limiter: per-millisecond gain that keeps ``|y| <= ceiling`` (smoothed over a few
    ms, never more than needed), then a hard clip for the last stray sample."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= ceiling:
        return y
    hop = max(1, sr // 1000)
    k = -(-y.size // hop)
    blocks = np.pad(np.abs(y), (0, k * hop - y.size)).reshape(k, hop).max(axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(blocks, 1e-12))
    need = scipy.ndimage.minimum_filter1d(need, size=5, mode="nearest")
    need = scipy.ndimage.uniform_filter1d(need, size=5, mode="nearest")
    g = np.interp(np.arange(y.size), np.arange(k) * hop + (hop - 1) / 2.0, need)
    return np.clip(y * g, -ceiling, ceiling)


def compressor(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    threshold_db: float = -30.0,
    ratio: float = 6.0,
    attack_ms: float = 5.0,
    release_ms: float = 150.0,
    makeup: Makeup = "auto",
    knee_db: float = 6.0,
) -> np.ndarray:
    """A feed-forward compressor with an attack/release envelope, like a laptop's AGC.

    ``y [shape=(n,)]`` → ``[shape=(n,)]`` float32. The level (RMS, 10 ms detector, dBFS) is computed
    per millisecond; above ``threshold_db`` it is reduced by ``ratio`` (soft knee of ``knee_db``);
    the gain reduction follows ``attack_ms``/``release_ms``. ``makeup``: ``"auto"`` brings the active
    speech RMS back to the input's (loud parts squashed, quiet parts relatively boosted), ``"target"``
    brings it to :data:`TARGET_DBFS` (-20 dBFS, as an AGC would, at most +40 dB), a number is a fixed
    gain in dB, ``None`` means none. A fast limiter keeps the peak at or below 0.99.
    Vectorised except for a loop over 1 ms blocks: 60 s of audio take a few tens of ms.
    """
    y = _mono(y)
    if y.size == 0:
        return y.copy()
    if ratio < 1.0:
        raise ValueError(f"ratio must be >= 1, got {ratio}")
    hop = max(1, sr // 1000)
    k = -(-y.size // hop)
    x = np.pad(y.astype(np.float64), (0, k * hop - y.size))
    power = np.mean(x.reshape(k, hop) ** 2, axis=1)
    a_det = np.exp(-1.0 / 10.0)  # 10 ms RMS detector
    power, _ = scipy.signal.lfilter([1.0 - a_det], [1.0, -a_det], power, zi=[a_det * power[0]])
    level = 10.0 * np.log10(np.maximum(power, 1e-12)) + 3.0103  # RMS → sine-peak-equivalent dBFS
    over = level - threshold_db
    slope = 1.0 / ratio - 1.0
    half = knee_db / 2.0
    target = np.where(over > half, slope * over, 0.0)
    if knee_db > 0:
        in_knee = np.abs(over) <= half
        target = np.where(in_knee, slope * (over + half) ** 2 / (2.0 * knee_db), target)
    a_att = float(np.exp(-hop / (max(attack_ms, 1e-3) * 1e-3 * sr)))
    a_rel = float(np.exp(-hop / (max(release_ms, 1e-3) * 1e-3 * sr)))
    smooth = np.empty(k)
    s = 0.0
    for i, g in enumerate(target.tolist()):
        s = a_att * s + (1.0 - a_att) * g if g < s else a_rel * s + (1.0 - a_rel) * g
        smooth[i] = s
    centres = np.arange(k) * hop + (hop - 1) / 2.0
    g_lin = np.interp(np.arange(y.size), centres, 10.0 ** (smooth / 20.0))
    out = y * g_lin
    p_out = active_power(out, sr=sr)
    if makeup == "auto":
        p_in = active_power(y, sr=sr)
        if p_out > 0.0 and p_in > 0.0:
            out = out * np.sqrt(p_in / p_out)
    elif makeup == "target":
        if p_out > 0.0:
            out = out * min(10.0 ** (TARGET_DBFS / 20.0) / np.sqrt(p_out), 100.0)
    elif makeup is not None:
        out = out * 10.0 ** (float(makeup) / 20.0)
    return _limit(out, sr).astype(np.float32)


def room_impulse_response(
    *, sr: int = SAMPLE_RATE, rt60: float = 0.4, seed: int | np.random.Generator = 0, drr_db: float | None = None
) -> np.ndarray:
    """A generated room impulse response ``[shape=(m,)]`` float32, direct path at sample 0 (= 1.0).

    Early reflections (6-10 signed taps between 2 and 40 ms) and a diffuse tail of exponentially
    decaying noise (60 dB in ``rt60`` s below 2 kHz, faster above, as walls and air absorb highs).
    ``drr_db`` is the direct-to-reverberant energy ratio; ``None`` derives it from the critical
    distance of a 50 m³ room with the talker 0.6 m from the microphone (about +5 dB at rt60 0.15 s,
    +0.5 dB at 0.4 s, -2.5 dB at 0.8 s).
    """
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}")
    rng = _rng(seed)
    if drr_db is None:
        critical = 0.057 * np.sqrt(50.0 / rt60)
        drr_db = 20.0 * np.log10(critical / 0.6)
    m = int(rt60 * sr) + int(0.01 * sr)
    t = np.arange(m) / sr
    t0 = rng.uniform(0.002, 0.006)  # first reflection
    lo = scipy.signal.butter(2, 2000.0, btype="low", fs=sr, output="sos")
    hi = scipy.signal.butter(2, 2000.0, btype="high", fs=sr, output="sos")
    noise = rng.standard_normal(m)
    decay = -3.0 * np.log(10.0) * t  # ln(amplitude) per second of rt60
    tail = scipy.signal.sosfilt(lo, noise) * np.exp(decay / rt60)
    tail += scipy.signal.sosfilt(hi, noise) * np.exp(decay / (0.6 * rt60))
    onset = np.clip((t - t0) / 0.005, 0.0, None)
    tail *= np.where(t >= t0, 1.0 - np.exp(-onset), 0.0)
    n_early = int(rng.integers(6, 11))
    idx = (rng.uniform(t0, 0.04, n_early) * sr).astype(int)
    idx = idx[idx < m]
    amp = rng.uniform(0.2, 0.6, idx.size) * rng.choice([-1.0, 1.0], idx.size) * np.exp(decay[idx] / rt60)
    early = np.zeros(m)
    np.add.at(early, idx, amp)
    reverb = early + tail * (np.sqrt(np.sum(amp**2) + 1e-3) / np.sqrt(np.sum(tail**2) + 1e-12))
    reverb *= np.sqrt(10.0 ** (-drr_db / 10.0) / max(np.sum(reverb**2), 1e-12))
    reverb[0] = 1.0
    return reverb.astype(np.float32)


def room(
    y: np.ndarray, *, sr: int = SAMPLE_RATE, rt60: float = 0.4, seed: int = 0, drr_db: float | None = None
) -> np.ndarray:
    """Reverberate ``y [shape=(n,)]`` with a generated impulse response (:func:`room_impulse_response`).

    FFT convolution, trimmed to the input's length (the tail past the end is cut; the direct path is
    at lag 0, so nothing shifts) and scaled to the input's active speech level. ``[shape=(n,)]`` float32.
    """
    y = _mono(y)
    if y.size == 0:
        return y.copy()
    ir = room_impulse_response(sr=sr, rt60=rt60, seed=seed, drr_db=drr_db)
    out = scipy.signal.fftconvolve(y.astype(np.float64), ir.astype(np.float64))[: y.size]
    return _fit_peak(_match_level(out, y, sr))


def colored_noise(n: int, *, color: NoiseColor = "white", sr: int = SAMPLE_RATE,
                  rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise ``[shape=(n,)]`` float64 with a 1/f^0 (white), 1/f (pink) or 1/f² (brown) power
    spectrum (spectral shaping of white noise; flat below 20 Hz, no DC)."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(color)
    if alpha is None:
        raise ValueError(f"unknown noise color {color!r}; known: white, pink, brown")
    if n == 0:
        return np.zeros(0)
    noise = rng.standard_normal(n)
    if alpha > 0.0 and n > 2:
        m = scipy.fft.next_fast_len(n, real=True)
        spec = scipy.fft.rfft(noise, m)
        f = np.fft.rfftfreq(m, 1.0 / sr)
        spec *= np.maximum(f, 20.0) ** (-alpha / 2.0)
        spec[0] = 0.0
        noise = scipy.fft.irfft(spec, m)[:n]
    power = float(np.mean(noise**2))
    return noise / np.sqrt(power) if power > 0 else noise


def _mix(y: np.ndarray, noise: np.ndarray, snr_db: float, sr: int) -> np.ndarray:
    """``y`` + ``noise`` scaled to ``snr_db`` against ``y``'s active speech power (noise: whole-clip
    mean power); the mix is re-scaled (not clipped) if it would exceed full scale, which keeps the SNR."""
    p_speech = active_power(y, sr=sr)
    if p_speech <= 0.0:
        p_speech = 1e-10  # digital silence: noise at -100 dBFS - snr
    p_noise = float(np.mean(noise**2))
    if p_noise > 0.0:
        noise = noise * np.sqrt(p_speech / p_noise * 10.0 ** (-snr_db / 10.0))
    return _fit_peak(y + noise)


def dc_offset(y: np.ndarray, *, db: float = 0.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``y [shape=(n,)]`` plus a constant offset (a converter's or a cheap microphone's DC) whose power is ``db`` dB
    re ``y``'s active speech power; the sum is re-scaled (not clipped) if it would exceed full scale."""
    p = active_power(y, sr=sr)
    return _fit_peak(np.asarray(y, dtype=np.float64) + np.sqrt(p * 10.0 ** (db / 10.0)))


def hum(y: np.ndarray, *, hz: float = 50.0, snr_db: float = 10.0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``y [shape=(n,)]`` plus mains hum: ``hz`` and its 2nd-5th harmonics (each 6 dB below the one before), ``snr_db``
    dB below the active speech power (a ground loop, an unshielded cable)."""
    t = np.arange(np.asarray(y).size) / sr
    tone = sum(0.5 ** (k - 1) * np.sin(2.0 * np.pi * k * hz * t + k) for k in range(1, 6))
    return _mix(np.asarray(y, dtype=np.float64), tone, snr_db, sr)


def add_noise(
    y: np.ndarray, *, snr_db: float, color: NoiseColor = "white", seed: int = 0, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """``y [shape=(n,)]`` plus stationary white, pink or brown noise at ``snr_db`` dB below the active
    speech power (not the whole clip's, so pauses do not count). ``[shape=(n,)]`` float32."""
    y = _mono(y)
    if y.size == 0:
        return y.copy()
    return _mix(y, colored_noise(y.size, color=color, sr=sr, rng=_rng(seed)), snr_db, sr)


def babble_noise(n: int, *, others: Sequence[np.ndarray], rng: np.random.Generator, n_talkers: int = 6,
                 sr: int = SAMPLE_RATE) -> np.ndarray:
    """Babble ``[shape=(n,)]`` float64: ``n_talkers`` clips drawn from ``others`` (with replacement if
    there are fewer), each normalised to unit active power, rotated by a random offset and looped to
    ``n`` samples, summed."""
    pool = [np.asarray(o, dtype=np.float64).reshape(-1) for o in others]
    pool = [o for o in pool if o.size > 0 and np.isfinite(o).all() and active_power(o, sr=sr) > 0]
    if not pool:
        raise ValueError("babble needs other speakers' clips: `others` is empty or silent")
    picks = rng.choice(len(pool), size=n_talkers, replace=len(pool) < n_talkers)
    out = np.zeros(n)
    for i in picks:
        x = pool[int(i)]
        x = np.roll(x / np.sqrt(active_power(x, sr=sr)), -int(rng.integers(x.size)))
        out += np.resize(x, n)
    return out


def babble_pool(speakers: Sequence[str] | np.ndarray, speaker: str, *, seed: int = 0,
                per_speaker: int = 8) -> np.ndarray:
    """Indices of the clips to mix ``speaker``'s babble from: up to ``per_speaker`` clips (seeded) of *each* other
    speaker in ``speakers [shape=(n,)]``, never ``speaker``'s own, so a 6-talker babble holds several voices rather
    than one voice six times. ``[shape=(k,)]`` int, ascending within each speaker."""
    speakers = np.asarray(speakers)
    rng = np.random.default_rng(seed)
    picks = [np.sort(rng.choice(idx, size=min(per_speaker, idx.size), replace=False))
             for idx in (np.flatnonzero(speakers == other) for other in sorted(set(speakers.tolist()) - {speaker}))]
    return np.concatenate(picks).astype(int) if picks else np.zeros(0, dtype=int)


def add_babble(
    y: np.ndarray,
    *,
    snr_db: float,
    others: Sequence[np.ndarray],
    seed: int = 0,
    n_talkers: int = 6,
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """``y [shape=(n,)]`` plus babble of ``n_talkers`` other speakers (``others``: float32 clips at the
    same ``sr``, ideally of *other* speakers than ``y``'s) at ``snr_db`` against the active speech
    power. ``[shape=(n,)]`` float32. Raises ``ValueError`` if ``others`` holds no usable clip."""
    y = _mono(y)
    if y.size == 0:
        return y.copy()
    noise = babble_noise(y.size, others=others, rng=_rng(seed), n_talkers=n_talkers, sr=sr)
    return _mix(y, noise, snr_db, sr)


def _mulaw(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """8-bit μ-law quantisation (compress, round to 256 levels, expand) of ``x`` clipped to [-1, 1]."""
    x = np.clip(x, -1.0, 1.0)
    c = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round(c * 127.5 - 0.5) + 0.5  # mid-rise, 256 levels
    c = np.clip(q, -127.5, 127.5) / 127.5
    return np.sign(c) * np.expm1(np.abs(c) * np.log1p(mu)) / mu


def telephone(y: np.ndarray, *, sr: int = SAMPLE_RATE, mulaw: bool = True, low_hz: float = 300.0,
              high_hz: float = 3400.0) -> np.ndarray:
    """A narrow-band phone line: ``y [shape=(n,)]`` resampled to 8 kHz (:func:`ser.audio.resample`), 8-bit μ-law (G.711-like,
    if ``mulaw``; the line clips at full scale), band-pass ``low_hz``-``high_hz`` (default 300-3400 Hz; Butterworth,
    order 6, zero phase), back to ``sr``. ``[shape=(n,)]`` float32."""
    y = _mono(y)
    if y.size == 0:
        return y.copy()
    x = resample(y, sr_in=sr, sr_out=8000).astype(np.float64)
    if mulaw:
        x = _mulaw(x)
    if not 0.0 < low_hz < high_hz < 4000.0:
        raise ValueError(f"telephone band must satisfy 0 < low_hz < high_hz < 4000 Hz, got {low_hz}-{high_hz}")
    sos = scipy.signal.butter(6, [low_hz, high_hz], btype="band", fs=8000, output="sos")
    x = _filtfilt(sos, x)
    if sr != 8000:
        x = resample(x, sr_in=8000, sr_out=sr)
    return _fit_peak(_fix_length(np.asarray(x, dtype=np.float32), y.size))


def bandlimit(
    y: np.ndarray, *, sr: int = SAMPLE_RATE, low_hz: float | None = None, high_hz: float | None = 4000.0
) -> np.ndarray:
    """Band-limit ``y [shape=(n,)]`` to ``low_hz``-``high_hz`` (Butterworth order 8, zero phase; either
    edge ``None`` — or ``high_hz`` at or above Nyquist — leaves that side open). ``[shape=(n,)]`` float32."""
    y = _mono(y)
    low = low_hz if low_hz is not None and low_hz > 0 else None
    high = high_hz if high_hz is not None and high_hz < sr / 2 else None
    if y.size == 0 or (low is None and high is None):
        return y.copy()
    if low is not None and high is not None:
        if low >= high:
            raise ValueError(f"low_hz ({low_hz}) must be below high_hz ({high_hz})")
        sos = scipy.signal.butter(8, [low, high], btype="band", fs=sr, output="sos")
    elif high is not None:
        sos = scipy.signal.butter(8, high, btype="low", fs=sr, output="sos")
    else:
        sos = scipy.signal.butter(8, low, btype="high", fs=sr, output="sos")
    return _fit_peak(_filtfilt(sos, y.astype(np.float64)))



#: Upper band edges (Hz) of the narrower lines of :func:`narrowband` with ``bands`` (drawn uniformly).
NARROW_HIGH_HZ = (2400.0, 3400.0)
#: ... and their lower edges (Hz).
NARROW_LOW_HZ = (150.0, 500.0)


def narrowband(y: np.ndarray, *, sr: int = SAMPLE_RATE, rng: np.random.Generator,
               bands: bool = False) -> tuple[np.ndarray, str]:
    """A random narrowband line for training the narrowband member: ``(y' [shape=(n,)] float32, description)``.

    A phone line (:func:`telephone`, 300-3400 Hz at 8 kHz) with 8-bit μ-law (p=0.4) or without (p=0.3), or plain
    8 kHz audio (resampled to 8 kHz and back: everything above 4 kHz gone, nothing else, p=0.3). Descriptions
    ``"tel"``, ``"tel-linear"``, ``"8k"``. With ``bands``, half of the lines (a draw of their own, so the kind of
    line is that of ``bands=False``) are narrower: upper edge in :data:`NARROW_HIGH_HZ`, lower edge in
    :data:`NARROW_LOW_HZ` (a cheap headset, an old line, a muffled device), description e.g. ``"tel-b180-2900"``."""
    out = _mono(y)
    if out.size == 0:
        return out.copy(), "8k"
    u = float(rng.random())
    low, high, suffix = 300.0, 3400.0, ""
    if bands:
        side = _side_rng(rng)
        if side.random() < 0.5:
            low, high = float(side.uniform(*NARROW_LOW_HZ)), float(side.uniform(*NARROW_HIGH_HZ))
            suffix = f"-b{low:.0f}-{high:.0f}"
    if u < 0.7:
        line = telephone(out, sr=sr, mulaw=u < 0.4, low_hz=low, high_hz=high)
        return line, ("tel" if u < 0.4 else "tel-linear") + suffix
    if sr <= 8000:
        z = out.copy()
    else:
        z = resample(resample(out, sr_in=sr, sr_out=8000), sr_in=8000, sr_out=sr)
        z = _fix_length(np.asarray(z, dtype=np.float32), out.size)
    if suffix:
        z = bandlimit(z, sr=sr, low_hz=low, high_hz=high)
    return _fit_peak(np.asarray(z, dtype=np.float32)), "8k" + suffix


# -- microphones -------------------------------------------------------------------------------------


def _biquad(kind: str, y: np.ndarray, sr: int, **kw: float) -> np.ndarray:
    """One audiomentations filter with fixed parameters (``min_* == max_*``), so the result is ours to seed."""
    import audiomentations as am

    if kind == "highpass":
        f = am.HighPassFilter(min_cutoff_freq=kw["hz"], max_cutoff_freq=kw["hz"], min_rolloff=int(kw["rolloff"]),
                              max_rolloff=int(kw["rolloff"]), zero_phase=False, p=1.0)
    else:
        cls = {"lowshelf": am.LowShelfFilter, "highshelf": am.HighShelfFilter, "peak": am.PeakingFilter}[kind]
        f = cls(min_center_freq=kw["hz"], max_center_freq=kw["hz"], min_gain_db=kw["db"], max_gain_db=kw["db"],
                min_q=kw["q"], max_q=kw["q"], p=1.0)
    return np.asarray(f(samples=np.ascontiguousarray(y, dtype=np.float32), sample_rate=sr), dtype=np.float32)


def microphone(y: np.ndarray, *, sr: int = SAMPLE_RATE, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A random microphone or device frequency response: ``(y' [shape=(n,)] float32, description)``.

    Small laptop, phone and headset microphones (and the device's own processing) colour speech: they cut
    the lows, tilt the spectrum and ring at a resonance. Each stage with its own probability: high-pass
    (cutoff log-uniform 50-400 Hz, 12 or 24 dB/octave, p=0.6), low shelf (150-600 Hz, -12…+3 dB, p=0.5), high
    shelf (1.5-6 kHz, -12…+8 dB, p=0.5), a resonance (peak log-uniform 0.8-6 kHz, -9…+9 dB, Q 0.7-3, p=0.4).
    The output is level-matched to the input (active speech power). Description e.g. ``"mic(hp180/ls-6/pk2.4+5)"``
    (``"mic()"`` if no stage fired)."""
    if _mono(y).size == 0:
        return _mono(y).copy(), "mic()"
    stages: list[tuple[str, dict[str, float]]] = []  # drawn first, in the same order as the filters run
    parts: list[str] = []
    if rng.random() < 0.6:
        hz, rolloff = float(np.exp(rng.uniform(np.log(50.0), np.log(400.0)))), int(rng.choice([12, 24]))
        stages.append(("highpass", {"hz": hz, "rolloff": rolloff}))
        parts.append(f"hp{hz:.0f}")
    if rng.random() < 0.5:
        hz, db = float(rng.uniform(150.0, 600.0)), float(rng.uniform(-12.0, 3.0))
        stages.append(("lowshelf", {"hz": hz, "db": db, "q": 0.707}))
        parts.append(f"ls{db:+.0f}")
    if rng.random() < 0.5:
        hz, db = float(rng.uniform(1500.0, min(6000.0, 0.4 * sr))), float(rng.uniform(-12.0, 8.0))
        stages.append(("highshelf", {"hz": hz, "db": db, "q": 0.707}))
        parts.append(f"hs{db:+.0f}")
    if rng.random() < 0.4:
        hz = float(np.exp(rng.uniform(np.log(800.0), np.log(min(6000.0, 0.4 * sr)))))
        db, q = float(rng.uniform(-9.0, 9.0)), float(rng.uniform(0.7, 3.0))
        stages.append(("peak", {"hz": hz, "db": db, "q": q}))
        parts.append(f"pk{hz / 1000:.1f}{db:+.0f}")
    return _filtered(y, stages, sr), f"mic({'/'.join(parts)})"


def _filtered(y: np.ndarray, stages: Sequence[tuple[str, dict[str, float]]], sr: int) -> np.ndarray:
    """``y`` (mono) through :func:`_biquad` ``stages`` in order, level-matched to the input (active speech power);
    a copy of it when there is no stage or no sample."""
    out = _mono(y)
    if out.size == 0 or not stages:
        return out.copy()
    z = out
    for kind, kw in stages:
        z = _biquad(kind, z, sr, **kw)
    return _fit_peak(_match_level(z.astype(np.float64), out, sr))


# -- codecs ------------------------------------------------------------------------------------------

_ENCODERS = {"opus": ("libopus",), "mp3": ("libmp3lame", "mp3")}


@functools.cache
def _encoder(name: str) -> str | None:
    import av

    for enc in _ENCODERS.get(name, ()):
        try:
            av.Codec(enc, "w")
        except Exception:  # av raises UnknownCodecError / ValueError depending on the version
            continue
        return enc
    return None


def available_codecs() -> tuple[str, ...]:
    """The codecs :func:`codec` can use with this PyAV build, of ``("opus", "mp3")``."""
    return tuple(name for name in _ENCODERS if _encoder(name) is not None)


def _align(z: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """``z`` shifted by the lag (within ±``max_lag`` samples) that best correlates it with ``y``, then
    trimmed/padded to ``len(y)``. Lag 0 is kept unless another is clearly (10 %) better, so a
    periodic signal is not shifted by a pitch period."""
    n = y.size
    zz = _fix_length(z, n + max_lag)
    if n < 16 or not np.any(y) or not np.any(zz):
        return _fix_length(z, n)
    xc = scipy.signal.correlate(zz.astype(np.float64), y.astype(np.float64), mode="full", method="fft")
    zero = n - 1  # index of lag 0 in the full correlation
    lo, hi = max(0, zero - max_lag), min(xc.size, zero + max_lag + 1)
    best = lo + int(np.argmax(xc[lo:hi]))
    lag = best - zero if xc[best] > 1.1 * max(xc[zero], 0.0) else 0
    if lag > 0:
        return _fix_length(z[lag:], n)
    return _fix_length(np.concatenate([np.zeros(-lag, dtype=z.dtype), z]), n)


def codec(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    codec: Literal["opus", "mp3"] = "opus",
    bitrate_kbps: float = 12,
    complexity: int | None = None,
) -> np.ndarray:
    """A real encode → decode round trip of ``y [shape=(n,)]`` through PyAV (FFmpeg), in memory.

    ``"opus"``: libopus (VoIP mode, VBR) in Ogg at 48 kHz, as browsers send microphone audio.
    ``"mp3"``: libmp3lame (CBR) in an MP3 file at ``sr`` when MP3 allows it (8-48 kHz), else 16 kHz.
    The decoded audio is resampled to ``sr`` and aligned to the input (the containers already drop
    the encoder's priming samples; a cross-correlation within ±50 ms catches any remaining offset),
    so the result is ``[shape=(n,)]`` float32 like the input; input above full scale is clipped, as a
    real capture would be. ``complexity`` (encoder effort: Opus 0-10, LAME quality 0-9) trades speed
    for quality; ``None`` keeps FFmpeg's default. Raises :class:`AudioError` if this FFmpeg build
    cannot encode the codec (see :func:`available_codecs`) or the round trip fails.
    """
    import av

    y = _mono(y)
    if codec not in _ENCODERS:
        raise ValueError(f"unknown codec {codec!r}; known: {', '.join(_ENCODERS)}")
    enc = _encoder(codec)
    if enc is None:
        raise AudioError(f"this PyAV/FFmpeg build cannot encode {codec} (available: {available_codecs()})")
    if y.size == 0:
        return y.copy()
    if codec == "opus":
        rate, fmt, options = _OPUS_RATE, "ogg", {"application": "voip"}
    else:
        rate, fmt, options = (sr if sr in _MP3_RATES else 16_000), "mp3", {}
    if complexity is not None:
        options["compression_level"] = str(int(complexity))
    x = np.clip(y, -1.0, 1.0)
    if rate != sr:
        x = resample(x, sr_in=sr, sr_out=rate)
    x = np.ascontiguousarray(x, dtype=np.float32)
    try:
        buf = io.BytesIO()
        with av.open(buf, mode="w", format=fmt) as container:
            stream = container.add_stream(enc, rate=rate, options=options)
            stream.bit_rate = int(bitrate_kbps * 1000)
            stream.layout = "mono"
            frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        blocks, rate_out = [], rate
        with av.open(io.BytesIO(buf.getvalue()), mode="r") as container:
            for fr in container.decode(audio=0):
                a, ch = fr.to_ndarray(), len(fr.layout.channels)
                if ch > 1:  # mono in, so mono out; average just in case
                    a = (a.reshape(ch, -1) if fr.format.is_planar else a.reshape(-1, ch).T).mean(axis=0)
                blocks.append(a.reshape(-1))
                rate_out = fr.sample_rate
    except Exception as exc:  # FFmpeg errors come in many types
        raise AudioError(f"{codec} round trip failed: {getattr(exc, 'strerror', None) or exc}") from None
    z = np.concatenate(blocks).astype(np.float32) if blocks else np.zeros(0, np.float32)
    if rate_out != sr and z.size:
        z = resample(z, sr_in=rate_out, sr_out=sr)
    return _fit_peak(_align(np.asarray(z, dtype=np.float32), y, max_lag=int(0.05 * sr)))


# -- combinations ------------------------------------------------------------------------------------


def laptop(
    y: np.ndarray, *, sr: int = SAMPLE_RATE, seed: int = 0, others: Sequence[np.ndarray] | None = None,
    room_seed: int | None = None,
) -> np.ndarray:
    """A browser on a laptop: room (rt60 drawn from 0.3-0.5 s) → pink noise at 20 dB SNR (babble of
    ``others`` if given) → AGC (:func:`compressor` to -20 dBFS) → Opus 12 kb/s.
    ``y [shape=(n,)]`` → ``[shape=(n,)]`` float32. ``room_seed`` draws the room apart from the noise: one value
    for all clips of a session is one laptop in one room (each clip still gets its own noise from ``seed``);
    ``None`` draws both from ``seed``."""
    rng = np.random.default_rng(seed)
    rt60 = float(rng.uniform(0.3, 0.5))
    s_room, s_noise = (int(s) for s in rng.integers(0, 2**31, size=2))
    if room_seed is not None:
        room_rng = np.random.default_rng(room_seed)
        rt60, s_room = float(room_rng.uniform(0.3, 0.5)), int(room_rng.integers(0, 2**31))
    out = room(y, sr=sr, rt60=rt60, seed=s_room)
    if others is not None and len(others) > 0:
        out = add_babble(out, snr_db=20.0, others=others, seed=s_noise, sr=sr)
    else:
        out = add_noise(out, snr_db=20.0, color="pink", seed=s_noise, sr=sr)
    out = compressor(out, sr=sr, makeup="target")
    return codec(out, sr=sr, codec="opus", bitrate_kbps=12)


Condition = Callable[..., np.ndarray]


def _gain_cond(db: float) -> Condition:
    def f(y, *, sr=SAMPLE_RATE, seed=0, others=None):
        return gain(y, db=db)

    return f


def _noise_cond(color: NoiseColor, snr: float) -> Condition:
    def f(y, *, sr=SAMPLE_RATE, seed=0, others=None):
        return add_noise(y, snr_db=snr, color=color, seed=seed, sr=sr)

    return f


def _babble_cond(snr: float, n_talkers: int = 6) -> Condition:
    def f(y, *, sr=SAMPLE_RATE, seed=0, others=None):
        if others is None or len(others) == 0:
            raise ValueError("babble conditions need `others`: clips of other speakers")
        return add_babble(y, snr_db=snr, others=others, seed=seed, n_talkers=n_talkers, sr=sr)

    return f


def _mic_cond(*stages: tuple[str, dict[str, float]]) -> Condition:
    def f(y, *, sr=SAMPLE_RATE, seed=0, others=None):
        return _filtered(y, stages, sr)

    return f


#: Centres (Hz) of the ``mic_eq`` condition's seven peaking bands (as a seven-band graphic equaliser).
MIC_EQ_BANDS = (100.0, 180.0, 330.0, 600.0, 1100.0, 2000.0, 3600.0)


def _mic_eq(y, *, sr=SAMPLE_RATE, seed=0, others=None):
    """Seven peaking bands (:data:`MIC_EQ_BANDS`, Q 1) with gains drawn U(-12, +12) dB per clip (``seed``)."""
    gains = np.random.default_rng(seed).uniform(-12.0, 12.0, len(MIC_EQ_BANDS))
    return _mic_cond(*(("peak", {"hz": hz, "db": float(g), "q": 1.0}) for hz, g in zip(MIC_EQ_BANDS, gains,
                                                                                   strict=True)))(y, sr=sr)


def _codec_cond(name: Literal["opus", "mp3"], kbps: int) -> Condition:
    def f(y, *, sr=SAMPLE_RATE, seed=0, others=None):
        return codec(y, sr=sr, codec=name, bitrate_kbps=kbps)

    return f


#: The benchmark's named conditions: ``f(y, *, sr, seed, others) -> y``, all ``[shape=(n,)]`` float32.
#: Only "gain+20" may give a peak above 1 (float headroom, not clipped). The babble conditions need
#: ``others`` (clips of other speakers); the codec ones need the codec (:func:`available_codecs`).
CONDITIONS: dict[str, Condition] = {
    "clean": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: _mono(y).copy(),
    "gain+20": _gain_cond(20.0),
    "gain-20": _gain_cond(-20.0),
    "agc": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: compressor(y, sr=sr),
    "room0.4": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: room(y, sr=sr, rt60=0.4, seed=seed),
    "white20": _noise_cond("white", 20.0),
    "white10": _noise_cond("white", 10.0),
    "pink20": _noise_cond("pink", 20.0),
    "pink10": _noise_cond("pink", 10.0),
    "babble20": _babble_cond(20.0),
    "babble10": _babble_cond(10.0),
    "talker20": _babble_cond(20.0, n_talkers=1),  # one competing voice (a television, a colleague) at 20 dB
    "telephone": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: telephone(y, sr=sr),
    "opus12": _codec_cond("opus", 12),
    "opus24": _codec_cond("opus", 24),
    "mp3_16": _codec_cond("mp3", 16),
    "mp3_32": _codec_cond("mp3", 32),
    "laptop": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: laptop(y, sr=sr, seed=seed, others=others),
    # microphone colouration (level-matched): a small mic's low cut, a tinny one, a muffled one, a random 7-band EQ
    "mic_highpass": _mic_cond(("highpass", {"hz": 300.0, "rolloff": 24})),
    "mic_tinny": _mic_cond(("lowshelf", {"hz": 400.0, "db": -12.0, "q": 0.707}),
                           ("highshelf", {"hz": 2500.0, "db": 8.0, "q": 0.707})),
    "mic_muffled": _mic_cond(("highshelf", {"hz": 2000.0, "db": -12.0, "q": 0.707})),
    "mic_eq": _mic_eq,
    # outside the training copies' ranges (session 27): a line narrower than a phone's, a large bare room
    "lowpass3k": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: bandlimit(y, sr=sr, low_hz=None, high_hz=3000.0),
    "room1.0": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: room(y, sr=sr, rt60=1.0, seed=seed),
    # a converter's DC offset as loud as the speech, and 50 Hz mains hum 10 dB below it (session 30)
    "dc": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: dc_offset(y, db=0.0, sr=sr),
    "hum50": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: hum(y, hz=50.0, snr_db=10.0, sr=sr),
    # ... and 60 Hz (the Americas' mains) as loud (session 32)
    "hum60": lambda y, *, sr=SAMPLE_RATE, seed=0, others=None: hum(y, hz=60.0, snr_db=10.0, sr=sr),
}


def apply(
    name: str,
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    seed: int = 0,
    others: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Apply the named condition of :data:`CONDITIONS` to ``y [shape=(n,)]`` → ``[shape=(n,)]`` float32.

    Raises ``ValueError`` naming the known conditions for an unknown ``name``."""
    try:
        f = CONDITIONS[name]
    except KeyError:
        raise ValueError(f"unknown channel condition {name!r}; known: {', '.join(CONDITIONS)}") from None
    return f(y, sr=sr, seed=seed, others=others)


def _side_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator derived from ``rng`` without advancing it (a child of its seed sequence; deterministic for a
    given ``rng`` and number of earlier spawns)."""
    seq = getattr(rng.bit_generator, "seed_seq", None)
    if isinstance(seq, np.random.SeedSequence):
        return np.random.default_rng(seq.spawn(1)[0])
    state = str(rng.bit_generator.state).encode()  # no seed sequence: a digest of the current state
    return np.random.default_rng(int.from_bytes(hashlib.sha1(state).digest()[:8], "little"))


def _keyed_rng(rng: np.random.Generator, key: str) -> np.random.Generator:
    """A generator derived from ``rng``'s current state and ``key``, neither advancing ``rng`` nor spawning from its
    seed sequence (so the children of :func:`_side_rng` stay those of a chain without it)."""
    state = (str(rng.bit_generator.state) + key).encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha1(state).digest()[:8], "little"))


#: rt60 range (s) of the large rooms of :func:`random_channel` with ``big_rooms``.
BIG_ROOM_RT60 = (0.8, 1.6)


def random_channel(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    rng: np.random.Generator,
    others: Sequence[np.ndarray] | None = None,
    mic: bool = False,
    device: float = 0.0,
    talkers: tuple[int, int] = (6, 6),
    big_rooms: float = 0.0,
    mains: float = 0.0,
) -> tuple[np.ndarray, str]:
    """A random realistic channel for training augmentation: ``(y' [shape=(n,)] float32, description)``.

    Stages, in order, each with its own probability: room (rt60 U(0.15, 0.8) s, p=0.5); noise
    (white, pink or — if ``others`` — babble, SNR U(5, 30) dB, p=0.6); with ``mic``, a microphone's
    frequency response (:func:`microphone`, p=0.5; off in the shipped recipe, see ``ser train --mic``); gain (U(-20, +10) dB, peak
    re-scaled below 1, p=0.5); telephone or a 3-7 kHz band limit (p=0.2); AGC compressor (p=0.35);
    codec (Opus 8-32 kb/s or MP3 16-32 kb/s, among :func:`available_codecs`, p=0.3; reduced encoder
    effort for speed). The description joins the stages, e.g. ``"room0.42+pink17+agc+opus16"``
    (``"clean"`` if none fired). Deterministic for a given ``rng`` state; about 10-30 ms per 3 s clip.
    The microphone stage draws from a generator of its own, spawned from ``rng``'s seed sequence (so every other
    stage's draws are those of ``mic=False``, the chain before the stage existed).

    ``device``: the probability that the chain is a whole device (a laptop or phone in a room): room, noise, AGC
    and codec all fire, with the same parameter ranges. Independent stages rarely stack up like that (about 3 % of
    chains), yet a browser microphone delivers them together. The draw comes from its own spawned generator (every
    other draw is that of ``device=0``); with ``mic`` too, the microphone's generator is the second one spawned.

    ``talkers``: the babble's number of voices, drawn uniformly from this range (inclusive; default always 6). One
    or two voices are a competing talker rather than a murmur. Drawn from a generator of its own, like ``device``.

    ``big_rooms``: the probability that a chain's room is a large or bare one, rt60 U(0.8, 1.6) s (a hall, a
    stairwell, a tiled kitchen) instead of the draw above; from a generator of its own, spawned when the room
    stage fires (every other stage draws as with ``big_rooms=0``).

    ``mains``: the probability of mains hum after the noise stage (:func:`hum`: 50 or 60 Hz and harmonics, U(5, 30) dB
    below the speech; a ground loop or an unshielded cable), drawn from a generator keyed on ``rng``'s state at entry,
    so every other stage draws as with ``mains=0``.
    """
    hum_rng = _keyed_rng(rng, "mains") if mains > 0.0 else None
    out = _mono(y)
    parts: list[str] = []
    if out.size == 0:
        return out.copy(), "clean"
    whole = device > 0.0 and bool(_side_rng(rng).random() < device)
    if whole:
        parts.append("device")
    if rng.random() < 0.5 or whole:
        rt60 = float(rng.uniform(0.15, 0.8))
        if big_rooms > 0.0:
            side = _side_rng(rng)
            if side.random() < big_rooms:
                rt60 = float(side.uniform(*BIG_ROOM_RT60))
        out = room(out, sr=sr, rt60=rt60, seed=int(rng.integers(2**31)))
        parts.append(f"room{rt60:.2f}")
    if rng.random() < 0.6 or whole:
        kinds = ["white", "pink"] + (["babble"] if others is not None and len(others) > 0 else [])
        kind = kinds[int(rng.integers(len(kinds)))]
        snr = float(rng.uniform(5.0, 30.0))
        s = int(rng.integers(2**31))
        if kind == "babble":
            n = 6 if tuple(talkers) == (6, 6) else int(_side_rng(rng).integers(talkers[0], talkers[1] + 1))
            out = add_babble(out, snr_db=snr, others=others if others is not None else (), seed=s, n_talkers=n, sr=sr)
            kind = "babble" if n == 6 else f"babble{n}x"
        else:
            out = add_noise(out, snr_db=snr, color=kind, seed=s, sr=sr)  # type: ignore[arg-type]
        parts.append(f"{kind}{snr:.0f}")
    if hum_rng is not None and hum_rng.random() < mains:
        hz = 50.0 if hum_rng.random() < 0.5 else 60.0
        snr = float(hum_rng.uniform(5.0, 30.0))
        out = hum(out, hz=hz, snr_db=snr, sr=sr)
        parts.append(f"hum{hz:.0f}_{snr:.0f}")
    if mic:
        side = _side_rng(rng)  # its own draws: every other stage draws exactly as in a chain without it
        if side.random() < 0.5:
            out, desc = microphone(out, sr=sr, rng=side)
            parts.append(desc)
    if rng.random() < 0.5:
        db = float(rng.uniform(-20.0, 10.0))
        out = _fit_peak(gain(out, db=db))
        parts.append(f"gain{db:+.0f}")
    if rng.random() < 0.2:
        if rng.random() < 0.5:
            out = telephone(out, sr=sr, mulaw=bool(rng.random() < 0.5))
            parts.append("tel")
        else:
            high = float(rng.uniform(3000.0, 7000.0))
            out = bandlimit(out, sr=sr, low_hz=None, high_hz=high)
            parts.append(f"lp{high / 1000:.1f}k")
    if rng.random() < 0.35 or whole:
        out = compressor(out, sr=sr, makeup="auto" if rng.random() < 0.5 else "target")
        parts.append("agc")
    if rng.random() < 0.3 or whole:
        names = available_codecs()
        if names:
            name = names[int(rng.integers(len(names)))]
            if name == "opus":
                kbps = int(rng.integers(8, 33))
                out = codec(out, sr=sr, codec="opus", bitrate_kbps=kbps, complexity=5)
                parts.append(f"opus{kbps}")
            else:
                kbps = int(rng.choice([16, 24, 32]))
                out = codec(out, sr=sr, codec="mp3", bitrate_kbps=kbps, complexity=7)
                parts.append(f"mp3_{kbps}")
    return _fit_peak(out), "+".join(parts) or "clean"
