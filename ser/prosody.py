"""Pitch and voicing: the prosody of a voice as a frame feature block.

The ``prosody`` block of :class:`ser.features.FeatureConfig` adds three features per 10 ms frame:

* ``f0``: the fundamental frequency in semitones re 100 Hz (YIN, :func:`ser.dsp.yin`), carried across unvoiced
  frames by linear interpolation between the voiced frames around them (constant before the first and
  after the last), so the utterance functionals see one continuous pitch contour: its mean, spread,
  range, slope and movement;
* ``periodicity``: the normalised autocorrelation of the frame at the pitch period, in [0, 1] (a
  harmonics-to-noise measure: breathy, creaky or shouted voice scores lower than modal voice);
* ``voiced``: 1 where the frame is voiced (periodicity above :data:`VOICED` and within 40 dB of the
  loudest frame), else 0; its mean is the voiced share, its frame-to-frame movement the syllable rate.

Why: the spectral blocks (MFCC, log-mel, chroma, the speech embedding) hardly carry the pitch contour,
yet pitch level, range and movement are classic cues of arousal. On ``ser``'s own folds (scratch logistic
regression, session 9 in ``benchmarks/EXPERIMENTS.md``) eleven pitch statistics alone, each speaker
mean-normalised, scored about 0.43 UAR from RAVDESS to EMO-DB and back, as much as all the spectral features
together.

Pitch is searched in 60-500 Hz on the signal decimated to 8 kHz (40 ms frames, one every 20 ms), which
costs about 3 ms per 3 s window. Shapes and units: input mono float32 at 16 kHz (any rate works);
:func:`frames` gives ``[shape=(3, t)]`` float32 aligned with ``t`` analysis frames of ``hop_length``.
"""

from __future__ import annotations

import numpy as np

from . import dsp
from .audio import resample

#: Features per frame: f0 (semitones re 100 Hz), periodicity, voiced.
DIM = 3
#: Pitch search range (Hz).
FMIN, FMAX = 60.0, 500.0
#: Rate pitch is analysed at (Hz); 500 Hz leaves ample room below Nyquist.
ANALYSIS_RATE = 8000
#: Analysis frame (samples at ANALYSIS_RATE): 40 ms, more than two periods of FMIN.
FRAME = 320
#: Periodicity above which a frame counts as voiced.
VOICED = 0.5
#: Frames quieter than the loudest by more than this (dB) count as unvoiced.
SILENCE_DB = 40.0
#: Analysis frames (of the feature hop, 10 ms) per pitch estimate: 2 = every 20 ms, held for the frame after.
STEP = 2
#: Reference of the semitone scale (Hz).
REFERENCE_HZ = 100.0


def track(y: np.ndarray, *, sr: int, hop_length: int, n_frames: int | None = None,
          step: int = STEP) -> tuple[np.ndarray, ...]:
    """Pitch, periodicity and voicing of ``y`` ``[shape=(n,)]`` at ``sr`` Hz, one value per ``hop_length``.

    Frames are centred (frame ``i`` at sample ``i * hop_length``), as the spectral blocks'; every ``step``-th
    frame is analysed and holds for the ``step - 1`` frames after it. Returns ``(f0 [Hz], periodicity [0, 1],
    voiced [bool])``, each ``[shape=(t,)]``, ``t = n_frames`` when given (else ``1 + n // hop_length``).
    """
    t = 1 + len(y) // hop_length if n_frames is None else int(n_frames)
    if t <= 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    x = resample(y, sr_in=sr, sr_out=ANALYSIS_RATE)
    # analysed frame j is centred on sample j * step * hop (at the analysis rate); pad so every frame exists
    m = -(-t // step)
    centres = np.round(np.arange(m) * step * hop_length * ANALYSIS_RATE / sr).astype(int)
    half = FRAME // 2
    x = np.pad(x, (half, half + max(0, centres[-1] + 1 - len(x))))
    fr = np.lib.stride_tricks.sliding_window_view(x, FRAME)[centres]  # [m, FRAME]
    fr = fr - fr.mean(axis=1, keepdims=True)
    f0 = dsp.yin(fr, sr=ANALYSIS_RATE, fmin=FMIN, fmax=FMAX)
    # periodicity: normalised correlation of the frame's first part with itself one period later
    lag = np.clip(np.round(ANALYSIS_RATE / f0).astype(int), 1, int(ANALYSIS_RATE / FMIN))
    w = FRAME - int(ANALYSIS_RATE / FMIN) - 1
    a = fr[:, :w]
    b = fr[np.arange(m)[:, None], lag[:, None] + np.arange(w)[None, :]]
    num = (a * b).sum(axis=1)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    periodicity = np.clip(np.where(den > 1e-12, num / np.maximum(den, 1e-12), 0.0), 0.0, 1.0)
    energy_db = 10.0 * np.log10(np.maximum((fr * fr).mean(axis=1), 1e-12))
    voiced = (periodicity > VOICED) & (energy_db > energy_db.max() - SILENCE_DB)
    hold = lambda v: np.repeat(v, step)[:t]  # noqa: E731
    return hold(f0.astype(np.float64)), hold(periodicity.astype(np.float64)), hold(voiced)


def frames(y: np.ndarray, n_frames: int, *, sr: int, hop_length: int) -> np.ndarray:
    """The ``prosody`` block: ``[shape=(3, n_frames)]`` float32 (f0 in semitones re 100 Hz carried across
    unvoiced frames, periodicity, voiced flag); see the module docstring."""
    f0, periodicity, voiced = track(y, sr=sr, hop_length=hop_length, n_frames=n_frames)
    semitones = np.zeros(n_frames)
    if voiced.any():
        at = np.flatnonzero(voiced)
        semitones = np.interp(np.arange(n_frames), at, 12.0 * np.log2(f0[at] / REFERENCE_HZ))
    return np.stack([semitones, periodicity, voiced.astype(np.float64)]).astype(np.float32)
