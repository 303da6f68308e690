#!/usr/bin/env python
"""Benchmarks of the product on this machine (not part of the tests).

    python benchmarks/run.py [--quick] [--json OUT] [--model DIR] [--data DIR]

Measures, with the model bundle ``--model`` (default ``models/default``, else the newest ``runs/*``
bundle, else a tiny untrained one) and the real clips in ``--data`` (default ``../shared/data``):

* warm ``Predictor`` latency of a 4 s clip (median, p95; and adapted: a speaker profile applied and updated) and
  its real-time factor;
* batch throughput of ``Predictor.predict_many`` over real clips (the predictor has no feature cache);
* the training feature stage (``ser.dataset.extract_all``, with the bundle's augmentation) cold vs cached;
* the live path (``ser.live.LiveAnalyzer``: 2.5 s windows every 0.5 s, fed 20 ms WebRTC-like frames in
  real time): real-time factor and added latency;
* this project's prediction path vs a seed-style baseline (``librosa.load`` at 22 050 Hz, 40 MFCC averaged
  over time, a per-file ``model.predict`` on a small Keras LSTM, as in the seed write-ups) on the same clips;
* the shipped model's training time (from its ``metrics.json``);
* cold start of ``ser predict`` (process launch to result) and of the app server (``streamlit run app.py``
  to ``/_stcore/health`` answering, then ``GET /``).

Prints a table with each target next to its figure and writes everything as JSON (default
``benchmarks/results.json``). ``--quick`` uses small repeat counts (a minute or two of CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
SR = 16_000

#: name -> (target text, check(value) -> bool)
TARGETS = {
    "warm_4s_median_ms": ("<= 25 ms", lambda v: v <= 25.0),
    "warm_4s_adapted_median_ms": ("<= 25 ms", lambda v: v <= 25.0),
    "batch_clips_per_s": (">= 50 clips/s", lambda v: v >= 50.0),
    "feature_stage_cached_speedup": (">= 20x", lambda v: v >= 20.0),
    "live_rtf": ("<= 0.05", lambda v: v <= 0.05),
    "vs_seed_ratio": (">= 5x", lambda v: v >= 5.0),
}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# -- inputs ------------------------------------------------------------------------------------------


def pick_model(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    default = ROOT / "models" / "default"
    if (default / "config.json").exists() and (default / "model.keras").exists():
        return default
    runs = sorted((p for p in (ROOT / "runs").glob("*") if (p / "model.keras").exists() and (p / "config.json").exists()),
                  key=lambda p: (p / "model.keras").stat().st_mtime)
    if runs:
        return runs[-1]
    from ser.testing import make_tiny_bundle

    log("no trained bundle found: using a tiny untrained CNN bundle (timings only)")
    return make_tiny_bundle(tmp / "tiny", model_type="cnn")


def real_clips(data: Path, n: int, tmp: Path) -> list[Path]:
    """``n`` RAVDESS clips spread over actors (or generated speech-like clips when there is no data)."""
    files = sorted((data / "ravdess").glob("Actor_*/*.flac")) if (data / "ravdess").is_dir() else []
    from ser.testing import round_robin, speechlike

    if files:
        return round_robin(files, lambda f: f.parent.name, n)  # any prefix covers many speakers
    import soundfile as sf

    d = tmp / "generated"
    d.mkdir(exist_ok=True)
    out = []
    for i in range(n):
        p = d / f"clip_{i:04d}.wav"
        sf.write(p, speechlike(3.5, f0=100 + 7 * (i % 20), seed=i), SR)
        out.append(p)
    return out


def clip_of(seconds: float, source: Path) -> np.ndarray:
    """``seconds`` of real speech at 16 kHz: ``source`` repeated and cut."""
    from ser.audio import load

    y = load(source)
    reps = int(np.ceil(seconds * SR / y.size))
    return np.tile(y, reps)[: int(seconds * SR)].copy()


# -- measurements ---------------------------------------------------------------------------------


def bench_warm_latency(pred, clips: list[Path], runs: int) -> dict:
    from ser.features import clip_windows

    y = clip_of(4.0, clips[0])
    for _ in range(5):
        pred.predict(y)
    total, feats, model = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        pred.predict(y)
        total.append(time.perf_counter() - t0)
    for _ in range(max(10, runs // 2)):
        t0 = time.perf_counter()
        frames, _ = clip_windows(y, pred.features)
        t1 = time.perf_counter()
        pred.predict_frames(frames)
        t2 = time.perf_counter()
        feats.append(t1 - t0)
        model.append(t2 - t1)
    adapted = []
    if pred.adaptive:  # a session under way: the profile already adapts, and every clip updates it
        profile = pred.new_profile("benchmark")
        for c in clips[1:6]:
            pred.predict(clip_of(4.0, c), profile=profile)
        for _ in range(runs):
            t0 = time.perf_counter()
            pred.predict(y, profile=profile)
            adapted.append(time.perf_counter() - t0)
    med = statistics.median(total)
    return {
        "runs": runs,
        "clip_s": 4.0,
        "adapted_median_ms": 1000 * statistics.median(adapted) if adapted else None,
        "windows": len(clip_windows(y, pred.features)[0]),
        "median_ms": 1000 * med,
        "p95_ms": 1000 * pct(total, 95),
        "rtf": med / 4.0,
        "features_median_ms": 1000 * statistics.median(feats),
        "model_median_ms": 1000 * statistics.median(model),
    }


def bench_batch(pred, clips: list[Path]) -> dict:
    list(pred.predict_many(clips[:3]))
    t0 = time.perf_counter()
    res = list(pred.predict_many(clips))
    dt = time.perf_counter() - t0
    errors = sum(1 for _, r in res if isinstance(r, Exception))
    audio_s = sum(r.duration for _, r in res if not isinstance(r, Exception))
    return {"clips": len(clips), "errors": errors, "seconds": dt, "clips_per_s": len(clips) / dt,
            "audio_s_per_s": audio_s / dt}


def recipe_config(bundle):
    """The :class:`ser.train.TrainConfig` the bundle was trained with (its config's ``training`` settings)."""
    import dataclasses

    from ser.models import ModelConfig
    from ser.train import TrainConfig

    d = bundle.config.extra.get("training", {})
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"model", "features"}
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
    model = {k: tuple(v) if isinstance(v, list) else v for k, v in bundle.config.model.items()}
    return TrainConfig(**kw, features=bundle.features, model=ModelConfig(**model))


