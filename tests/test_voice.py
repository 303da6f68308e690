"""The ``voice`` feature block: Resemblyzer's GE2E voice encoder, int8 ONNX inside the package (ser.voice)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ser import voice
from ser.features import (
    BLOCKS,
    DEFAULT_BLOCKS,
    VOICE_FUNCTIONALS,
    FeatureConfig,
    extract,
    model_input,
    stats,
    window_stats,
)

SR = 16000


def _voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like buzz (120 Hz harmonics, slowly moving formant) in a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 * (1 + 0.05 * np.sin(2 * np.pi * 2 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k * (1 + np.sin(2 * np.pi * (0.5 + k / 7) * t)) for k in range(1, 25))
    return (0.1 * y + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("m, want", [(1, [0]), (160, [0]), (161, [0, 1]), (301, [0, 141]), (310, [0, 150]),
                                     (311, [0, 76, 151]), (1000, [0, 140, 280, 420, 560, 700, 840])])
def test_partials_cover_the_signal_at_most_max_step_apart(m, want):
    starts = voice.partial_starts(m)
    assert starts == want
    assert starts[0] == 0 and starts[-1] == max(0, m - voice.PARTIAL)
    assert all(0 < b - a <= voice.MAX_STEP for a, b in zip(starts, starts[1:], strict=False))


@pytest.mark.parametrize("m, want", [(1, [0]), (160, [0]), (161, [0]), (251, [45]), (260, [50]), (261, [0, 101]),
                                     (375, [0, 215]), (420, [0, 260]), (421, [0, 130, 261])])
def test_sparse_partials_leave_at_most_a_second_unheard_side_by_side(m, want):
    starts = voice.partial_starts(m, layout="sparse")
    assert starts == want
    heard = np.zeros(m, dtype=bool)
    for s in starts:
        heard[s : s + voice.PARTIAL] = True
    assert (~heard).sum() <= voice.SPARSE_SLACK
    assert len(starts) == 1 or m - voice.PARTIAL * (len(starts) - 1) > voice.SPARSE_SLACK  # no fewer would do
    with pytest.raises(ValueError, match="layout"):
        voice.partial_starts(m, layout="dense")


def test_mel_matches_librosa_melspectrogram():
    """The front end is Resemblyzer's (librosa's melspectrogram: 25 ms Hann, 10 ms hop, 40 bands, power)."""
    import librosa

    y = voice.scaled(_voiced(1.3))
    want = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=400, hop_length=160, n_mels=40).T
    got = voice.mel(y)
    assert got.shape == want.shape == (1 + y.size // 160, voice.N_MELS)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * want.max())


@pytest.mark.parametrize("seconds, layout, n", [(0.5, "cover", 1), (1.59, "cover", 1), (3.0, "cover", 2),
                                                (5.0, "cover", 4), (2.5, "sparse", 1), (3.0, "sparse", 2)])
def test_embed_gives_unit_nonnegative_embeddings_one_per_partial(seconds, layout, n):
    e, centres = voice.embed(_voiced(seconds), layout=layout)
    assert e.dtype == np.float32 and e.shape == (n, voice.DIM) and centres.shape == (n,)
    assert (e >= 0).all()  # ReLU, then L2 normalisation
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert np.all(np.diff(centres) > 0)


def test_embeddings_are_the_same_at_any_input_gain_and_silence_is_finite():
    y = _voiced(2.0, seed=1)
    base, _ = voice.embed(y)
    for db in (-30.0, -10.0, 12.0):
        moved, _ = voice.embed(y * np.float32(10 ** (db / 20)))
        np.testing.assert_allclose(moved, base, atol=5e-3)  # float rounding, then int8 steps in the upper layers
    quiet, _ = voice.embed(np.zeros(SR, dtype=np.float32))
    assert np.isfinite(quiet).all()


def test_different_voices_get_different_embeddings():
    """Sanity of the shipped weights: a buzz and white noise are far apart, two buzzes close."""
    a, _ = voice.embed(_voiced(1.6, seed=1))
    b, _ = voice.embed(_voiced(1.6, seed=2))
    noise, _ = voice.embed(np.random.default_rng(0).standard_normal(int(1.6 * SR)).astype(np.float32))
    assert float(a[0] @ b[0]) > float(a[0] @ noise[0]) + 0.05


def test_frames_hold_the_partial_centred_nearest(monkeypatch):
    monkeypatch.setattr(voice, "embed", lambda y, layout: (np.repeat(np.arange(3, dtype=np.float32)[:, None], voice.DIM, 1),
                                                   np.array([80.0, 155.0, 230.0])))
    got = voice.frames(np.zeros(SR, dtype=np.float32), 310, hop_length=160)[0].astype(int)
    assert got.shape == (310,)
    assert (got[:118] == 0).all() and (got[118:193] == 1).all() and (got[193:] == 2).all()


def test_block_sits_before_level_and_its_stats_are_its_means():
    cfg = FeatureConfig()
    assert DEFAULT_BLOCKS[-2:] == ("voice", "level") and BLOCKS[-3:] == ("voice", "whisper", "level")
    assert cfg.block_sizes["voice"] == voice.DIM
    assert cfg.n_plain == cfg.n_features - voice.DIM - 1
    assert cfg.n_stats == len(cfg.functionals) * cfg.n_plain + len(VOICE_FUNCTIONALS) * voice.DIM + 1
    y = _voiced(2.2, seed=4)
    f = extract(y, cfg)
    x = model_input([f], cfg, "stats")[0]
    assert x.shape == (cfg.n_stats,)
    np.testing.assert_allclose(x[cfg.stats_columns("voice")], f[:, cfg.block_slice("voice")].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(x[: len(cfg.functionals) * cfg.n_plain], stats(f[:, : cfg.n_plain], cfg.functionals))
    assert x[-1] == f[0, -1]
    cols = np.concatenate([cfg.stats_columns(b) for b in cfg.blocks if b != "level"])
    assert sorted(cols.tolist()) == list(range(cfg.n_stats - 1))  # every column but the level, once


def test_configs_without_the_block_keep_their_inputs_and_digest():
    """Bundles trained before the block (the blocks are listed in their config.json) get the same inputs."""
    old = FeatureConfig(blocks=tuple(b for b in DEFAULT_BLOCKS if b != "voice"), trim_noise=False, remove_dc=False,
                         remove_hum=False)  # then
    f = extract(_voiced(1.5), old)
    assert f.shape[1] == old.n_features and old.n_stats == len(old.functionals) * (old.n_features - 1) + 1
    np.testing.assert_array_equal(window_stats(f, old), np.append(stats(f[:, :-1], old.functionals), f[0, -1]))
    assert old.digest() == "b8d66e061e1e"  # models/default of session 17 and its cached features
    assert FeatureConfig().digest() != old.digest()
    with pytest.raises(ValueError, match="16 kHz"):
        FeatureConfig(sample_rate=8000, blocks=("mfcc", "voice"))


def test_the_sparse_layout_is_an_option_with_its_own_digest():
    """The default (and session 18's bundles, whose config.json has no ``voice_layout``) covers each window with
    partials; ``sparse`` changes the numbers, so the cache digest too; the CLI offers every layout."""
    from ser.cli import build_parser

    session18 = FeatureConfig(trim_noise=False, remove_dc=False, remove_hum=False)  # none of these keys then
    first = {k: v for k, v in session18.to_dict().items()
             if k not in ("voice_layout", "trim_noise", "remove_dc", "remove_hum")}
    assert FeatureConfig.from_dict(first) == session18 and FeatureConfig().voice_layout == "cover"
    assert session18.digest() == "3d7661f7f473"  # models/default of sessions 18-20 and its cached features
    assert FeatureConfig(remove_dc=False, remove_hum=False).digest() == "ceed28f741e6"  # models/default, sessions 21-29
    assert FeatureConfig(remove_hum=False).digest() == "f9ece4232064"  # models/default of sessions 30-31
    sparse = FeatureConfig(voice_layout="sparse")
    assert sparse.digest() != FeatureConfig().digest()
    y = _voiced(2.5, seed=3)
    cols = sparse.block_slice("voice")
    assert not np.allclose(extract(y, sparse)[:, cols], extract(y, FeatureConfig())[:, cols])
    with pytest.raises(ValueError, match="voice_layout"):
        FeatureConfig(voice_layout="dense")
    for layout in voice.LAYOUTS:
        assert build_parser().parse_args(["train", "--data", "x", "--out", "y", "--voice-layout", layout]).voice_layout == layout


def test_other_encoder_files_are_refused(tmp_path, monkeypatch):
    """Another build of the encoder would give other numbers than the models were trained on: refused by checksum;
    a missing file is a clear error too."""
    bad = tmp_path / "voice.onnx"
    shutil.copy(voice.MODEL_FILE, bad)
    with open(bad, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(voice.VoiceEncoderUnavailable, match="SHA-256"):
        voice._Model(bad)
    with pytest.raises(voice.VoiceEncoderUnavailable, match="missing"):
        voice._Model(tmp_path / "nothing.onnx")
    assert voice.available()


def _pool_in_worker() -> bool:
    from ser import features

    return features._block_pool() is None


def test_voice_block_beside_the_others_changes_no_number(monkeypatch):
    """``extract`` computes the voice block on a thread beside the other blocks in a main process with two or more
    cores, in line in worker processes (their pools keep the cores busy already); the numbers are the same."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from ser import features

    y = (np.random.default_rng(0).standard_normal(2 * 16000) * 0.05).astype(np.float32)
    y[8000:20000] += (0.3 * np.sin(2 * np.pi * 180 * np.arange(12000) / 16000)).astype(np.float32)
    cfg = FeatureConfig()
    if len(os.sched_getaffinity(0)) >= 2:
        assert features._block_pool() is not None
    threaded = features.extract(y, cfg)
    monkeypatch.setattr(features, "_block_pool", lambda: None)
    np.testing.assert_array_equal(features.extract(y, cfg), threaded)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(_pool_in_worker).result(timeout=600)
