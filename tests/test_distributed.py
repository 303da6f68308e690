"""``ser predict --engine ray`` (ser.distributed): Ray Data batch inference into one Parquet file.

One local Ray (2 CPUs, a 200 MB object store) serves the module and is shut down at its end; its workers run at
the tests' own priority (Ray starts them niced to 15, which starved them behind other busy processes on a shared CI
machine: the real-clip test took 40 s alone and 519-548 s beside two busy loops). Checked: the
lazy listing; a folder mixing good and broken files (every file a row, failures with their reason, results
equal to the in-process Predictor); resume after an interrupted run; the CLI's errors; and (slow) all 1,600+
clips of ../shared/data scored identically by Ray with 2 workers and by the local path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support import EMODB, RAVDESS, SHIPPED, requires_data, speechlike

from ser import Predictor, results
from ser.corpora import parse_name
from ser.distributed import iter_audio_files, parts_dir
from ser.errors import SERError
from ser.testing import round_robin

SR = 16_000


# -- the listing (no Ray) ----------------------------------------------------------------------------


def test_iter_audio_files_walks_folders_and_globs_lazily(tmp_path):
    for rel in ("a/1.wav", "a/2.flac", "a/sub/3.mp3", "a/.hidden.wav", "a/notes.txt", "a/.git/4.wav", "b/5.ogg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    a, b = tmp_path / "a", tmp_path / "b"
    files = iter_audio_files([a, str(tmp_path / "b" / "*.ogg"), a / "1.wav", tmp_path / "missing.wav",
                              str(tmp_path / "none" / "*.wav")])
    assert next(files) == str(a / "1.wav")  # a generator: the first file comes before the rest is listed
    assert list(files) == [str(a / "2.flac"), str(a / "sub" / "3.mp3"), str(b / "5.ogg"),
                           str(tmp_path / "missing.wav"), str(tmp_path / "none" / "*.wav")]  # 1.wav once


# -- Ray ------------------------------------------------------------------------------------------------

ray = pytest.importorskip("ray")
from ser.distributed import predict_to_parquet  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _ray_workers_at_normal_priority():
    """``RAY_worker_niceness=0`` while this module runs: read by every Ray it starts, the CLI's subprocess included."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_worker_niceness", "0")
        yield


