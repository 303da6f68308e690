"""End-to-end ``ser train`` on a small real subset: speaker-independent split, bundle, K-fold."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from support import RAVDESS, requires_data

from ser import dataset
from ser.errors import TrainingError


def _manifest(speakers: dict[str, str]) -> pd.DataFrame:
    rows = [{"path": f"/x/{s}_{i}.wav", "corpus": "ravdess", "speaker": s, "gender": g, "emotion": "sad"}
            for s, g in speakers.items() for i in range(3)]
    rows += [{"path": f"/x/emo_{i}.wav", "corpus": "emodb", "speaker": "emodb_03", "gender": "male",
              "emotion": "sad"} for i in range(3)]
    return pd.DataFrame(rows)


def test_speaker_split_is_disjoint_and_balanced():
    man = _manifest({f"ravdess_{i:02d}": "male" if i % 2 else "female" for i in range(1, 21)})
    s = dataset.speaker_split(man, n_test=4, n_val=2, seed=0)
    assert not (set(s.train) & set(s.test)) and not (set(s.val) & set(s.test)) and not (set(s.train) & set(s.val))
    assert len(s.test) == 4 and len(s.val) == 2 and "emodb_03" in s.train
    genders = {int(x.split("_")[1]) % 2 for x in s.test}
    assert genders == {0, 1}
    folds = dataset.kfold_splits(man, k=5)
    tested = [sp for f in folds for sp in f.test]
    assert sorted(tested) == sorted(f"ravdess_{i:02d}" for i in range(1, 21))
    with pytest.raises(TrainingError, match="not in the data"):
        dataset.speaker_split(man, test=["ravdess_99"])
    # after K-fold the shipped model trains on everyone; without early stopping no one validates
    everyone = dataset.speaker_split(man, n_test=0, n_val=0)
    assert everyone.test == () and everyone.val == () and len(everyone.train) == 21
    assert dataset.speaker_split(man, n_test=4, n_val=0).val == ()
    with pytest.raises(TrainingError, match="need at least 3 speakers"):
        dataset.speaker_split(man[man["speaker"].isin(["ravdess_01", "ravdess_02"])], n_test=1, n_val=1)


def test_out_of_fold_temperature_is_cross_validated():
    """Over-confident out-of-fold probabilities: T > 1, and the held-out-fold ECE drops."""
    from ser.train import calibrate_out_of_fold

    rng = np.random.default_rng(0)
    n, k = 600, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) * 2.0
    logits[np.arange(n), y] += 1.5  # right ~60 % of the time ...
    p = np.exp(3.0 * logits)  # ... but far too sure of itself
    p /= p.sum(axis=1, keepdims=True)
    t, c = calibrate_out_of_fold(y, p, np.arange(n) % 5)
    assert t > 1.5 and len(c["fold_temperatures"]) == 5
    assert c["ece_after"] < c["ece_before"] / 2


@pytest.mark.slow
@requires_data
def test_ser_train_small_subset_end_to_end(tmp_path):
    sub = tmp_path / "ravdess"
    for actor in ("Actor_01", "Actor_02", "Actor_03", "Actor_04"):
        d = sub / actor
        d.mkdir(parents=True)
        for f in sorted((RAVDESS / actor).glob("*.flac")):
            if f.name.split("-")[2] in ("01", "04", "05"):  # neutral, sad, angry: keeps it quick
                (d / f.name).symlink_to(f)
    out = tmp_path / "bundle"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "ser", "train", "--data", str(sub), "--model-type", "tdnn", "--out", str(out),
           "--epochs", "2", "--augment", "1", "--test-speakers", "ravdess_04", "--val-speakers", "ravdess_03",
           "--cache-dir", str(tmp_path / "cache"), "--width", "8"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["labels"] == ["neutral", "sad", "angry"]
    assert cfg["split"]["test"] == ["ravdess_04"] and "ravdess_04" not in cfg["split"]["train"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n"] == 20 and set(metrics["test"]["per_speaker"]) == {"ravdess_04"}
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 2
    eda = json.loads((out / "eda.json").read_text())
    assert set(eda["per_emotion"]) == {"neutral", "sad", "angry"} and len(eda["per_emotion"]["sad"]["mel"]) == 64
    assert "non-commercial" in (out / "MODEL_CARD.md").read_text().lower()
    from ser import Predictor

    pred = Predictor(out)
    res = pred.predict_file(next((sub / "Actor_04").iterdir()))
    assert res.label in cfg["labels"]
    # the second run (the shipped model type, K-fold) reads features from the cache
    cmd2 = [sys.executable, "-m", "ser", "train", "--data", str(sub), "--out", str(out), "--epochs", "3",
            "--augment", "1", "--cache-dir", str(tmp_path / "cache"), "--folds", "2"]
    r2 = subprocess.run([*cmd2, "--val-speakers", "ravdess_03"], capture_output=True, text=True, env=env, timeout=600)
    assert r2.returncode == 2 and "cannot be combined with --folds" in r2.stderr
    r2 = subprocess.run(cmd2, capture_output=True, text=True, env=env, timeout=600)
    assert r2.returncode == 0, r2.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    folds = metrics["folds"]
    assert folds["k"] == 2 and [len(f["test_speakers"]) for f in folds["per_fold"]] == [2, 2]
    assert all(f["val_speakers"] == [] and f["epochs"] == 3 for f in folds["per_fold"])  # linear: no early stop
    assert metrics["test"]["n"] == 80 and "out-of-fold" in metrics["test"]["protocol"]
    assert metrics["calibration"]["fitted_on"].startswith("out-of-fold") and len(metrics["calibration"]["fold_temperatures"]) == 2
    cfg2 = json.loads((out / "config.json").read_text())
    assert cfg2["model_type"] == "linear" and cfg2["temperature"] == metrics["calibration"]["temperature"]
    speakers = [f"ravdess_0{i}" for i in range(1, 5)]
    assert cfg2["split"]["train"] == speakers and cfg2["split"]["test"] == [] and cfg2["split"]["cross_validated"] == speakers
    hist = json.loads((out / "history.json").read_text())
    assert len(hist["loss"]) == 3 and "val_loss" not in hist  # the shipped model: every speaker trains
    assert all(len(h["val_loss"]) == 3 for h in hist["folds"])  # each fold's unseen speakers, watched only
    assert Predictor(out).predict_file(next((sub / "Actor_04").iterdir())).label in cfg["labels"]
