"""ser.denoise: the window's own noise spectrum and spectral subtraction, on generated signals."""

from __future__ import annotations

import numpy as np
import pytest

from ser import denoise
from ser import features as F
from ser.cli import build_parser

SR = 16000
STFT = {"n_fft": 512, "hop_length": 160, "win_length": 400}


def _power(y: np.ndarray) -> np.ndarray:
    return F.spectrogram(y, F.FeatureConfig()) ** 2


def _tone_bursts(seconds: float = 3.0) -> np.ndarray:
    """A 440 Hz tone and its harmonics, on for 0.2 s, off for 0.1 s: voiced stretches and pauses, float32."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * 440 * h * t) / h for h in (1, 2, 3))
    return (0.3 * y * ((t % 0.3) < 0.2)).astype(np.float32)


def test_noise_power_of_noise_alone_is_its_mean_power():
    """White noise alone: the estimate (percentile of averaged power × bias) lands near the true mean power of each
    bin, not a percentile's tenth of it."""
    y = np.random.default_rng(0).normal(0, 0.01, 3 * SR).astype(np.float32)
    P = _power(y)
    est = denoise.noise_power(P)
    assert est.shape == (P.shape[0],)
    ratio = np.median(est[5:-5] / P[5:-5].mean(axis=1))
    assert 0.6 < ratio < 1.6


def test_gain_ignores_the_input_level_and_stays_in_its_range():
    y = _tone_bursts() + np.random.default_rng(1).normal(0, 0.02, 3 * SR).astype(np.float32)
    P = _power(y)
    g = denoise.gain(P)
    assert g.shape == P.shape and g.dtype == np.float32
    assert g.min() >= 10 ** (denoise.FLOOR_DB / 10) - 1e-6 and g.max() <= 1.0
    np.testing.assert_allclose(denoise.gain(P * 100.0), g, atol=1e-5)  # +20 dB
    assert np.all(np.isfinite(denoise.gain(np.zeros_like(P))))  # digital silence: no NaN


def test_suppress_signal_keeps_the_speech_and_lowers_the_noise():
    """A harmonic tone in bursts plus white noise at about 10 dB SNR: the noise (measured on the tone's pauses) falls
    by more than 4 dB, the tone's own power stays within 1.5 dB."""
    clean = _tone_bursts()
    noise = np.random.default_rng(2).normal(0, 0.03, clean.size).astype(np.float32)
    out = denoise.suppress_signal(clean + noise, **STFT)
    assert out.shape == clean.shape and out.dtype == np.float32
    t = np.arange(clean.size) / SR
    pause = ((t % 0.3) > 0.22) & ((t % 0.3) < 0.28)
    drop = 10 * np.log10(np.mean(noise[pause] ** 2) / np.mean(out[pause] ** 2))
    assert drop > 4.0  # power subtraction of the mean leaves a periodogram's peaks above it (about -5 dB here)
    on = ((t % 0.3) > 0.02) & ((t % 0.3) < 0.18)
    kept = 10 * np.log10(np.mean(out[on] ** 2) / np.mean((clean + noise)[on] ** 2))
    assert abs(kept) < 1.5


def test_suppress_signal_with_unit_gain_rebuilds_the_signal():
    y = np.random.default_rng(3).normal(0, 0.1, SR + 123).astype(np.float32)
    np.testing.assert_allclose(denoise.suppress_signal(y, floor_db=0.0, **STFT), y, atol=1e-6)
    assert denoise.suppress_signal(np.zeros(0, np.float32), **STFT).size == 0


def test_feature_config_denoise_setting():
    """None by default (bundles without the key read as off, digests unchanged); a bad value is refused; each mode
    has its own digest; the CLI maps ``--denoise off`` to None."""
    off, spec, sig = F.FeatureConfig(), F.FeatureConfig(denoise="spectral"), F.FeatureConfig(denoise="signal")
    assert off.denoise is None and len({off.digest(), spec.digest(), sig.digest()}) == 3
    assert F.FeatureConfig(remove_dc=False, remove_hum=False).digest() == "ceed28f741e6"  # models/default of sessions 21-29
    assert F.FeatureConfig.from_dict(spec.to_dict()) == spec
    assert F.FeatureConfig.from_dict({k: v for k, v in spec.to_dict().items() if k != "denoise"}) == off
    with pytest.raises(ValueError, match="unknown denoise 'wiener'"):
        F.FeatureConfig(denoise="wiener")
    args = ["train", "--data", "x", "--out", "y"]
    assert build_parser().parse_args(args).denoise == "off"
    assert build_parser().parse_args([*args, "--denoise", "spectral"]).denoise == "spectral"


def test_extract_with_denoise_changes_the_blocks_it_should():
    """'spectral' changes the spectral blocks only (the waveform encoders hear the signal as it was); 'signal'
    changes the waveform, so the encoders' blocks too. The shapes stay."""
    blocks = ("mfcc", "mel", "prosody")
    y = _tone_bursts(2.0) + np.random.default_rng(4).normal(0, 0.03, 2 * SR).astype(np.float32)
    off, spec, sig = (F.extract(y, F.FeatureConfig(blocks=blocks, denoise=d)) for d in (None, "spectral", "signal"))
    cfg = F.FeatureConfig(blocks=blocks)
    mel, pros = cfg.block_slice("mel"), cfg.block_slice("prosody")
    assert off.shape == spec.shape == sig.shape
    assert np.abs(spec[:, mel] - off[:, mel]).mean() > 1.0  # dB: the noise floor fell
    np.testing.assert_array_equal(spec[:, pros], off[:, pros])
    assert not np.array_equal(sig[:, pros], off[:, pros])