def _ser(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "ser", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _read(path: Path):
    import pandas as pd

    return pd.read_parquet(path)


def _wav_bytes(y: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, y, SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, dict[str, str | None]]:
    """A folder of good and broken files: ``{path: expected error phrase or None}`` (README.txt is ignored)."""
    root = tmp_path_factory.mktemp("mixed")
    (root / "sub").mkdir()
    expect: dict[str, str | None] = {}
    for i in range(6):
        p = root / ("sub" if i % 2 else "") / f"good_{i}.wav"
        sf.write(p, speechlike(1.5 + 0.5 * i, f0=110 + 15 * i, seed=i), SR)
        expect[str(p)] = None
    data = _wav_bytes(speechlike(3.0, seed=9))
    (root / "cut_short.wav").write_bytes(data[: 44 + 2 * SR])  # header 3 s, data 1 s: works, with a warning
    expect[str(root / "cut_short.wav")] = None
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("not audio\n" * 40)
    sf.write(root / "tiny.flac", speechlike(0.05), SR)
    sf.write(root / "silence.wav", np.zeros(SR, np.float32), SR)
    expect.update({str(root / "empty.wav"): "empty", str(root / "notes.wav"): "not a readable audio file",
                   str(root / "tiny.flac"): "too short", str(root / "silence.wav"): "silent"})
    (root / "README.txt").write_text("not audio: not listed")
    return root, expect


def test_cli_engine_ray_one_command(mixed, tiny_bundle, tmp_path):
    """The whole command on a Ray it starts itself (1 worker): every file a row, exit status 2 (some failed).

    First in this module, before the shared Ray fixture starts, so that its own local Ray is the only one.
    """
    root, expect = mixed
    out = tmp_path / "results.parquet"
    r = _ser("predict", str(root), "--engine", "ray", "--workers", "1", "--out", str(out), "--model", str(tiny_bundle))
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "MPEG" not in r.stderr
    df = _read(out)
    assert sorted(df["file"]) == sorted(expect)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == sum(v is not None for v in expect.values())
    assert f"{len(expect)} rows written to {out}" in r.stderr
    assert not parts_dir(out).exists() and not list(tmp_path.glob(".*tmp"))  # nothing left beside the output


def test_cli_engine_ray_errors(tmp_path, monkeypatch, capsys):
    from ser.cli import main

    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(1.0), SR)
    assert main(["predict", str(wav), "--engine", "ray"]) == 2
    assert "give --out" in capsys.readouterr().err
    assert main(["predict", str(wav), "--engine", "ray", "--out", str(tmp_path / "r.parquet"), "--json"]) == 2
    assert "local engine" in capsys.readouterr().err
    assert main(["predict", str(wav), "--resume"]) == 2
    assert "--engine ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["predict", str(wav), "--engine", "ray", "--out", str(tmp_path / "r.parquet")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "pip install 'ser[ray]'" in err[0], err


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray for the module: 2 CPUs, a 200 MB object store; shut down at the end."""
    ray.init(address="local", num_cpus=2, object_store_memory=200 * 2**20, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_mixed_folder_every_file_a_row_equal_to_local(local_ray, mixed, tiny_bundle, tmp_path):
    root, expect = mixed
    out = tmp_path / "r.parquet"
    s = predict_to_parquet([root], out, model=tiny_bundle, workers=2)
    assert (s.rows, s.scored, s.failed, s.kept) == (len(expect), len(expect), 4, 0)
    df = _read(out).set_index("file")
    assert sorted(df.index) == sorted(expect) and list(df.columns) == results.columns(Predictor(tiny_bundle).labels)[1:]
    pred = Predictor(tiny_bundle)
    for path, phrase in expect.items():
        row = df.loc[path]
        if phrase is None:
            local = pred.predict_file(path)
            assert row["error"] == "" and row["label"] == local.label
            assert np.allclose([row[f"p_{k}"] for k in pred.labels], [local.probabilities[k] for k in pred.labels],
                               atol=1e-6, rtol=0)
            assert row["duration"] == pytest.approx(local.duration) and row["warnings"] == "; ".join(local.warnings)
        else:
            assert phrase in row["error"] and path not in row["error"]
            assert row[["label", "confidence", "duration", "uncertain", "p_neutral"]].isna().all()
    assert "truncated" in df.loc[str(root / "cut_short.wav"), "warnings"]
    assert not parts_dir(out).exists()


def test_resume_after_an_interrupted_run(local_ray, mixed, tiny_bundle, tmp_path):
    """An interrupted run left an output with 3 rows and a committed part with 2 more; --resume scores only the
    rest, keeps the old rows as they were, and ends with every file exactly once."""
    root, expect = mixed
    pred = Predictor(tiny_bundle)
    files = list(iter_audio_files([root]))
    assert sorted(files) == sorted(expect)
    old = [results.result_row(f, pred.predict_file(f), pred.labels) for f in files[:3] if expect[f] is None]
    old[0]["warnings"] = "marker: kept from the first run"
    out = tmp_path / "r.parquet"
    results.write_parquet(old, out, pred.labels)
    part_rows = [results.error_row(f, "marker: from a part", pred.labels) for f in files[3:5]]
    parts_dir(out).mkdir()
    results.write_parquet(part_rows, parts_dir(out) / "part-000000.parquet", pred.labels)
    seen: list[int] = []
    s = predict_to_parquet([root], out, model=tiny_bundle, workers=2, resume=True, on_rows=seen.append)
    done = {r["file"] for r in old + part_rows}
    assert s.scored == sum(seen) == len(files) - len(done) and s.kept == len(done) and s.rows == len(files)
    df = _read(out)
    assert sorted(df["file"]) == sorted(files)  # every file once
    kept = df.set_index("file")
    assert kept.loc[old[0]["file"], "warnings"] == "marker: kept from the first run"
    assert all(kept.loc[r["file"], "error"] == "marker: from a part" for r in part_rows)
    assert not parts_dir(out).exists()
    # resuming a finished output scores nothing and changes nothing
    s = predict_to_parquet([root], out, model=tiny_bundle, workers=2, resume=True)
    assert (s.scored, s.rows) == (0, len(files)) and _read(out).equals(df)
    # an output of other columns (another model) is refused, not mixed in
    other = tmp_path / "other.parquet"
    results.write_parquet(old, other, ["a", "b"] + list(pred.labels)[2:])  # wrong columns
    with pytest.raises(SERError, match="other columns"):
        predict_to_parquet([root], other, model=tiny_bundle, workers=2, resume=True)


def _ray_matches_local(files: list[str], inputs: list[str], model, out) -> dict[str, int]:
    """Ray with 2 workers over ``inputs`` gives ``files``' local-path labels and probabilities (within 1e-6)."""
    pred = Predictor(model)
    local = {src: res for src, res in pred.predict_many(files)}
    s = predict_to_parquet(inputs, out, model=model, workers=2)
    assert s.rows == s.scored == len(files)
    df = _read(out).set_index("file")
    assert sorted(df.index) == sorted(files)
    ok = [f for f in files if not isinstance(local[f], Exception)]
    assert (df.loc[ok, "error"] == "").all() and (df.drop(index=ok)["error"] != "").all()
    assert list(df.loc[ok, "label"]) == [local[f].label for f in ok]
    cols = [f"p_{k}" for k in pred.labels]
    want = np.array([[local[f].probabilities[k] for k in pred.labels] for f in ok])
    assert np.abs(df.loc[ok, cols].to_numpy(float) - want).max() <= 1e-6
    return {"files": len(files), "failed": int((df["error"] != "").sum())}


@pytest.mark.slow
@requires_data
@pytest.mark.skipif(not EMODB.is_dir(), reason="../shared/data/emodb is not present")
def test_all_real_clips_match_the_local_path(local_ray, tiny_bundle, tmp_path):
    """Every clip of RAVDESS and EMO-DB (1,600+) through Ray equals the local path (the tiny bundle: the
    decoding, windowing and batching of every real file, without the cost of the speech block's network);
    then a spread of 96 of them with the shipped model."""
    inputs = [str(RAVDESS), str(EMODB)]
    files = list(iter_audio_files(inputs))
    assert len(files) >= 1600
    print(json.dumps(_ray_matches_local(files, inputs, tiny_bundle, tmp_path / "all.parquet")))
    sample = round_robin(sorted(files), lambda f: parse_name(f)["speaker"], 96)
    print(json.dumps(_ray_matches_local(sample, sample, SHIPPED, tmp_path / "shipped.parquet")))
