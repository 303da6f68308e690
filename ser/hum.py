"""Mains hum: find it in a signal and filter it out before analysis.

A ground loop, an unshielded cable or a cheap USB interface adds the mains frequency (50 Hz in most of the world,
60 Hz in the Americas) and its harmonics to a recording. Hum is no speech, but it is loud where voices are quiet
(below about 150 Hz) and fills the pauses, so trimming, the level and the low spectral bands take it for speech: 50 Hz
hum 10 dB below the speech cost the model 0.11-0.12 UAR (``benchmarks/channels.json``, row ``hum50``, session 31).

Hum is a set of stationary lines at exact multiples of one frequency; speech harmonics glide with the voice's F0, so
over a second or more they smear across many bins. :func:`find_hum` therefore looks at the long-term power spectrum
(Hann segments of :data:`SEGMENT_S`, 0.5 Hz apart, averaged) around each multiple of 50 and 60 Hz and compares the
strongest bin near it with the median of the spectrum within :data:`FLOOR_HZ` of it. Hum is found when one of the
first :data:`DETECT_HARMONICS` multiples of a mains frequency stands :data:`DETECT_DB` above its surroundings: over the
1,608 clean clips of ../shared/data the strongest such line reached 21 dB, hum 10 dB below the speech 26-85 dB, white
or pink noise and the laptop chain at most 16 dB. The grid's own frequency is measured on the strongest line (a grid
runs up to a few tenths of a hertz off), and :func:`remove_hum` notches its first :data:`DETECT_HARMONICS` multiples
and every higher one below :data:`MAX_HZ` that stands :data:`LINE_DB` above its surroundings, with zero-phase IIR
notches :data:`NOTCH_HZ` wide: speech loses a few hertz around each line (the voice of a clip changes by about
-20 dB), the hum 45-77 dB. A signal without hum comes back unchanged (the same array).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.fft

from . import dsp

#: Mains frequencies (Hz) looked for.
MAINS_HZ = (50.0, 60.0)
#: Length (s) of the Hann segments whose power spectra are averaged (resolution 1 / SEGMENT_S Hz; half overlap).
SEGMENT_S = 2.0
#: Shortest signal (s) looked at: a shorter one cannot resolve a line from the speech around it.
MIN_SECONDS = 0.5
#: Hum is found when a line among the first ``DETECT_HARMONICS`` multiples stands this far (dB) above its surroundings.
DETECT_DB = 25.0
DETECT_HARMONICS = 5
#: Of a found hum, the first ``DETECT_HARMONICS`` multiples of the measured mains frequency are notched (a line there
#: can hide in the voice's own harmonics), and the higher ones standing this far (dB) above their surroundings: at
#: 6 dB a steady voice's own harmonics passed too (about one a clip), and notching them cost held-out RAVDESS speakers
#: with 60 Hz hum 0.09 adapted UAR ...
LINE_DB = 15.0
#: ... up to this frequency (Hz).
MAX_HZ = 2000.0
#: Half-width (Hz) of the band around a nominal multiple of 50 or 60 Hz where its line is searched (at least; 0.5 % of
#: the frequency above 200 Hz: a grid may run that far off).
SEARCH_HZ = 1.0
#: Half-width (Hz) of the spectrum around a line whose median is the line's surroundings.
FLOOR_HZ = 20.0
#: -3 dB width (Hz) of each notch.
NOTCH_HZ = 2.0
#: Seconds of hum-in-phase padding at each end before filtering (the notches settle within about 0.5 s).
PAD_S = 1.0
_CHUNK = 32  # segments per FFT call (bounds memory on long recordings)


@dataclass(frozen=True)
class Hum:
    """Mains hum found by :func:`find_hum`: the nominal mains frequency (``base_hz``, 50 or 60), the frequencies (Hz)
    to notch (multiples of the grid's measured frequency, the first of them that frequency itself), and how far (dB)
    the strongest line stands above its surroundings."""

    base_hz: float
    lines_hz: tuple[float, ...]
    strength_db: float


def _power_spectrum(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean power spectrum of Hann segments of ``y [shape=(n,)]`` float32 up to :data:`MAX_HZ` + :data:`FLOOR_HZ`:
    ``(freqs [shape=(b,)] Hz, power [shape=(b,)])``."""
    n = int(min(y.size, round(SEGMENT_S * sr)))
    hop = max(1, n // 2)
    window = dsp.hann(n, n).astype(np.float32)  # periodic Hann, float32 like the signal
    starts = np.arange(0, y.size - n + 1, hop)
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    keep = int(np.searchsorted(freqs, MAX_HZ + 2 * FLOOR_HZ))
    total = np.zeros(keep)
    for i in range(0, starts.size, _CHUNK):
        seg = np.lib.stride_tricks.sliding_window_view(y, n)[starts[i:i + _CHUNK]] * window
        spec = scipy.fft.rfft(seg, axis=1)[:, :keep]
        total += (spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2).sum(axis=0)
    return freqs[:keep], total / starts.size


def _line(freqs: np.ndarray, power: np.ndarray, centre: float, reach: float) -> tuple[float, float]:
    """The strongest bin within ``reach`` (Hz) of ``centre`` (Hz): its frequency refined by a parabola through the
    log power of its neighbours, and how far (dB) it stands above the median of the spectrum within :data:`FLOOR_HZ`
    of it."""
    df = freqs[1] - freqs[0]
    lo, hi = np.searchsorted(freqs, [centre - reach, centre + reach])
    hi = max(hi, lo + 1)
    i = lo + int(np.argmax(power[lo:hi]))
    dist = np.abs(freqs - freqs[i])
    around = power[(dist <= FLOOR_HZ) & (dist > 3 * df)]
    floor = float(np.median(around)) if around.size else 0.0
    ratio_db = 10.0 * np.log10((power[i] + 1e-30) / (floor + 1e-30))
    f = float(freqs[i])
    if 0 < i < power.size - 1:
        a, b, c = np.log(power[i - 1:i + 2] + 1e-30)
        curv = a - 2 * b + c
        if curv < 0:
            f += float(np.clip(0.5 * (a - c) / curv, -0.5, 0.5)) * df
    return f, float(ratio_db)


def find_hum(y: np.ndarray, *, sr: int) -> Hum | None:
    """Mains hum in ``y [shape=(n,)]`` (mono, ``sr`` Hz), or None: see the module's description. About 1 ms per
    second of audio; a signal shorter than :data:`MIN_SECONDS` is never found to hum."""
    x = np.asarray(y, dtype=np.float32).reshape(-1)
    if x.size < MIN_SECONDS * sr or not np.isfinite(x).all():
        return None
    x = x - np.float32(x.mean(dtype=np.float64))
    if not np.any(x):
        return None
    freqs, power = _power_spectrum(x, sr)
    top = min(MAX_HZ, sr / 2 - FLOOR_HZ)
    best: Hum | None = None
    for base in MAINS_HZ:
        first = [_line(freqs, power, k * base, max(SEARCH_HZ, 0.005 * k * base)) for k in range(1, DETECT_HARMONICS + 1)]
        k0 = int(np.argmax([r for _, r in first]))
        strength = first[k0][1]
        if strength < DETECT_DB or (best is not None and strength <= best.strength_db):
            continue
        mains = first[k0][0] / (k0 + 1)  # the grid's own frequency, from its strongest line
        step = float(freqs[1] - freqs[0])
        # a low multiple is notched whatever its bin shows (it can hide in the voice's own harmonics), a higher one
        # where its bin stands out; each where the grid puts it (the strongest bin nearby may be the voice's)
        lines = [k * mains for k in range(1, int(top // mains) + 1)
                 if k <= DETECT_HARMONICS or _line(freqs, power, k * mains, step)[1] >= LINE_DB]
        best = Hum(base, tuple(lines), strength)
    return best


#: What a caller knows of a signal's hum: what :func:`find_hum` found in it (a :class:`Hum`, or None for none), or
#: ``"find"``: not looked for yet.
Found = Hum | None | Literal["find"]


def remove_hum(y: np.ndarray, *, sr: int, hum: Found = "find") -> np.ndarray:
    """``y [shape=(n,)]`` with its mains hum notched out, float32; ``y`` itself when there is none. ``hum``: what
    :func:`find_hum` found in ``y`` when the caller looked already (None: no hum), ``"find"`` to look here.
    Zero-phase (forward and backward) IIR notches, :data:`NOTCH_HZ` wide, one per line."""
    if isinstance(hum, str):
        hum = find_hum(y, sr=sr)
    if hum is None or not hum.lines_hz:
        return y
    import scipy.signal  # only when there is hum: the import costs a cold start about 0.3 s

    sos = np.concatenate([scipy.signal.tf2sos(*scipy.signal.iirnotch(f, f / NOTCH_HZ, fs=sr))
                          for f in hum.lines_hz if 0.0 < f < sr / 2])
    x = np.asarray(y, dtype=np.float64)
    # pad the start with the signal's own first whole mains periods and the end with its last ones, so the hum runs
    # on in phase and the notches' start-up (a time constant of about 1 / (pi NOTCH_HZ) s) dies out before the
    # signal begins
    mains = hum.lines_hz[0] / max(1, round(hum.lines_hz[0] / hum.base_hz))
    periods = min(round(PAD_S * mains), int(x.size * mains / sr))
    n_pad = int(round(periods * sr / mains))
    if n_pad < 1:  # shorter than one mains period: no line to speak of
        return np.asarray(y, dtype=np.float32)
    padded = np.concatenate([x[:n_pad], x, x[-n_pad:]])
    return scipy.signal.sosfiltfilt(sos, padded, padlen=0)[n_pad:n_pad + x.size].astype(np.float32)