def bench_feature_stage(bundle, clips: list[Path], workers: int, tmp: Path) -> dict:
    """The training feature stage of the bundle's recipe on ``clips`` as training clips (each original and every copy
    the recipe makes of it: :func:`ser.train.training_jobs`), cold then cached."""
    import pandas as pd

    from ser import dataset
    from ser.train import training_jobs

    man = pd.DataFrame({"path": [str(p) for p in clips], "speaker": [p.parent.name for p in clips]})
    jobs = training_jobs(recipe_config(bundle), man)
    out = {"clips": len(clips), "jobs_per_clip": len(jobs) / max(1, len(clips)), "jobs": len(jobs),
           "workers": workers}
    cache = tmp / "feature-cache"
    for phase in ("cold", "cached"):
        t0 = time.perf_counter()
        dataset.extract_all(jobs, bundle.features, cache_dir=cache, use_cache=True, workers=workers,
                            desc=f"features ({phase})")
        dt = time.perf_counter() - t0
        out[f"{phase}_s"] = dt
        out[f"{phase}_jobs_per_s"] = len(jobs) / dt
    out["speedup"] = out["cold_s"] / out["cached_s"]
    # the same cached read without worker processes: what the cache itself costs
    t0 = time.perf_counter()
    dataset.extract_all(jobs, bundle.features, cache_dir=cache, use_cache=True, workers=1, desc="features (cached, 1)")
    out["cached_in_process_s"] = time.perf_counter() - t0
    out["speedup_in_process"] = out["cold_s"] / out["cached_in_process_s"]
    shutil.rmtree(cache, ignore_errors=True)
    return out


