"""Features on generated signals: shapes, determinism, config round-trip, cache."""

from __future__ import annotations

import numpy as np
import pytest
from support import speechlike

from ser import features as F


def test_extract_shapes_and_blocks():
    cfg = F.FeatureConfig()
    y = speechlike(2.0)
    fr = F.extract(y, cfg)
    assert fr.dtype == np.float32 and fr.shape[1] == cfg.n_features
    assert abs(fr.shape[0] - (1 + y.size // cfg.hop_length)) <= 1
    assert np.isfinite(fr).all()
    chroma = fr[:, cfg.block_slice("chroma")]
    assert chroma.shape[1] == 12 and chroma.max() <= 1.0 + 1e-6
    assert np.array_equal(fr, F.extract(y, cfg))


def test_config_roundtrip_and_validation():
    cfg = F.FeatureConfig(n_mfcc=13, blocks=("mel", "mfcc"))
    assert cfg.blocks == ("mfcc", "mel")
    assert F.FeatureConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.digest() != F.FeatureConfig().digest()
    with pytest.raises(ValueError):
        F.FeatureConfig(blocks=("mfcc", "wavelets"))
    with pytest.raises(ValueError):
        F.FeatureConfig.from_dict({"n_mfcc": 13, "bogus": 1})


def test_trim_removes_silence():
    cfg = F.FeatureConfig()
    y = np.concatenate([np.zeros(16000, np.float32), speechlike(1.0), np.zeros(8000, np.float32)])
    start, end = F.trim_bounds(y, cfg)
    assert 15000 < start <= 16000 and 32000 <= end < 33500


def test_windows_and_model_inputs():
    cfg = F.FeatureConfig()
    frames, spans = F.clip_windows(speechlike(2.0), cfg)
    assert len(frames) == 1
    frames, spans = F.clip_windows(speechlike(10.0), cfg)
    assert len(frames) == 8 and spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(10.0, abs=0.01)
    for kind, shape in [("stats", (8, len(cfg.functionals) * cfg.n_features)), ("sequence", (8, cfg.window_frames, cfg.n_features)),
                        ("logmel", (8, cfg.window_frames, cfg.n_mels))]:
        assert F.model_input(frames, cfg, kind).shape == shape
    short = F.model_input([frames[0][:50]], cfg, "sequence")
    assert np.all(short[0, 50:] == 0) and np.any(short[0, :50] != 0)


def test_feature_cache_roundtrip(tmp_path):
    cfg = F.FeatureConfig()
    cache = F.FeatureCache(tmp_path)
    frames = [np.ones((5, 3), np.float32), np.zeros((2, 3), np.float32)]
    assert cache.get("abc123", cfg) is None
    cache.put("abc123", cfg, "", frames)
    got = cache.get("abc123", cfg)
    assert [g.shape for g in got] == [(5, 3), (2, 3)] and cache.hits == 1
    assert cache.get("abc123", cfg, "aug1") is None
    assert not list(tmp_path.rglob("*.tmp"))


def test_extract_all_reads_hits_in_process_and_sends_only_misses_to_workers(tmp_path, monkeypatch):
    import soundfile as sf

    from ser import dataset

    cfg = F.FeatureConfig()
    paths = []
    for i in range(10):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, speechlike(seconds=1.0, seed=i), cfg.sample_rate)
        paths.append(str(p))
    jobs = [dataset.Job(p, 0, 0, 1.0) for p in paths]
    cache = tmp_path / "cache"
    first = dataset.extract_all(jobs[:2], cfg, cache_dir=cache, workers=1)  # two cached, eight not

    spawned = []

    class RecordingPool(dataset.ProcessPoolExecutor):
        def map(self, fn, items, **kw):
            items = list(items)
            spawned.append(len(items))
            return super().map(fn, items, **kw)

    monkeypatch.setattr(dataset, "ProcessPoolExecutor", RecordingPool)
    got = dataset.extract_all(jobs, cfg, cache_dir=cache, workers=2)
    assert spawned == [8]  # only the misses went to the workers
    assert all(np.array_equal(a, b) for a, b in zip(got[0], first[0], strict=True))
    assert [len(g) for g in got] == [1] * 10 and got[5][0].shape[1] == cfg.n_features
    again = dataset.extract_all(jobs, cfg, cache_dir=cache, workers=2)
    assert spawned == [8]  # everything cached now: no worker process at all
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(again, got, strict=True))
