#!/usr/bin/env python
"""Cold start of ``ser predict CLIP`` against ``python -c "import tensorflow"``, in the same run.

    python benchmarks/cold_start.py [--runs 5] [--model DIR] [--clip FILE] [--imports 15]

Each run launches both commands as fresh processes (alternating, so both see the same machine load)
and times them from launch to exit; prints the medians and their ratio (target: ser predict ≤ 0.15 x
the TensorFlow import). ``--imports N`` also prints the N slowest top-level imports of one
``ser predict`` run (``python -X importtime``), i.e. what the cold start still spends its time on.
Uses the first RAVDESS clip in ``../shared/data`` (a generated speech-like clip when absent).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TARGET = 0.15


def _clip(tmp: Path) -> Path:
    found = sorted((DATA / "ravdess").glob("Actor_*/*.flac"))
    if found:
        return found[0]
    import numpy as np
    import soundfile as sf

    t = np.arange(int(3.0 * 16_000)) / 16_000
    y = 0.2 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    path = tmp / "speechlike.wav"
    sf.write(path, y.astype("float32"), 16_000)
    return path


def _time(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return dt


def _is_ser(name: str | None) -> bool:
    return name is not None and (name == "ser" or name.startswith("ser."))


def slowest_imports(cmd: list[str], env: dict[str, str], n: int) -> list[tuple[float, str]]:
    """The ``n`` slowest outside packages that one run of ``cmd`` imports (cumulative seconds, module):
    modules imported by ``ser`` itself or at top level, their own imports counted in them."""
    r = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=600)
    lines = [ln.split("|", 2) for ln in r.stderr.splitlines() if ln.startswith("import time:") and ln.count("|") == 2]
    rows, parents = [], {}
    for _, cum, raw in reversed(lines[1:]):  # importtime prints children before their parent
        name = raw.strip()
        level = (len(raw) - len(raw.lstrip()) - 1) // 2
        parents[level] = name
        parent = parents.get(level - 1) if level > 0 else None
        if not _is_ser(name) and (parent is None or _is_ser(parent)):
            rows.append((int(cum) / 1e6, name))
    return sorted(rows, reverse=True)[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="launches of each command (medians are reported)")
    ap.add_argument("--model", default=str(ROOT / "models" / "default"), help="bundle folder")
    ap.add_argument("--clip", help="audio file to predict (default: the first RAVDESS clip)")
    ap.add_argument("--imports", type=int, default=0, help="also list the N slowest imports of ser predict")
    a = ap.parse_args(argv)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory(prefix="ser-cold-") as tmp:
        clip = Path(a.clip) if a.clip else _clip(Path(tmp))
        ser_cmd = [sys.executable, "-m", "ser", "predict", str(clip), "--model", a.model]
        tf_cmd = [sys.executable, "-c", "import tensorflow"]
        _time(ser_cmd, env)  # warm the page cache for both: cold *process*, not cold disk
        _time(tf_cmd, env)
        ser_t, tf_t = [], []
        for _ in range(a.runs):
            ser_t.append(_time(ser_cmd, env))
            tf_t.append(_time(tf_cmd, env))
        ser_s, tf_s = statistics.median(ser_t), statistics.median(tf_t)
        ratio = ser_s / tf_s
        print(f"ser predict (cold process):  median {ser_s:.3f} s  (min {min(ser_t):.3f}, max {max(ser_t):.3f})")
        print(f"python -c 'import tensorflow': median {tf_s:.3f} s  (min {min(tf_t):.3f}, max {max(tf_t):.3f})")
        print(f"ratio: {ratio:.3f}  (target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'}); "
              f"{a.runs} runs each, load average {os.getloadavg()[0]:.1f}")
        if a.imports:
            print("slowest imports of ser predict (modules imported by ser or at top level; one run):")
            for sec, name in slowest_imports(ser_cmd, env, a.imports):
                print(f"  {sec:7.3f} s  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
