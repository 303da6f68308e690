"""Bundles and the Predictor: format, timeline, calibration, threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from support import SHIPPED, STEREO_48K, requires_data, speechlike

from ser import Predictor, load_bundle
from ser.bundle import list_bundles
from ser.errors import AudioError, BundleError
from ser.predict import apply_temperature


def test_bundle_contents(tiny_bundle):
    b = load_bundle(tiny_bundle)
    assert b.labels[0] == "neutral" and len(b.labels) == 8
    for name in ("model.keras", "config.json", "history.json", "metrics.json", "eda.json", "MODEL_CARD.md"):
        assert (tiny_bundle / name).exists()
    assert b.model.output_shape[-1] == 8
    assert tiny_bundle in list_bundles(tiny_bundle.parent)


def test_bundle_errors(tmp_path, tiny_bundle):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.keras").write_bytes((tiny_bundle / "model.keras").read_bytes())
    with pytest.raises(BundleError, match="missing config.json"):
        load_bundle(broken)
    cfg = json.loads((tiny_bundle / "config.json").read_text())
    cfg["labels"] = cfg["labels"][:5]
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="5 labels"):
        _ = load_bundle(broken).model


def test_predict_short_and_long(tiny_bundle):
    p = Predictor(tiny_bundle)
    r = p.predict(speechlike(2.0))
    assert r.label in p.labels and sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert r.confidence == max(r.probabilities.values()) and not r.timeline
    long = p.predict(speechlike(12.0))
    assert len(long.timeline) >= 9
    assert long.timeline[0].start == 0.0 and long.timeline[-1].end == pytest.approx(12.0, abs=0.05)
    assert json.loads(json.dumps(long.to_dict()))["timeline"][0]["label"] in p.labels
    # resampling on the way in: a 48 kHz array gives the same duration
    assert p.predict(speechlike(2.0, sr=48000), sr=48000).duration == pytest.approx(2.0, abs=0.01)


def test_warm_up_predicts_once_and_leaves_no_profile_or_state(tiny_bundle):
    p = Predictor(tiny_bundle)
    y = speechlike(2.0, seed=3)
    before = p.predict(y)
    took = p.warm_up()
    assert isinstance(took, float) and took > 0
    assert p.predict(y).probabilities == before.probabilities  # nothing of the warm-up stays in the predictor


def test_predict_rejects_bad_arrays(tiny_bundle):
    p = Predictor(tiny_bundle)
    bad = speechlike(1.0)
    bad[100] = np.inf
    with pytest.raises(AudioError, match="NaN or infinite"):
        p.predict(bad)
    with pytest.raises(AudioError, match="silent"):
        p.predict(np.zeros(32000, np.float32))
    with pytest.raises(AudioError, match="too short"):
        p.predict(speechlike(0.05))


def test_temperature_softens():
    probs = np.array([[0.9, 0.05, 0.05]])
    soft = apply_temperature(probs, 2.0)
    assert soft[0, 0] < 0.9 and soft.sum() == pytest.approx(1.0)
    assert np.allclose(apply_temperature(probs, 1.0), probs)


def test_threads_get_their_own_results(tiny_bundle):
    p = Predictor(tiny_bundle)
    clips = [speechlike(1.5 + 0.25 * i, f0=100 + 30 * i, seed=i) for i in range(6)]
    expected = [p.predict(c).probabilities for c in clips]
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda c: p.predict(c).probabilities, clips * 3))
    for i, g in enumerate(got):
        e = expected[i % len(clips)]
        assert all(abs(g[k] - e[k]) < 1e-5 for k in e)


@requires_data
def test_shipped_model_on_48k_stereo_original():
    if not SHIPPED.exists():
        pytest.skip("models/default not trained yet")
    p = Predictor(SHIPPED)
    r = p.predict_file(STEREO_48K)
    assert r.label in p.labels and 3.0 < r.duration < 4.5
    summary = p.bundle.summary()
    assert summary["uar"] is not None
    # the shipped model: K-fold figures over its speakers (above chance), then trained on all of them
    split = p.bundle.config.split
    assert p.labels and summary["folds"]["uar_mean"] > 1 / len(p.labels)
    assert split["cross_validated"] and set(split["cross_validated"]) <= set(split["train"]) | set(split.get("val", []))
    assert not set(split["train"]) & set(split["test"])
    assert {"uar", "accuracy", "n"} <= set(p.bundle.metrics["test"])
    if (SHIPPED / "adaptation.json").exists():  # retrained with speaker adaptation: its figures are reported
        assert p.adaptive and {"random", "blocked"} <= set(p.bundle.metrics["adaptation"])
        assert summary["adapted_uar"] is not None and summary["unadapted_uar"] is not None
    assert "non-commercial" in p.bundle.card.lower()
