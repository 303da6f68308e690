#!/usr/bin/env python
"""Throughput of ``ser predict --engine ray`` vs the local path on this machine (not part of the tests).

    python benchmarks/ray_batch.py [--n 1000] [--workers 1 2] [--data ../shared/data] [--model DIR] [--json OUT]

Over the same list of ``--n`` real clips (RAVDESS and EMO-DB, taken in turn from every speaker folder):

* **local**: :meth:`ser.Predictor.predict_many` (what ``ser predict`` does: in order, with its own worker
  processes for 32+ files on ONNX Runtime, one per CPU), timed from
  loading the bundle to the last row; run before and after the Ray runs (the mean is the reference, since a
  shared machine's load drifts);
* **ray, N workers**: :func:`ser.distributed.predict_to_parquet` on a local Ray of N CPUs that is already up
  (as a cluster would be: ``ray start --head``), timed from the call to the Parquet file (listing, starting N
  workers that each load the bundle, scoring, writing). ``steady`` excludes the start-up: rows per second once
  the first batch has come back.

Prints clips/s for each; the 2-core target is ray with 2 workers ≥ 0.8× local. Every run must score every clip
(the script checks the Parquet row count). Needs ``pip install 'ser[ray]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def clip_list(data: Path, n: int) -> list[str]:
    """Up to ``n`` clips under ``data/ravdess`` and ``data/emodb``, one speaker folder/file prefix in turn."""
    from ser.corpora import parse_name
    from ser.distributed import iter_audio_files
    from ser.testing import round_robin

    files = list(iter_audio_files([str(data / "ravdess"), str(data / "emodb")]))
    return round_robin(files, lambda f: (parse_name(f) or {}).get("speaker", ""), n)


def run_local(files: list[str], model: str | None) -> float:
    from ser import Predictor

    t0 = time.perf_counter()
    pred = Predictor(model)
    n = sum(1 for _ in pred.predict_many(files))
    assert n == len(files)
    return time.perf_counter() - t0


def run_ray(files: list[str], model: str | None, workers: int, out: Path) -> tuple[float, float]:
    """``(seconds end to end, steady rows/s)`` of one run on a local Ray of ``workers`` CPUs."""
    import pyarrow.parquet as pq
    import ray

    import ser.distributed as dist

    ray.init(address="local", num_cpus=workers, include_dashboard=False, object_store_memory=200 * 2**20)
    marks: list[tuple[float, int]] = []
    try:
        t0 = time.perf_counter()
        s = dist.predict_to_parquet(files, out, model=model, workers=workers,
                                    on_rows=lambda n: marks.append((time.perf_counter(), n)))
        seconds = time.perf_counter() - t0
    finally:
        ray.shutdown()
    assert s.rows == len(files) == pq.read_metadata(out).num_rows, (s, len(files))
    steady = float("nan")
    if len(marks) > 2:
        (t_first, _), (t_last, _) = marks[0], marks[-1]
        steady = sum(n for _, n in marks[1:]) / max(t_last - t_first, 1e-9)
    return seconds, steady


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="clips to score (default 1000)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to run (default 1 2)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="folder with ravdess/ and emodb/")
    ap.add_argument("--model", default=None, help="bundle folder (default models/default)")
    ap.add_argument("--json", help="also write the figures as JSON here")
    a = ap.parse_args()
    files = clip_list(Path(a.data), a.n)
    if not files:
        print(f"no clips under {a.data}/ravdess or {a.data}/emodb", file=sys.stderr)
        return 2
    print(f"{len(files)} clips, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    local_s = run_local(files, a.model)
    print(f"local (Predictor.predict_many)   {len(files) / local_s:7.1f} clips/s   ({local_s:.1f} s)")
    figures: dict = {"clips": len(files), "cpus": os.cpu_count(), "load_average_start": os.getloadavg()[0],
                     "ray": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for w in a.workers:
            seconds, steady = run_ray(files, a.model, w, Path(tmp) / f"r{w}.parquet")
            figures["ray"][str(w)] = {"clips_per_s": len(files) / seconds, "steady_clips_per_s": steady,
                                      "seconds": seconds}
    again = run_local(files, a.model)  # a second local run: the machine's load drifts (shared cores)
    print(f"local again                      {len(files) / again:7.1f} clips/s   ({again:.1f} s)")
    local_rate = len(files) * 2 / (local_s + again)
    figures["local_clips_per_s"] = local_rate
    print(f"local, mean of both runs         {local_rate:7.1f} clips/s")
    for w, f in figures["ray"].items():
        f["vs_local"] = f["clips_per_s"] / local_rate
        print(f"ray, {w} worker(s)                {f['clips_per_s']:7.1f} clips/s   ({f['seconds']:.1f} s end to end; "
              f"{f['steady_clips_per_s']:.1f} clips/s steady)   {f['vs_local']:.2f}x local")
    figures["load_average_end"] = os.getloadavg()[0]
    print(f"load average at the end {figures['load_average_end']:.1f}")
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
