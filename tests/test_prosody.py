"""The ``prosody`` feature block: pitch contour and voicing (ser.prosody), and how the linear model weighs it."""

from __future__ import annotations

import numpy as np
import pytest
import support

from ser import prosody
from ser.audio import load, resample
from ser.features import FeatureConfig, extract, model_input, stats, trim

SR = 16000


def _voice(f0_start: float, f0_end: float, seconds: float = 1.5, sr: int = SR) -> np.ndarray:
    """A harmonic 'voice' (5 partials) whose pitch glides exponentially from f0_start to f0_end (Hz)."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = f0_start * (f0_end / f0_start) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    return (0.1 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


@pytest.mark.parametrize("hz", [90.0, 200.0, 400.0])
def test_steady_pitch_is_found_and_voiced(hz):
    f0, periodicity, voiced = prosody.track(_voice(hz, hz), sr=SR, hop_length=160)
    inner = slice(5, -5)  # the first and last frames overhang the signal
    assert np.median(np.abs(12 * np.log2(f0[inner] / hz))) < 0.2  # within a fifth of a semitone
    assert voiced[inner].mean() > 0.95 and np.median(periodicity[inner]) > 0.9


def test_a_glide_gives_a_rising_contour_in_semitones():
    n = 1 + int(1.5 * SR) // 160
    block = prosody.frames(_voice(120.0, 240.0), n, sr=SR, hop_length=160)
    assert block.shape == (3, n) and block.dtype == np.float32
    inner = np.arange(10, n - 10)
    want = 12 * np.log2(120.0 * 2 ** (inner * 0.01 / 1.5) / prosody.REFERENCE_HZ)  # one octave up over 1.5 s
    assert np.median(np.abs(block[0, inner] - want)) < 0.2 and np.all(np.diff(block[0, inner][::10]) > 0)


def test_noise_and_silence_are_unvoiced():
    noise = 0.1 * np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    _, periodicity, voiced = prosody.track(noise, sr=SR, hop_length=160)
    assert voiced.mean() < 0.05 and np.median(periodicity) < 0.3
    block = prosody.frames(np.zeros(SR, dtype=np.float32), 101, sr=SR, hop_length=160)
    assert block.shape == (3, 101) and not block.any()  # no voice: flat zero contour, nothing voiced
    assert prosody.frames(np.zeros(0, dtype=np.float32), 0, sr=SR, hop_length=160).shape == (3, 0)


def test_unvoiced_gaps_carry_the_contour_across():
    y = np.concatenate([_voice(150, 150, 0.5), np.zeros(SR // 2, dtype=np.float32), _voice(300, 300, 0.5)])
    block = prosody.frames(y, 1 + len(y) // 160, sr=SR, hop_length=160)
    st, voiced = block[0], block[2]
    gap = slice(60, 90)
    assert not voiced[gap].any()
    assert np.all(np.diff(st[gap]) > 0)  # interpolated from 150 Hz up to 300 Hz through the silence
    assert st[gap].min() >= 12 * np.log2(1.5) - 0.3 and st[gap].max() <= 12 * np.log2(3.0) + 0.3


@pytest.mark.parametrize("sr", [8000, 22050, 48000])
def test_other_sample_rates_give_the_same_pitch(sr):
    f0, _, voiced = prosody.track(_voice(180, 180, sr=sr), sr=sr, hop_length=sr // 100)
    assert np.median(np.abs(12 * np.log2(f0[voiced] / 180))) < 0.2 and voiced.mean() > 0.9


def test_block_sits_before_level_and_its_functionals_are_found():
    cfg = FeatureConfig()
    assert cfg.blocks[-4:] == ("speech", "prosody", "voice", "level") and cfg.block_sizes["prosody"] == prosody.DIM
    y = _voice(110, 220, 2.0)
    frames = extract(y, cfg)
    x = model_input([frames], cfg, "stats")[0]
    cols = cfg.stats_columns("prosody")
    assert len(cols) == len(cfg.functionals) * prosody.DIM
    np.testing.assert_allclose(x[cols], stats(frames[:, cfg.block_slice("prosody")], cfg.functionals), rtol=1e-5)
    for db in (-20.0, 20.0):  # level normalisation runs first: gain leaves pitch and voicing alone
        moved = extract(y * np.float32(10 ** (db / 20)), cfg)[:, cfg.block_slice("prosody")]
        assert np.abs(moved - frames[:, cfg.block_slice("prosody")]).max() < 1e-3
    with pytest.raises(KeyError, match="level"):
        cfg.stats_columns("level")


def test_emphasis_scales_the_columns_and_survives_save_and_load(tmp_path):
    import keras

    from ser.models import ModelConfig, build_model, emphasise

    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 12)).astype(np.float32)
    model = build_model(ModelConfig(), input_shape=(12,), n_classes=3)
    model.get_layer("standardise").adapt(x)
    emphasise(model, [2, 5], 5.0)
    model.save(tmp_path / "m.keras")
    for m in (model, keras.saving.load_model(tmp_path / "m.keras")):
        z = np.asarray(keras.Model(m.input, m.get_layer("standardise").output)(x))
        np.testing.assert_allclose(z.std(axis=0), [1, 1, 5, 1, 1, 5] + [1] * 6, rtol=1e-3)
    with pytest.raises(ValueError, match="prosody_weight"):
        ModelConfig(prosody_weight=0.0)
    with pytest.raises(ValueError, match="voice_weight"):
        ModelConfig(voice_weight=-1.0)
    with pytest.raises(ValueError, match="speech_weight"):
        ModelConfig(speech_weight=0.0)
    with pytest.raises(ValueError, match="whisper_weight"):
        ModelConfig(whisper_weight=0.0)


@support.requires_data
def test_real_voices_women_sit_higher_than_men():
    """RAVDESS: odd actors are men, even actors women; the same neutral sentence, pitch an octave or so apart."""
    cfg = FeatureConfig()
    medians = {}
    for actor in ("01", "02", "03", "04"):
        y = trim(load(support.RAVDESS / f"Actor_{actor}" / "03-01-01-01-01-01-" f"{actor}.flac"), cfg)
        f0, _, voiced = prosody.track(y, sr=SR, hop_length=160)
        assert voiced.mean() > 0.3
        medians[actor] = float(np.median(f0[voiced]))
    assert max(medians["01"], medians["03"]) < min(medians["02"], medians["04"])
    assert all(70 < m < 350 for m in medians.values())


def _frames_of(y: np.ndarray, length: int = prosody.FRAME, hop: int = 80) -> np.ndarray:
    starts = np.arange(0, len(y) - length, hop)
    return y[starts[:, None] + np.arange(length)[None, :]].astype(np.float64)


@pytest.mark.parametrize("source", ["glide", "real"])
def test_numpy_yin_gives_librosas_pitch(source):
    """``ser.dsp.yin`` ports ``librosa.yin`` (which the prediction path must not import: numba, ~2 s)."""
    librosa = pytest.importorskip("librosa")
    if source == "glide":
        y = resample(_voice(100, 350, 1.0), sr_in=SR, sr_out=prosody.ANALYSIS_RATE)
    else:
        if not support.RAVDESS.is_dir():
            pytest.skip("../shared/data is not present")
        y = resample(load(support.RAVDESS / "Actor_05" / "03-01-05-02-01-01-05.flac"), sr_in=SR,
                     sr_out=prosody.ANALYSIS_RATE)
    fr = _frames_of(y)
    fr -= fr.mean(axis=1, keepdims=True)
    ours = prosody.dsp.yin(fr, sr=prosody.ANALYSIS_RATE, fmin=prosody.FMIN, fmax=prosody.FMAX)
    theirs = librosa.yin(fr.reshape(-1), fmin=prosody.FMIN, fmax=prosody.FMAX, sr=prosody.ANALYSIS_RATE,
                         frame_length=prosody.FRAME, hop_length=prosody.FRAME, center=False)
    assert ours.shape == theirs.shape
    close = np.abs(ours - theirs) < 0.05  # Hz; rounding differs only on frames with no pitch at all
    assert close.mean() > 0.97
