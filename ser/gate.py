"""The speech gate: does a window of audio hold speech worth analysing, or only silence, hiss or hum?

:func:`gate` cuts a window into 20 ms frames and looks at three things: the level (RMS in dBFS, from
:func:`frame_levels`), how much of the energy lies in the speech band (:func:`speech_band_ratio`) and
how often the signal changes sign (:func:`zero_crossing_rate`). The live analysis shows a window that
fails as "quiet" instead of a random emotion.

Units: samples are mono float32 in [-1, 1] at ``sr`` Hz; levels are dBFS (0 dBFS = full-scale RMS of
1.0); durations are seconds.

Plain numpy on purpose: ``librosa.feature.rms`` / ``librosa.feature.zero_crossing_rate`` do the same
frame arithmetic, but importing librosa pulls in numba (about 2 s), and the live path, like prediction,
deliberately avoids librosa. (librosa's zero-crossing rate also divides by the frame length, not by the
``n - 1`` sample pairs, so its numbers differ by ``(n - 1) / n``; ``tests/test_gate.py`` compares both.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE

#: Floor for levels of digital silence (dBFS).
FLOOR_DBFS = -120.0
#: Frame length (seconds) of the short-time levels the gate looks at.
GATE_FRAME_S = 0.02
#: Percentile of the short-time frame levels that counts as a window's "active" level.
GATE_PERCENTILE = 95.0
#: Speech band (Hz) for :func:`speech_band_ratio`.
SPEECH_BAND = (80.0, 4000.0)


def dbfs(y: np.ndarray) -> float:
    """RMS level of ``y [shape=(n,)]`` in dBFS (``FLOOR_DBFS`` for silence or no samples)."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return FLOOR_DBFS
    ms = float(np.mean(np.square(y, dtype=np.float64)))
    return max(FLOOR_DBFS, 10.0 * math.log10(ms)) if ms > 0 else FLOOR_DBFS


def frame_levels(y: np.ndarray, sr: int, frame_s: float = GATE_FRAME_S) -> np.ndarray:
    """Short-time RMS levels ``[shape=(n // frame,)]`` in dBFS over non-overlapping frames of ``frame_s`` s.

    A signal shorter than one frame gives its overall level (:func:`dbfs`), ``[shape=(1,)]``.
    """
    n = max(1, int(round(frame_s * sr)))
    m = y.size // n
    if m == 0:
        return np.array([dbfs(y)])
    ms = np.mean(np.square(y[: m * n].reshape(m, n), dtype=np.float64), axis=1)
    return np.maximum(FLOOR_DBFS, 10.0 * np.log10(np.maximum(ms, 1e-30)))


def speech_band_ratio(y: np.ndarray, sr: int, band: tuple[float, float] = SPEECH_BAND) -> float:
    """Fraction of the signal's energy inside ``band`` Hz (0..1; speech mostly > 0.8, white noise at 16 kHz ≈ 0.48)."""
    if y.size < 2:
        return 0.0
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1.0 / sr)
    total = float(power[1:].sum())  # ignore DC
    if total <= 0:
        return 0.0
    inside = float(power[(freqs >= band[0]) & (freqs <= band[1])].sum())
    return inside / total


def zero_crossing_rate(y: np.ndarray) -> float:
    """Sign changes per pair of neighbouring samples (0..1; voiced speech ≈ 0.05-0.2 at 16 kHz, white noise ≈ 0.5)."""
    if y.size < 2:
        return 0.0
    s = np.signbit(y)
    return float(np.count_nonzero(s[1:] != s[:-1])) / (y.size - 1)


@dataclass(frozen=True)
class GateResult:
    """What :func:`gate` saw in one window.

    ``level_dbfs``: the window's active level (``GATE_PERCENTILE`` of its 20 ms frame levels, dBFS);
    ``active_s``: seconds of 20 ms frames at or above the threshold; ``band_ratio`` and ``zcr``:
    :func:`speech_band_ratio` and :func:`zero_crossing_rate` of those active frames only (silence
    between words would otherwise dominate both); ``quiet``: True when the window holds no speech to
    analyse; ``reason``: why (``""`` when not quiet).
    """

    level_dbfs: float
    active_s: float
    band_ratio: float
    zcr: float
    quiet: bool
    reason: str = ""


def gate(
    y: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    threshold_dbfs: float = -45.0,
    min_active_s: float = 0.1,
    min_band_ratio: float = 0.5,
    max_zcr: float = 0.4,
) -> GateResult:
    """Energy/VAD gate for one window ``y [shape=(n,)]`` float32 at ``sr`` Hz.

    The window is cut into 20 ms frames. It is quiet when its active level (95th percentile of the
    frame levels, so a few words in a mostly silent window still count) is below ``threshold_dbfs``
    or fewer than ``min_active_s`` seconds of frames reach it; or when the active frames do not
    sound like speech: less than ``min_band_ratio`` of their energy in 80-4000 Hz (hum, hiss), or a
    mean zero-crossing rate above ``max_zcr`` (broadband noise; voiced speech is ≈ 0.05-0.25).
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = max(1, int(round(GATE_FRAME_S * sr)))
    levels = frame_levels(y, sr)
    level = float(np.percentile(levels, GATE_PERCENTILE)) if y.size else FLOOR_DBFS
    active = np.flatnonzero(levels >= threshold_dbfs) if y.size >= n else np.zeros(0, dtype=int)
    active_s = active.size * n / sr
    if level < threshold_dbfs or active_s < min_active_s:
        return GateResult(level, active_s, 0.0, 0.0, True,
                          f"level {level:.0f} dBFS is below the {threshold_dbfs:.0f} dBFS speech threshold")
    frames = y[: levels.size * n].reshape(levels.size, n)[active]
    ratio = speech_band_ratio(frames.reshape(-1), sr)
    signs = np.signbit(frames)
    zcr = float(np.mean(signs[:, 1:] != signs[:, :-1]))  # the mean of the frames' zero_crossing_rate
    if ratio < min_band_ratio:
        return GateResult(level, active_s, ratio, zcr, True, f"not speech: only {ratio:.0%} of the energy is in the speech band")
    if zcr > max_zcr:
        return GateResult(level, active_s, ratio, zcr, True, f"not speech: noise-like (zero-crossing rate {zcr:.2f})")
    return GateResult(level, active_s, ratio, zcr, False, "")


__all__ = [
    "FLOOR_DBFS",
    "GATE_FRAME_S",
    "GATE_PERCENTILE",
    "SPEECH_BAND",
    "GateResult",
    "dbfs",
    "frame_levels",
    "gate",
    "speech_band_ratio",
    "zero_crossing_rate",
]
