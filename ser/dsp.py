"""The few librosa routines the features use, in plain numpy (librosa 0.11 semantics, same numbers).

Importing librosa's spectral code pulls in numba, scipy.signal and scipy.stats: 1.5-3 s of a
prediction process's cold start, for six small functions. These are ports of
``librosa.stft`` (centred, zero padding, periodic Hann window), ``librosa.filters.mel`` (Slaney
scale and norm), ``librosa.filters.chroma``, ``librosa.feature.delta`` (Savitzky-Golay, ``nearest``
edges), ``librosa.feature.spectral_contrast`` and ``librosa.yin`` (on given frames; numba-compiled in
librosa), following librosa's own operations and dtypes so that the features do not move;
``tests/test_features.py`` (``tests/test_prosody.py`` for YIN) compares each one with librosa.
librosa is ISC-licensed (Copyright (c) 2013--2023, librosa development team).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft

_MIN_LOG_HZ = 1000.0  # Slaney mel scale: linear below, logarithmic above
_F_SP = 200.0 / 3
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = float(np.log(6.4)) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Hz → mel (Slaney's scale, as ``librosa.hz_to_mel(htk=False)``); ``[shape=(n,)]`` float64."""
    hz = np.asarray(hz, dtype=np.float64)
    mels = hz / _F_SP
    log_t = hz >= _MIN_LOG_HZ
    mels[log_t] = _MIN_LOG_MEL + np.log(hz[log_t] / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Mel → Hz (inverse of :func:`hz_to_mel`); ``[shape=(n,)]`` float64."""
    mels = np.asarray(mels, dtype=np.float64)
    freqs = _F_SP * mels
    log_t = mels >= _MIN_LOG_MEL
    freqs[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    return freqs


def mel_frequencies(n_mels: int, *, fmin: float, fmax: float) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the Slaney mel scale from ``fmin`` to ``fmax``."""
    lo, hi = (float(hz_to_mel(np.array([f]))[0]) for f in (fmin, fmax))
    return mel_to_hz(np.linspace(lo, hi, n_mels))


@functools.lru_cache(maxsize=8)
def hann(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` zero-padded (centred) to ``n_fft``; ``[shape=(n_fft,)]`` float64.

    As ``scipy.signal.get_window("hann", win_length, fftbins=True)`` then ``librosa.util.pad_center``.
    """
    fac = np.linspace(-np.pi, np.pi, win_length + 1)
    w = np.zeros(win_length + 1)
    w += 0.5 * np.cos(0 * fac)
    w += 0.5 * np.cos(fac)
    lpad = (n_fft - win_length) // 2
    out = np.pad(w[:-1], (lpad, n_fft - win_length - lpad))
    out.flags.writeable = False
    return out


def stft(y: np.ndarray, *, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """``librosa.stft(y, centre=True, pad_mode="constant")`` for ``y [shape=(n,)]`` float32, frames first.

    Returns ``[shape=(1 + n // hop_length, 1 + n_fft // 2)]`` complex64; like librosa, each frame is windowed in
    float64 and transformed.
    """
    y = np.asarray(y, dtype=np.float32)
    half = n_fft // 2
    padded = np.zeros(y.size + 2 * half, dtype=np.float32)
    padded[half : half + y.size] = y
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]  # (t, n_fft)
    return np.fft.rfft(hann(win_length, n_fft) * frames, axis=-1).astype(np.complex64)


def stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """``np.abs(librosa.stft(y, centre=True, pad_mode="constant"))`` for ``y [shape=(n,)]`` float32.

    Returns ``[shape=(1 + n_fft // 2, 1 + n // hop_length)]`` float32 (the magnitude of :func:`stft`, taken in
    float32 as librosa does).
    """
    return np.abs(stft(y, n_fft=n_fft, hop_length=hop_length, win_length=win_length)).T


def fft_frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequencies (Hz) of the ``1 + n_fft // 2`` STFT bins."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


@functools.lru_cache(maxsize=8)
def mel_filters(*, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filter bank ``[shape=(n_mels, 1 + n_fft // 2)]`` float32
    (``librosa.filters.mel`` with ``htk=False, norm="slaney"``)."""
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = fft_frequencies(sr=sr, n_fft=n_fft)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    weights.flags.writeable = False
    return weights


@functools.lru_cache(maxsize=8)
def chroma_filters(*, sr: int, n_fft: int, n_chroma: int = 12) -> np.ndarray:
    """Chroma filter bank ``[shape=(n_chroma, 1 + n_fft // 2)]`` float32 (``librosa.filters.chroma``
    defaults: A440 tuning, Gaussian octave weighting centred on octave 5, width 2, L2 norm, base C)."""
    ctroct, octwidth = 5.0, 2.0
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (440.0 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    D = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    n_chroma2 = np.round(float(n_chroma) / 2)
    D = np.remainder(D + n_chroma2 + 10 * n_chroma, n_chroma) - n_chroma2
    wts = np.exp(-0.5 * (2 * D / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    length = np.sum(np.abs(wts).astype(float) ** 2, axis=0, keepdims=True) ** (1.0 / 2)  # util.normalize(norm=2)
    length[length < np.finfo(wts.dtype).tiny] = 1.0
    wts = wts / length
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)), (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    out = np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=8)
def _savgol_coeffs(width: int, order: int) -> np.ndarray:
    """Savitzky-Golay convolution coefficients of the ``order``-th derivative, polynomial order ``order``
    (``scipy.signal.savgol_coeffs(width, order, deriv=order)``); ``[shape=(width,)]`` float64."""
    pos = width // 2
    x = np.arange(-pos, width - pos, dtype=np.float64)[::-1]
    A = x ** np.arange(order + 1, dtype=np.float64).reshape(-1, 1)
    y = np.zeros(order + 1)
    y[order] = float(math.factorial(order))
    coeffs = np.linalg.lstsq(A, y, rcond=None)[0]
    coeffs.flags.writeable = False
    return coeffs


def delta(data: np.ndarray, *, order: int = 1, width: int = 9) -> np.ndarray:
    """Local ``order``-th derivative along the last axis of ``data [shape=(d, t)]`` float32
    (``librosa.feature.delta(mode="nearest")``: a Savitzky-Golay filter, edges repeat the end frames).

    Summed in float64 in the order of ``scipy.ndimage.convolve1d``, which pairs the taps of a
    (anti)symmetric filter: ``out[i] = x[i] w[0] + sum_j (x[i - j] ± x[i + j]) w[-j]``.
    """
    if width < 3 or width % 2 != 1:
        raise ValueError("width must be an odd integer >= 3")
    w = _savgol_coeffs(width, order)[::-1]  # convolution → correlation weights
    half = width // 2
    eps = np.finfo(np.float64).eps
    if all(abs(w[half + i] - w[half - i]) <= eps for i in range(1, half + 1)):
        sign = 1.0
    elif all(abs(w[half + i] + w[half - i]) <= eps for i in range(1, half + 1)):
        sign = -1.0
    else:  # not reached for Savitzky-Golay derivatives
        raise ValueError("Savitzky-Golay weights are neither symmetric nor antisymmetric")
    x = np.asarray(data, dtype=np.float64)
    n = x.shape[-1]
    xp = np.concatenate([np.repeat(x[..., :1], half, axis=-1), x, np.repeat(x[..., -1:], half, axis=-1)], axis=-1)
    out = x * w[half]
    for j in range(-half, 0):
        out += (xp[..., half + j : half + j + n] + sign * xp[..., half - j : half - j + n]) * w[half + j]
    return out.astype(data.dtype, copy=False)


def _power_to_db(S: np.ndarray, *, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, 1.0))
    return np.maximum(log_spec, log_spec.max() - top_db)


@functools.lru_cache(maxsize=8)
def _contrast_bands(sr: int, n_fft: int, fmin: float, n_bands: int, quantile: float):
    freq = fft_frequencies(sr=sr, n_fft=n_fft)
    octa = np.zeros(n_bands + 2)
    octa[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    if np.any(octa[:-1] >= 0.5 * sr):
        raise ValueError("frequency band exceeds Nyquist: reduce fmin or n_bands")
    bands = []
    for k, (f_low, f_high) in enumerate(zip(octa[:-1], octa[1:], strict=True)):
        current = np.logical_and(freq >= f_low, freq <= f_high)
        idx = np.flatnonzero(current)
        if k > 0:
            current[idx[0] - 1] = True
        if k == n_bands:
            current[idx[-1] + 1 :] = True
        rows = np.flatnonzero(current)
        if k < n_bands:
            rows = rows[:-1]
        q = int(np.maximum(np.rint(quantile * np.sum(current)), 1))
        if rows.size == 0 or np.any(np.diff(rows) != 1):  # spectral_contrast slices one run of bins
            raise ValueError(f"contrast band {k} is empty or not contiguous: n_fft={n_fft} is too small")
        bands.append((rows, q))
    return tuple(bands)


def spectral_contrast(S: np.ndarray, *, sr: int, n_fft: int, fmin: float = 200.0, n_bands: int = 6,
                      quantile: float = 0.02) -> np.ndarray:
    """Octave-band spectral contrast (dB) of a magnitude spectrogram ``S [shape=(1 + n_fft // 2, t)]``
    → ``[shape=(n_bands + 1, t)]`` float64 (``librosa.feature.spectral_contrast(S=S, ...)``)."""
    valley = np.zeros((n_bands + 1, S.shape[-1]))
    peak = np.zeros_like(valley)
    for k, (rows, q) in enumerate(_contrast_bands(sr, n_fft, float(fmin), n_bands, float(quantile))):
        band = S[rows[0] : rows[-1] + 1, :]  # rows are contiguous
        if q == 1:  # the mean of the one smallest / largest value (every band at n_fft=512): no sort
            valley[k, :] = band.min(axis=-2)
            peak[k, :] = band.max(axis=-2)
        else:  # gathered like librosa's boolean index, so that np.mean sums in librosa's order
            sortedr = np.sort(S[rows, :], axis=-2)
            valley[k, :] = np.mean(sortedr[:q, :], axis=-2)
            peak[k, :] = np.mean(sortedr[-q:, :], axis=-2)
    return _power_to_db(peak) - _power_to_db(valley)


def yin(frames: np.ndarray, *, sr: float, fmin: float, fmax: float, trough_threshold: float = 0.1) -> np.ndarray:
    """YIN pitch of each analysis frame, as ``librosa.yin`` (0.11) on the same frames.

    ``frames`` ``[shape=(t, L)]``: one frame of ``L`` samples per row (``librosa.yin(frames.reshape(-1),
    frame_length=L, hop_length=L, center=False)`` analyses the same ones). Returns f0 in Hz ``[shape=(t,)]``;
    every frame gets an estimate (voicing is the caller's decision).
    """
    x = np.asarray(frames)
    L = x.shape[1]
    lo = int(np.floor(sr / fmax))
    hi = min(int(np.ceil(sr / fmin)), L - 1)
    # difference function d(k) = 2 (r(0) - r(k)) - sum_{m<k} x(m)^2, r the frame's autocorrelation (lags up to
    # hi only, so a transform of L + hi points has no wrap-around there; librosa takes 2L - 1 for every lag)
    n_pad = scipy.fft.next_fast_len(L + hi, real=True)
    spec = scipy.fft.rfft(x, n=n_pad, axis=1)  # scipy's FFT keeps float32 float32, 4x faster than numpy's here
    acf = scipy.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=1)[:, : hi + 1]
    energy = np.cumsum(x * x, axis=1)
    diff = np.zeros((len(x), hi + 1), dtype=acf.dtype)
    diff[:, 1:] = 2 * (acf[:, :1] - acf[:, 1:]) - energy[:, :hi]
    # cumulative mean normalised difference over the lags searched
    running = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, hi + 1)
    den = running[:, lo - 1 : hi]
    cmnd = diff[:, lo : hi + 1] / (den + np.finfo(den.dtype).tiny)
    # the first trough below the threshold, else the global minimum
    trough = np.empty(cmnd.shape, dtype=bool)
    trough[:, 0] = cmnd[:, 0] < cmnd[:, 1]
    trough[:, 1:-1] = (cmnd[:, 1:-1] < cmnd[:, :-2]) & (cmnd[:, 1:-1] <= cmnd[:, 2:])
    trough[:, -1] = cmnd[:, -1] < cmnd[:, -2]
    deep = trough & (cmnd < trough_threshold)
    lag = np.where(deep.any(axis=1), deep.argmax(axis=1), cmnd.argmin(axis=1))
    # parabolic refinement at that lag (none at the ends, or where the vertex is more than a bin away)
    rows = np.arange(len(lag))
    inner = (lag > 0) & (lag < cmnd.shape[1] - 1)
    prev = cmnd[rows, np.maximum(lag - 1, 0)]
    nxt = cmnd[rows, np.minimum(lag + 1, cmnd.shape[1] - 1)]
    curv = nxt + prev - 2 * cmnd[rows, lag]
    half_slope = (nxt - prev) / 2
    ok = inner & (np.abs(half_slope) < np.abs(curv))
    period = lo + lag + np.where(ok, -half_slope / np.where(ok, curv, 1.0), 0.0)
    return (sr / period).astype(np.float64)


def scale_rms(y: np.ndarray, target_dbfs: float) -> np.ndarray:
    """``y [shape=(n,)]`` float32 scaled to an RMS of ``target_dbfs`` dBFS, in both directions (silence, an RMS under
    1e-6, stays silence): what a pre-trained network's input level was."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if y.size else 0.0
    if rms < 1e-6:
        return np.zeros_like(y)
    return (y * (10 ** (target_dbfs / 20) / rms)).astype(np.float32)
