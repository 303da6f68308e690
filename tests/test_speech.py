"""The ``speech`` feature block: Google's speech_embedding from openwakeword's ONNX files (ser.speech)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ser import speech
from ser.features import DEFAULT_BLOCKS, FeatureConfig, extract

SR = 16000


def _tone_in_noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    return y.astype(np.float32)


@pytest.mark.parametrize("seconds, step", [(3.0, 16), (3.0, 8), (1.0, 16)])
def test_embed_gives_one_embedding_per_step(seconds, step):
    y = _tone_in_noise(seconds)
    e = speech.embed(y, step=step)
    mel_frames = len(speech.log_mel(y))
    assert e.dtype == np.float32 and e.shape == ((mel_frames - speech.WINDOW) // step + 1, speech.DIM)
    assert np.isfinite(e).all() and e.std() > 0


@pytest.mark.parametrize("seconds, step", [(2.7, 16), (2.7, 8), (2.7, 24), (2.7, 5), (0.9, 16)])
def test_one_pass_over_the_clip_equals_each_window_through_the_shipped_file(seconds, step):
    """The rewritten network (one pass over the whole log-mel, every step/8-th output) gives exactly what the
    file as openwakeword ships it gives for each 76-frame window on its own (steps not a multiple of 8 too)."""
    import onnxruntime as ort

    shipped = ort.InferenceSession(str(speech.model_dir() / "embedding_model.onnx"),
                                   providers=["CPUExecutionProvider"])
    y = _tone_in_noise(seconds, seed=3)
    spec = speech.log_mel(y)
    want = np.concatenate([shipped.run(None, {shipped.get_inputs()[0].name: spec[s : s + speech.WINDOW][None, ..., None]})[0]
                           .reshape(1, speech.DIM) for s in range(0, len(spec) - speech.WINDOW + 1, step)])
    got = speech.embed(y, step=step)
    assert got.shape == want.shape and len(got) > (1 if seconds > 1 else 0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n", [0, 10, 4000])
def test_short_input_still_gives_one_embedding(n):
    e = speech.embed(np.zeros(n, dtype=np.float32))
    assert e.shape == (1, speech.DIM) and np.isfinite(e).all()


def test_step_must_be_positive():
    with pytest.raises(ValueError, match="step"):
        speech.embed(np.zeros(SR, dtype=np.float32), step=0)
    with pytest.raises(ValueError, match="speech_step"):
        FeatureConfig(speech_step=0)


def test_frames_hold_the_embedding_centred_nearest(monkeypatch):
    """Frame i (centred on sample i·hop) takes the embedding whose 775 ms span is centred nearest."""
    n_emb, step, hop = 12, 16, 160
    monkeypatch.setattr(speech, "embed", lambda y, step: np.repeat(np.arange(n_emb, dtype=np.float32)[:, None],
                                                                     speech.DIM, axis=1))
    got = speech.frames(np.zeros(SR, dtype=np.float32), 300, hop_length=hop, step=step)[0].astype(int)
    centres = (np.arange(n_emb) * step + speech.WINDOW / 2) * 160 + 200
    want = np.abs(np.arange(300)[:, None] * hop - centres[None, :]).argmin(axis=1)
    assert got.shape == (300,) and np.abs(got - want).max() <= 1 and (got == want).mean() > 0.95  # ties only
    assert got[0] == 0 and got[-1] == n_emb - 1 and np.all(np.diff(got) >= 0)


def test_block_is_stacked_before_level_and_ignores_input_gain():
    cfg = FeatureConfig()
    assert cfg.blocks[-4:] == ("speech", "prosody", "voice", "level") and cfg.block_sizes["speech"] == speech.DIM
    y = _tone_in_noise(2.0)
    base = extract(y, cfg)
    block = cfg.block_slice("speech")
    assert base.shape[1] == cfg.n_features and np.isfinite(base).all()
    for db in (-20.0, 20.0):  # level normalisation happens before the network hears the signal
        moved = extract(y * np.float32(10 ** (db / 20)), cfg)
        assert np.abs(moved[:, block] - base[:, block]).max() < 1e-3


def test_configs_without_the_block_keep_their_cache_digest():
    """Bundles and cached features written before the block existed stay valid."""
    old = FeatureConfig(blocks=tuple(b for b in DEFAULT_BLOCKS if b not in ("speech", "prosody", "voice")), trim_noise=False,
                        remove_dc=False, remove_hum=False)
    assert old.digest() == "a94a251136a3"
    assert "speech_step" not in FeatureConfig.from_dict({k: v for k, v in old.to_dict().items()
                                                         if k != "speech_step"}).digest()
    legacy = {k: v for k, v in old.to_dict().items() if k not in ("blocks", "speech_step", "level_db", "functionals")}
    assert "speech" not in FeatureConfig.from_dict(legacy).blocks
    assert FeatureConfig(speech_step=8).digest() != FeatureConfig().digest()
    with pytest.raises(ValueError, match="16 kHz"):
        FeatureConfig(sample_rate=8000)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(speech.importlib.util, "find_spec", lambda name: None)
    assert not speech.available()
    with pytest.raises(speech.SpeechEmbeddingUnavailable, match=r"openwakeword==0\.4\.0"):
        speech.model_dir()


def test_other_model_files_are_refused(tmp_path, monkeypatch):
    """A different build of the network (another openwakeword release or fork) would silently give other
    numbers than the model was trained on: refused by checksum."""
    for name in speech._FILES:
        shutil.copy(speech.model_dir() / name, tmp_path / name)
    with open(tmp_path / "embedding_model.onnx", "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(speech, "model_dir", lambda: tmp_path)
    with pytest.raises(speech.SpeechEmbeddingUnavailable, match="SHA-256"):
        speech._Models()


def test_the_rewritten_network_is_kept_for_later_processes(tmp_path):
    """The first process that loads the block rewrites the network and keeps the graph beside the feature cache; the
    next one loads that graph without importing onnx and embeds alike. A damaged cached graph is rebuilt."""
    code = ("import sys; import numpy as np; from ser import speech; "
            "y = (0.1 * np.sin(np.arange(32000) / 7)).astype(np.float32); e = speech.embed(y); "
            "print('onnx' in sys.modules, speech.graph_cache_path().is_file(), e.shape[0], repr(float(e.sum())))")
    env = dict(os.environ, SER_CACHE_DIR=str(tmp_path / "features"))

    def run() -> list[str]:
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                              timeout=300).stdout.split()

    first, second = run(), run()
    assert first[:2] == ["True", "True"] and int(first[2]) > 1
    assert second == ["False", "True", *first[2:]]  # no rewrite, the same embeddings
    cached = next((tmp_path / "features" / "speech_graph").glob("*.onnx"))
    cached.write_bytes(b"not a graph")
    assert run() == first and cached.stat().st_size > 1000  # rebuilt
