"""ser.dsp (the numpy ports of the librosa routines the features use) against librosa itself: the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from support import RAVDESS, requires_data, speechlike

from ser import dsp

librosa = pytest.importorskip("librosa")
scipy_signal = pytest.importorskip("scipy.signal")


def _signals() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = [speechlike(2.0, seed=1), speechlike(0.3, seed=2), (0.1 * rng.standard_normal(16_000)).astype(np.float32)]
    out.append(np.concatenate([np.zeros(3000, np.float32), speechlike(1.0, seed=3), np.zeros(5000, np.float32)]))
    if RAVDESS.is_dir():
        import soundfile as sf

        for f in sorted(RAVDESS.glob("Actor_0[1-3]/*.flac"))[::25]:
            out.append(sf.read(f, dtype="float32")[0])
    return out


@pytest.mark.parametrize(("n_fft", "win", "n_mels", "fmin", "fmax"), [(512, 400, 64, 50.0, 8000.0),
                                                                   (1024, 1024, 40, 0.0, 7600.0)])
def test_filters_and_window_equal_librosa(n_fft, win, n_mels, fmin, fmax):
    np.testing.assert_array_equal(dsp.hann(win, n_fft),
                                  librosa.util.pad_center(scipy_signal.get_window("hann", win, fftbins=True), size=n_fft))
    got = dsp.mel_filters(sr=16_000, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    np.testing.assert_array_equal(got, librosa.filters.mel(sr=16_000, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(dsp.chroma_filters(sr=16_000, n_fft=n_fft), librosa.filters.chroma(sr=16_000, n_fft=n_fft))
    np.testing.assert_array_equal(dsp.mel_frequencies(n_mels, fmin=fmin, fmax=fmax),
                                  librosa.mel_frequencies(n_mels=n_mels, fmin=fmin, fmax=fmax))
    for order in (1, 2):
        np.testing.assert_array_equal(dsp._savgol_coeffs(9, order), scipy_signal.savgol_coeffs(9, order, deriv=order))


@requires_data
def test_stft_delta_contrast_equal_librosa_on_real_and_generated_audio():
    for y in _signals():
        S = dsp.stft_magnitude(y, n_fft=512, hop_length=160, win_length=400)
        want = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=400, center=True)).astype(np.float32)
        assert S.dtype == np.float32
        np.testing.assert_array_equal(S, want)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(S**2), n_mfcc=20).astype(np.float32)
        for order in (1, 2):
            np.testing.assert_array_equal(dsp.delta(mfcc, order=order, width=9),
                                          librosa.feature.delta(mfcc, order=order, width=9, mode="nearest"))
        np.testing.assert_array_equal(dsp.spectral_contrast(S, sr=16_000, n_fft=512, fmin=100.0, n_bands=6),
                                      librosa.feature.spectral_contrast(S=S, sr=16_000, n_fft=512, fmin=100.0, n_bands=6))
    S = dsp.stft_magnitude(_signals()[0], n_fft=2048, hop_length=512, win_length=2048)  # several bins per band
    np.testing.assert_array_equal(dsp.spectral_contrast(S, sr=16_000, n_fft=2048, fmin=200.0, n_bands=4, quantile=0.1),
                                  librosa.feature.spectral_contrast(S=S, sr=16_000, n_fft=2048, fmin=200.0, n_bands=4,
                                                                    quantile=0.1))


def test_percentiles_equal_numpy():
    from ser.features import _percentiles

    rng = np.random.default_rng(1)
    qs = (1, 10, 25, 50, 75, 90, 99)
    for shape in ((1, 3), (2, 4), (7, 5), (301, 143)):
        f = rng.standard_normal(shape) * 10
        np.testing.assert_array_equal(_percentiles(f, qs), np.percentile(f, qs, axis=0))
    f = rng.standard_normal((50, 3))
    f[5, 1] = np.nan
    np.testing.assert_array_equal(_percentiles(f, qs), np.percentile(f, qs, axis=0))
