"""Worker processes end with their parent, however the parent ends (ser.workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PDEATHSIG is Linux's")


def _state(pid: int) -> str | None:
    """Process state letter of ``pid`` (None once it is gone), from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` and that are multiprocessing pool workers (not its resource tracker)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z" and b"resource_tracker" not in cmd:
            out.append(int(d.name))
    return out


def _wait(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def _gone(pid: int) -> bool:
    return _state(pid) in (None, "Z")  # a zombie has ended; whoever adopted it reaps it when it likes


def _killed_parent_leaves_no_worker(script: str, tmp_path: Path, n_workers: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=Path(__file__).parents[1])
    workers: list[int] = []
    try:
        assert _wait(lambda: len(_children(proc.pid)) >= n_workers or proc.poll() is not None, 300), \
            "the workers never started"
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        workers += _children(proc.pid)
        time.sleep(1.0)  # they are busy now
        assert all(not _gone(w) for w in workers)
        os.kill(proc.pid, signal.SIGKILL)  # no clean-up in the parent at all
        proc.wait(timeout=60)
        assert _wait(lambda: all(_gone(w) for w in workers), 60), "workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in workers + _children(proc.pid):  # without the fix they would live on: leave nothing behind
            if not _gone(w):
                os.kill(w, signal.SIGKILL)


def test_feature_workers_end_with_a_killed_training(tmp_path):
    # extract_all's spawned workers, handed far more work than they can finish before the parent is killed
    script = """
    import sys
    from pathlib import Path
    import soundfile as sf
    from ser import dataset
    from ser.features import FeatureConfig
    from ser.testing import speechlike
    cfg = FeatureConfig()
    root = Path(sys.argv[1])
    paths = []
    for i in range(4):
        p = root / f"clip{i}.wav"
        sf.write(p, speechlike(seconds=6.0, seed=i), cfg.sample_rate)
        paths.append(str(p))
    jobs = [dataset.Job(paths[i % 4], 0, 0, 1.0) for i in range(4000)]
    dataset.extract_all(jobs, cfg, use_cache=False, workers=2)
    """
    _killed_parent_leaves_no_worker(script, tmp_path, 2)


def test_die_with_parent_in_a_forked_pool(tmp_path):
    # the batch predictor's pool forks; the same initializer, here with a worker that would sleep for 10 minutes
    script = """
    import multiprocessing as mp, os, time
    from concurrent.futures import ProcessPoolExecutor
    from ser.workers import die_with_parent
    pool = ProcessPoolExecutor(1, mp_context=mp.get_context("fork"), initializer=die_with_parent,
                               initargs=(os.getpid(),))
    pool.submit(time.sleep, 600)
    time.sleep(600)
    """
    _killed_parent_leaves_no_worker(script, tmp_path, 1)


def test_an_orphan_exits_at_once():
    # the parent may end before prctl takes effect: the worker sees it was re-parented and leaves
    code = "from ser.workers import die_with_parent; die_with_parent(-1); print('still here')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).parents[1])
    assert r.returncode == 1 and "still here" not in r.stdout
