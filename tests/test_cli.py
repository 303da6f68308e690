"""The ``ser`` command line: predict, evaluate, data list; bad input → one line and exit code != 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf
from support import RAVDESS, STEREO_48K, requires_data, speechlike


def ser(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "ser", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


@requires_data
def test_predict_single_batch_json_csv(tmp_path, tiny_bundle):
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([speechlike(4.0, seed=i) for i in range(3)]), 16000)
    r = ser("predict", str(STEREO_48K), "--model", str(tiny_bundle))
    assert r.returncode == 0, r.stderr
    assert "03-01-02-01-01-02-01.wav:" in r.stdout and "%" in r.stdout
    out_csv = tmp_path / "res.csv"
    r = ser("predict", str(STEREO_48K), str(long), "--model", str(tiny_bundle), "--json", "--csv", str(out_csv))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data) == 2 and data[1]["timeline"] and not data[0]["timeline"]
    rows = out_csv.read_text().strip().splitlines()
    assert rows[0].startswith("file,label,confidence") and len(rows) == 3


def test_predict_bad_input_one_line_each_nonzero(tmp_path, tiny_bundle):
    """Missing, empty, non-audio, silent and too-short files: one 'error:' line each, exit code 2."""
    cases = {name: tmp_path / f"{name}.wav" for name in ("missing", "empty", "text", "silence", "tiny")}
    cases["empty"].write_bytes(b"")
    cases["text"].write_text("hello, I am not a sound file\n" * 50)
    sf.write(cases["silence"], np.zeros(32000, np.float32), 16000)
    sf.write(cases["tiny"], speechlike(0.05), 16000)
    good = tmp_path / "good.wav"
    sf.write(good, speechlike(2.0), 16000)
    r = ser("predict", *map(str, cases.values()), str(good), "--model", str(tiny_bundle))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "good.wav:" in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ") and ".wav:" in ln]
    assert len(errors) == len(cases)
    for (name, path), line in zip(cases.items(), errors, strict=True):
        assert str(path) in line, name
    messages = " ".join(errors)
    for phrase in ("not found", "empty", "silent", "too short"):
        assert phrase in messages


def test_missing_bundle_is_a_clear_error(tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, speechlike(1.0), 16000)
    r = ser("predict", str(wav), "--model", str(tmp_path / "no-model"))
    assert r.returncode == 2 and "model bundle not found" in r.stderr and "Traceback" not in r.stderr


@requires_data
def test_data_list_and_evaluate(tmp_path, tiny_bundle):
    r = ser("data", "list", str(RAVDESS), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["n_clips"] == 1200
    out = tmp_path / "m.json"
    subset = tmp_path / "subset" / "Actor_19"
    subset.mkdir(parents=True)
    for f in sorted((RAVDESS / "Actor_19").glob("*.flac"))[:16]:
        (subset / f.name).symlink_to(f)
    r = ser("evaluate", "--model", str(tiny_bundle), "--data", str(subset.parent), "--json", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    assert {"uar", "accuracy", "n", "skipped", "per_class", "confusion", "labels"} <= set(m)
    assert m["n"] == 16 and len(m["confusion"]) == len(m["labels"])


def test_evaluate_bad_folder(tmp_path, tiny_bundle):
    r = ser("evaluate", "--model", str(tiny_bundle), "--data", str(tmp_path / "nothing"))
    assert r.returncode == 2 and r.stderr.startswith("error:")
