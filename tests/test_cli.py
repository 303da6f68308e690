"""The ``ser`` command line: predict, evaluate, data list; bad input → one line and exit code != 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
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
    out_csv = tmp_path / "res.csv"
    r = ser("predict", *map(str, cases.values()), str(good), "--model", str(tiny_bundle), "--csv", str(out_csv))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "good.wav:" in r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ") and ".wav:" in ln]
    assert len(errors) == len(cases)
    for (name, path), line in zip(cases.items(), errors, strict=True):
        assert line.startswith(f"error: {path}: ") and line.count(str(path)) == 1, (name, line)  # named once
    messages = " ".join(errors)
    for phrase in ("not found", "empty", "silent", "too short"):
        assert phrase in messages
    # every input file is a row of the CSV: failed ones with their reason and empty prediction cells
    import csv

    table = list(csv.DictReader(out_csv.open()))
    assert [t["file"] for t in table] == [*map(str, cases.values()), str(good)]
    for t, line in zip(table[:-1], errors, strict=True):
        assert t["error"] and line.endswith(t["error"])
        assert t["label"] == t["confidence"] == t["duration"] == t["p_neutral"] == "" and "None" not in t.values()
    assert table[-1]["error"] == "" and table[-1]["label"] and float(table[-1]["confidence"]) > 0


def test_json_csv_and_parquet_share_one_schema(tmp_path, tiny_bundle):
    """--json, --csv and --out write the same columns (those of ser.results) with the same values."""
    import pandas as pd

    from ser import load_bundle, results

    sf.write(tmp_path / "a.wav", speechlike(2.0), 16000)
    (tmp_path / "bad.wav").write_text("not audio\n" * 30)
    labels = load_bundle(tiny_bundle).labels
    out_csv, out_pq = tmp_path / "r.csv", tmp_path / "r.parquet"
    r = ser("predict", str(tmp_path), "--model", str(tiny_bundle), "--json", "--csv", str(out_csv),
            "--out", str(out_pq))  # a folder stands for its audio files
    assert r.returncode == 2, r.stderr
    js = json.loads(r.stdout)
    cols = results.columns(labels)
    assert [list(x)[: len(cols)] for x in js] == [cols, cols] and {"timeline", "unadapted"} <= set(js[0])
    csv_df, pq_df = pd.read_csv(out_csv, keep_default_na=False), pd.read_parquet(out_pq)
    assert list(csv_df.columns) == list(pq_df.columns) == cols
    assert list(pq_df["file"]) == [x["file"] for x in js] == [str(tmp_path / "a.wav"), str(tmp_path / "bad.wav")]
    assert pq_df["error"].iloc[0] == "" and "not a readable audio file" in pq_df["error"].iloc[1]
    assert pq_df["label"].iloc[0] == js[0]["label"] and pd.isna(pq_df["label"].iloc[1])
    assert np.allclose(pq_df[[f"p_{k}" for k in labels]].iloc[0], [js[0][f"p_{k}"] for k in labels])
    assert np.allclose(csv_df[[f"p_{k}" for k in labels]].iloc[0].astype(float), [js[0][f"p_{k}"] for k in labels])


def test_every_cli_argument_has_help():
    import argparse

    from ser.cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, p in action.choices.items():
                    walk(p, f"{name} {sub}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "ser")
    assert not missing, missing


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


def test_model_type_choices_match_the_models_table():
    """``--model-type`` is written out in the CLI (importing ser.models would import Keras at start-up)."""
    import argparse

    from ser.cli import build_parser
    from ser.models import DEFAULT_MODEL_TYPE, MODEL_INPUTS, MODEL_TYPES

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    opt = next(a for a in sub.choices["train"]._actions if "--model-type" in a.option_strings)
    assert tuple(opt.choices) == MODEL_TYPES == tuple(MODEL_INPUTS)
    assert opt.default == DEFAULT_MODEL_TYPE
    assert all(name in opt.help for name in MODEL_TYPES)


def test_train_refuses_bad_settings_with_a_message(tmp_path, capsys):
    """A setting its own config refuses (a floor of 0 dB, a negative weight, ...) is one 'error:' line and exit 2
    before anything is read or written, not a traceback."""
    from ser.cli import main

    for flag, value, words in [("--stats-floor-db", "-3", "stats_floor_db must be positive"),
                               ("--voice-weight", "0", "voice_weight must be positive"),
                               ("--prosody-weight", "-1", "prosody_weight"),
                               ("--device-chains", "2", "--device-chains must be in [0, 1]"),
                               ("--big-rooms", "-0.5", "--big-rooms must be in [0, 1]"),
                               ("--mic-chains", "1.5", "--mic-chains must be in [0, 1]"),
                               ("--adapt-lag", "-1", "--adapt-lag must be 0 or more"),
                               ("--babble-talkers", "4-2", "--babble-talkers must be N or LO-HI"),
                               ("--channel-epochs", "-3", "--channel-epochs must be 0 or more"),
                               ("--speech-weight", "0", "speech_weight must be positive"),
                               ("--whisper-weight", "0", "whisper_weight must be positive"),
                               ("--centre-blocks", "mel,voice", "centred_blocks must be plain frame blocks"),
                               ("--whisper-layers", "7", "whisper base has 6 encoder layers"),
                               ("--whisper-layers", "2,9", "whisper base has 6 encoder layers"),
                               ("--whisper-layers", "two", "whisper layers must be numbers like 3 or 2,3"),
                               ("--channel-speech-weight", "-1", "--channel-speech-weight must be positive")]:
        assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m"), flag, value]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and "Traceback" not in err, (flag, err)
    assert not (tmp_path / "m").exists()


def test_babble_talkers_reads_n_or_a_range(capsys):
    from ser.cli import build_parser

    def parse(*args):
        return build_parser().parse_args(["train", "--data", "d", "--out", "o", *args]).babble_talkers

    assert parse() == (6, 6) and parse("--babble-talkers", "3") == (3, 3) and parse("--babble-talkers", "1-6") == (1, 6)
    with pytest.raises(SystemExit):
        parse("--babble-talkers", "many")
    assert "expected N or LO-HI" in capsys.readouterr().err


def test_channel_hidden_reads_layer_widths(capsys):
    from ser.cli import build_parser

    def parse(*args):
        return build_parser().parse_args(["train", "--data", "d", "--out", "o", *args]).channel_hidden

    assert parse() == () and parse("--channel-hidden", "0") == () and parse("--channel-hidden", "256,128") == (256, 128)
    with pytest.raises(SystemExit):
        parse("--channel-hidden", "wide")
    assert "expected comma-separated layer widths" in capsys.readouterr().err


def test_train_whisper_flags_make_the_shipped_feature_config(monkeypatch, tmp_path):
    """``ser train --whisper`` adds the whisper block with the int8 encoder of multilingual base cut to 3 layers
    (the shipped model's recipe); ``--whisper-compute float32``, ``--whisper-weight``, ``--whisper-model`` and
    ``--whisper-layers`` (0: all) reach the feature and model configs."""
    from ser import train as tr
    from ser.cli import main
    from ser.features import DEFAULT_BLOCKS

    seen = []
    monkeypatch.setattr(tr, "train", lambda tc: seen.append(tc) or tmp_path)
    base = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m")]
    assert main(base) == 0 and main([*base, "--whisper"]) == 0
    assert main([*base, "--whisper", "--whisper-compute", "float32", "--whisper-weight", "2"]) == 0
    assert main([*base, "--whisper", "--whisper-model", "tiny.en", "--whisper-layers", "0"]) == 0
    assert main([*base, "--whisper", "--whisper-layers", "3"]) == 0
    plain, shipped, f32, tiny, mixed = seen
    assert mixed.features.whisper_layers == 3  # session 39's: the first 3 layers
    assert plain.features.blocks == DEFAULT_BLOCKS
    assert set(shipped.features.blocks) == {*DEFAULT_BLOCKS, "whisper"} and shipped.features.whisper_compute == "int8"
    assert (shipped.features.whisper_model, shipped.features.whisper_layers) == ("base", (2, 3))
    assert f32.features.whisper_compute == "float32" and f32.model.whisper_weight == 2.0
    assert (tiny.features.whisper_model, tiny.features.whisper_layers) == ("tiny.en", None)  # the recipe before 39