def bench_live(pred, clips: list[Path], seconds: float) -> dict:
    import soxr

    try:
        from ser.live import LiveAnalyzer
    except ImportError:
        LiveAnalyzer = None
    from ser.audio import load

    # a continuous stream of real speech as WebRTC delivers it: 48 kHz stereo int16, 20 ms frames
    speech = np.concatenate([load(c) for c in clips[: max(2, int(seconds // 3) + 2)]])
    speech = np.tile(speech, int(np.ceil(seconds * SR / speech.size)))[: int(seconds * SR)]
    y48 = soxr.resample(speech, SR, 48000)
    pcm = (np.clip(y48, -1, 1) * 32767).astype(np.int16)
    frame = 960
    if LiveAnalyzer is None:  # fallback: 2.5 s windows every 0.5 s
        lat = []
        for end in range(int(2.5 * SR), speech.size, int(0.5 * SR)):
            t0 = time.perf_counter()
            pred.predict(speech[end - int(2.5 * SR) : end])
            lat.append(time.perf_counter() - t0)
        return {"path": "Predictor.predict on 2.5 s windows every 0.5 s", "windows": len(lat),
                "mean_latency_ms": 1000 * statistics.mean(lat), "rtf": statistics.mean(lat) / 0.5,
                "mean_added_latency_ms": 1000 * statistics.mean(lat)}
    la = LiveAnalyzer(pred, window_s=2.5, step_s=0.5)
    la.start(warmup=True)
    t_wait = time.perf_counter()
    while la.warmup_s is None and time.perf_counter() - t_wait < 60:
        time.sleep(0.05)
    t0 = time.perf_counter()
    n_frames = pcm.size // frame
    for i in range(n_frames):
        due = t0 + i * frame / 48000
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        la.push(np.stack([pcm[i * frame : (i + 1) * frame]] * 2, axis=1).reshape(-1), sr=48000, channels=2)
    time.sleep(1.0)  # let the last step finish
    s = la.stats()
    la.stop()
    return {
        "path": "ser.live.LiveAnalyzer (2.5 s window, 0.5 s step, 20 ms 48 kHz stereo frames in real time)",
        "stream_s": seconds,
        "updates": s.updates,
        "predictions": s.predictions,
        "quiet": s.quiet,
        "skipped_steps": s.skipped_steps,
        "warmup_s": la.warmup_s,
        "mean_latency_ms": 1000 * s.mean_latency_s,
        "max_latency_ms": 1000 * s.max_latency_s,
        "mean_added_latency_ms": 1000 * s.mean_added_latency_s,
        "rtf": s.rtf,
        "mean_push_ms": s.mean_push_ms,
        "errors": s.errors,
    }


def seed_model(n_classes: int = 8):
    """A seed-style LSTM over 40 time-averaged MFCCs, input (40, 1) (seed 001's first architecture)."""
    import keras
    from keras import layers

    model = keras.Sequential([
        keras.Input(shape=(40, 1)),
        layers.LSTM(128, return_sequences=True),
        layers.Dropout(0.2),
        layers.LSTM(64),
        layers.Dropout(0.2),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(n_classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def seed_predict(model, path: Path) -> int:
    import librosa

    y, sr = librosa.load(str(path), sr=22050)
    mfcc = np.mean(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).T, axis=0)
    return int(np.argmax(model.predict(mfcc[None, :, None], verbose=0)))


def bench_vs_seed(pred, clips: list[Path]) -> dict:
    model = seed_model(len(pred.labels))
    for c in clips[:3]:  # warm both
        seed_predict(model, c)
        pred.predict_file(c)
    t0 = time.perf_counter()
    for c in clips:
        seed_predict(model, c)
    seed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in clips:
        pred.predict_file(c)
    ours_s = time.perf_counter() - t0
    return {"clips": len(clips), "seed_s": seed_s, "ours_s": ours_s, "seed_clips_per_s": len(clips) / seed_s,
            "ours_clips_per_s": len(clips) / ours_s, "ratio": seed_s / ours_s,
            "seed": "librosa.load(sr=22050) + librosa MFCC(40) mean + per-file model.predict, LSTM(128)-LSTM(64)-Dense"}


def bench_training(bundle) -> dict:
    m = bundle.metrics
    training = bundle.config.extra.get("training", {})
    return {
        "bundle": str(bundle.path),
        "model_type": bundle.config.model_type,
        "train_seconds": m.get("train_seconds"),
        "feature_seconds": m.get("feature_seconds"),
        "epochs_max": training.get("epochs"),
        "epochs_run": len(bundle.history.get("loss", [])) or None,
        "folds": training.get("folds"),
        "ensemble": bundle.config.extra.get("ensemble_of_folds"),
        "augment": training.get("augment"),
        "command": bundle.config.extra.get("train_command", ""),
        "note": "from the bundle's metrics.json (measured on the machine that trained it)",
    }


def bench_cli_cold(model: Path, clip: Path, runs: int) -> dict:
    cmd = [str(Path(sys.executable).with_name("ser")), "predict", str(clip), "--model", str(model)]
    if not Path(cmd[0]).exists():
        cmd = [sys.executable, "-m", "ser", *cmd[1:]]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise RuntimeError(f"ser predict failed: {r.stderr[-500:]}")
    return {"runs": runs, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "command": " ".join(cmd)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_app_cold(model: Path, runs: int) -> dict:
    health, first = [], []
    for _ in range(runs):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
               str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
        env = {**os.environ, "SER_MODEL_DIR": str(model)}
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("streamlit exited during start-up")
                if time.perf_counter() - t0 > 180:
                    raise RuntimeError("streamlit not healthy after 180 s")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.05)
            health.append(time.perf_counter() - t0)
            with urllib.request.urlopen(f"{url}/", timeout=30) as r:
                body = r.read()
                assert r.status == 200 and b"<html" in body.lower()
            first.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"runs": runs, "health_median_s": statistics.median(health), "first_page_median_s": statistics.median(first),
            "note": "GET / returns the app shell; the page script itself runs when a browser session connects"}


# -- report ---------------------------------------------------------------------------------------


def table_rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, status) rows."""
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, value: str, key: str | None = None, v: float | None = None) -> None:
        if key is None or v is None:
            rows.append((name, value, "", ""))
            return
        text, ok = TARGETS[key]
        rows.append((name, value, text, "ok" if ok(v) else "MISSED"))

    w = r.get("warm_latency")
    if w:
        add(f"warm latency, 4 s clip ({w['windows']} windows), median", f"{w['median_ms']:.1f} ms",
            "warm_4s_median_ms", w["median_ms"])
        add("warm latency, 4 s clip, p95", f"{w['p95_ms']:.1f} ms")
        if w.get("adapted_median_ms") is not None:
            add("warm latency, 4 s clip, adapted (profile applied and updated), median",
                f"{w['adapted_median_ms']:.1f} ms", "warm_4s_adapted_median_ms", w["adapted_median_ms"])
        add("  of which features / model (median)", f"{w['features_median_ms']:.1f} / {w['model_median_ms']:.1f} ms")
        add("real-time factor, 4 s clip", f"{w['rtf']:.4f}")
    b = r.get("batch")
    if b:
        add(f"batch predict_many, {b['clips']} real clips (no cache in the predictor)",
            f"{b['clips_per_s']:.1f} clips/s", "batch_clips_per_s", b["clips_per_s"])
    f = r.get("feature_stage")
    if f:
        add(f"training feature stage, {f['jobs']} jobs ({f['clips']} clips x {f['jobs_per_clip']:.0f}), cold",
            f"{f['cold_jobs_per_s']:.1f} jobs/s ({f['cold_s']:.1f} s)")
        add(f"training feature stage, cached ({f['workers']} workers)",
            f"{f['cached_jobs_per_s']:.1f} jobs/s ({f['cached_s']:.2f} s)")
        add("  cached vs cold", f"{f['speedup']:.1f}x", "feature_stage_cached_speedup", f["speedup"])
        add("  cached vs cold, workers=1", f"{f['speedup_in_process']:.1f}x")
    lv = r.get("live")
    if lv:
        add("live: real-time factor (inference s per audio s)", f"{lv['rtf']:.4f}", "live_rtf", lv["rtf"])
        add("live: latency per update mean / max", f"{lv['mean_latency_ms']:.1f} / {lv.get('max_latency_ms', 0):.1f} ms")
        add("live: added latency (last sample in -> result out)", f"{lv['mean_added_latency_ms']:.1f} ms")
        if "skipped_steps" in lv:
            add("live: updates / skipped steps / errors", f"{lv['updates']} / {lv['skipped_steps']} / {lv['errors']}")
    s = r.get("vs_seed")
    if s:
        add(f"seed-style baseline, {s['clips']} clips", f"{s['seed_clips_per_s']:.1f} clips/s")
        add("this project, same clips (predict_file each)", f"{s['ours_clips_per_s']:.1f} clips/s")
        add("  this project vs seed-style", f"{s['ratio']:.1f}x", "vs_seed_ratio", s["ratio"])
    t = r.get("training")
    if t and t.get("train_seconds") is not None:
        add(f"training time of {Path(t['bundle']).name} ({t['model_type']}), total / features",
            f"{t['train_seconds']:.0f} s / {t['feature_seconds']:.0f} s")
    c = r.get("cli_cold")
    if c:
        add("cold start: `ser predict` launch -> result (median)", f"{c['median_s']:.2f} s")
    a = r.get("app_cold")
    if a:
        add("cold start: `streamlit run app.py` -> /_stcore/health", f"{a['health_median_s']:.2f} s")
        add("cold start: `streamlit run app.py` -> GET / (first page)", f"{a['first_page_median_s']:.2f} s")
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    w = [max(len(row[i]) for row in rows) for i in range(4)]
    head = ("figure", "value", "target", "")
    w = [max(w[i], len(head[i])) for i in range(4)]
    line = "  ".join("-" * x for x in w)
    print(line)
    print("  ".join(h.ljust(x) for h, x in zip(head, w, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(x) for c, x in zip(row, w, strict=True)).rstrip())
    print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small repeat counts (a minute or two)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results.json"), help="where to write the results")
    ap.add_argument("--model", help="bundle folder (default models/default, else the newest runs/*)")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding ravdess/ (default ../shared/data)")
    ap.add_argument("--only", nargs="+", help="run only these sections",
                    choices=["warm", "batch", "features", "live", "seed", "training", "cli", "app"])
    ap.add_argument("--eager", action="store_true",
                    help="call the Keras model eagerly (model(x)) instead of the traced graph: the path before the fix")
    a = ap.parse_args(argv)
    q = a.quick
    n = {"latency": 20 if q else 100, "batch": 40 if q else 400, "features": 24 if q else 200,
         "live_s": 6.0 if q else 30.0, "seed": 16 if q else 120, "cold": 1 if q else 3}
    sections = set(a.only or ["warm", "batch", "features", "live", "seed", "training", "cli", "app"])
    tmp = Path(tempfile.mkdtemp(prefix="ser-bench-"))
    results: dict = {}
    try:
        from ser import Predictor

        model = pick_model(a.model, tmp)
        clips = real_clips(Path(a.data), max(n.values()), tmp)
        log(f"model {model}; {len(clips)} clips from {a.data if 'generated' not in str(clips[0]) else 'generated audio'}")
        t_load = time.perf_counter()
        pred = Predictor(model)
        load_s = time.perf_counter() - t_load
        if a.eager:
            from ser.models import feed

            pred._infer = lambda x, plain=None, w=0.0: pred.bundle.model(feed(pred.bundle.model, x, plain, w),
                                                                         training=False)
        results["meta"] = {
            "model": str(model), "model_type": pred.bundle.config.model_type, "quick": q, "eager": a.eager,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "predictor_load_s": load_s, "counts": n,
        }
        steps = [
            ("warm", "warm_latency", lambda: bench_warm_latency(pred, clips, n["latency"])),
            ("batch", "batch", lambda: bench_batch(pred, clips[: n["batch"]])),
            ("features", "feature_stage", lambda: bench_feature_stage(pred.bundle, clips[: n["features"]],
                                                                       1 if q else (os.cpu_count() or 1), tmp)),
            ("live", "live", lambda: bench_live(pred, clips, n["live_s"])),
            ("seed", "vs_seed", lambda: bench_vs_seed(pred, clips[: n["seed"]])),
            ("training", "training", lambda: bench_training(pred.bundle)),
            ("cli", "cli_cold", lambda: bench_cli_cold(model, clips[0], n["cold"])),
            ("app", "app_cold", lambda: bench_app_cold(model, n["cold"])),
        ]
        for section, key, fn in steps:
            if section not in sections:
                continue
            log(f"{key} ...")
            t0 = time.perf_counter()
            try:
                results[key] = fn()
            except Exception as exc:  # one broken section must not lose the others
                results[key] = {"error": f"{type(exc).__name__}: {exc}"}
                log(f"{key} failed: {exc}")
            log(f"{key} done in {time.perf_counter() - t0:.1f} s")
        results["meta"]["loadavg_end"] = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = table_rows({k: v for k, v in results.items() if isinstance(v, dict) and "error" not in v})
    results["table"] = [dict(zip(("figure", "value", "target", "status"), r, strict=True)) for r in rows]
    print(f"model: {results['meta']['model']} ({results['meta']['model_type']}); {results['meta']['cpus']} CPUs; "
          f"load average at start {results['meta']['loadavg_start'][0]:.2f}")
    print_table(rows)
    for k, v in results.items():
        if isinstance(v, dict) and "error" in v:
            print(f"{k}: FAILED: {v['error']}")
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
