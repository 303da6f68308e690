"""Noise suppression before analysis: a per-window noise spectrum and a spectral-subtraction gain.

A microphone in a room hears fans, hum and other talkers under the speech. Session 21 trims such noise at a clip's
ends; this module lowers it *under* the speech too. The noise spectrum is estimated from the window itself (no
noise-only stretch is needed, so it works on live windows and tightly cut clips alike): each frequency bin's power is
averaged over :data:`SMOOTH_FRAMES` frames and its :data:`PERCENTILE`-th percentile over the window, scaled by
:data:`BIAS` (a percentile of averaged noise power lies below its mean), is taken as the noise power there. Speech is
sparse in time and frequency, so most bins spend that share of frames holding noise only. The gain is power
subtraction floored at :data:`FLOOR_DB` (``max(1 - N / P, floor)``), the textbook rule; relative to the window's own
power, so a gain change of the input changes nothing.

Two places use it (``FeatureConfig.denoise``): ``"spectral"`` scales the power spectrogram of the spectral blocks
(mfcc, deltas, chroma, contrast, mel, energy; the waveform encoders hear the signal as it was); ``"signal"`` rebuilds
the waveform from the suppressed STFT, so every block hears the cleaned signal. Neither helped on held-out speakers
(benchmarks/EXPERIMENTS.md, session 23: "signal" cost clean speech 0.05, "spectral" moved nothing), so the shipped
model has it off.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from . import dsp

#: Frames (10 ms each at the default hop) averaged per bin before the percentile.
SMOOTH_FRAMES = 8
#: Percentile over a window's frames of each bin's averaged power that stands for the noise.
PERCENTILE = 10.0
#: Noise power / that percentile, for noise alone (an 8-frame average of 60 %-overlapping frames is about
#: Gamma-distributed with shape 4, whose 10th percentile is 0.44 of its mean).
BIAS = 2.0
#: Lowest power gain in dB: a bin is never attenuated by more.
FLOOR_DB = -15.0


def noise_power(P: np.ndarray, *, smooth_frames: int = SMOOTH_FRAMES, percentile: float = PERCENTILE,
                bias: float = BIAS) -> np.ndarray:
    """Noise power per frequency bin of a power spectrogram ``P [shape=(f, t)]``; returns ``[shape=(f,)]``.

    Each bin's power averaged over ``smooth_frames`` frames (averages taken half a span apart), its
    ``percentile``-th percentile over the window times ``bias``. Zeros for an empty spectrogram.
    """
    f, t = P.shape
    if t == 0:
        return np.zeros(f, dtype=P.dtype)
    k = max(1, min(smooth_frames, t))
    step = max(1, k // 2)  # averages half a span apart overlap by half: every one of them adds little
    n = t - k + 1
    avg = P[:, 0:n:step].astype(np.float32)
    for i in range(1, k):
        avg += P[:, i : i + n : step]
    idx = int(round(percentile / 100.0 * (avg.shape[1] - 1)))
    return (np.partition(avg, idx, axis=1)[:, idx] * (bias / k)).astype(P.dtype)


def gain(P: np.ndarray, *, floor_db: float = FLOOR_DB, **kw: float) -> np.ndarray:
    """Power gain ``[shape=(f, t)]`` in ``[10**(floor_db/10), 1]`` for ``P [shape=(f, t)]``: ``max(1 - N/P, floor)``
    with ``N`` from :func:`noise_power` (keyword arguments go there)."""
    N = noise_power(P, **kw)[:, None]
    floor = np.float32(10.0 ** (floor_db / 10.0))
    g = 1.0 - N / np.maximum(P, np.finfo(np.float32).tiny)
    return np.clip(g, floor, 1.0).astype(np.float32)


def suppress_signal(y: np.ndarray, *, n_fft: int, hop_length: int, win_length: int, **kw: float) -> np.ndarray:
    """Waveform ``y [shape=(n,)]`` float32 with its noise suppressed: centred STFT (periodic Hann), magnitude scaled
    by ``sqrt(gain)``, weighted overlap-add back to ``[shape=(n,)]`` float32."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return y
    spec = dsp.stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length)  # (t, 1 + n_fft // 2)
    spec *= np.sqrt(gain((spec.real**2 + spec.imag**2).T, **kw)).T
    w = dsp.hann(win_length, n_fft).astype(np.float32)
    out = scipy.fft.irfft(spec, n=n_fft, axis=-1) * w  # synthesis window: weighted overlap-add
    half = n_fft // 2
    return (_overlap_add(out, hop_length)[half : half + y.size]
            / np.maximum(_overlap_add(np.broadcast_to(w * w, out.shape), hop_length)[half : half + y.size], 1e-8))


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum of ``frames [shape=(t, m)]`` placed ``hop`` samples apart → ``[shape=((t - 1) * hop + m,)]``: each frame
    cut into hop-long pieces, the pieces added in ``ceil(m / hop)`` shifted slabs."""
    t, m = frames.shape
    k = -(-m // hop)
    pieces = np.zeros((t, k * hop), dtype=np.float32)
    pieces[:, :m] = frames
    pieces = pieces.reshape(t, k, hop)
    acc = np.zeros((t + k - 1, hop), dtype=np.float32)
    for j in range(k):
        acc[j : j + t] += pieces[:, j]
    return acc.ravel()[: (t - 1) * hop + m]
