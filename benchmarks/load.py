#!/usr/bin/env python
"""Load on the real app server: concurrent browser sessions, each uploading a different real clip.

    python benchmarks/load.py [--sessions 20] [--model DIR] [--data DIR] [--timeout 900] [--json OUT]

Starts ``streamlit run app.py`` on a free localhost port (``SER_MODEL_DIR=--model``, default
``models/default``), warms it with one session, then opens ``--sessions`` browser contexts on one
headless Chromium (Debian's ``/usr/bin/chromium``; ``$SER_CHROMIUM`` overrides), loads the Analyze
page in each, uploads a different RAVDESS clip of ``--data`` (default ``../shared/data``) in every
session at once and waits for each result card. Prints the time to result (from the upload to the
card on screen: p50, p95, max), each session's label, and the server's peak resident memory (the
server process and its children, sampled every 0.2 s with psutil when installed, else from /proc;
plus the kernel's high-water mark ``VmHWM`` of the server process).

No assertions: ``tests/e2e/test_e2e_load.py`` drives the same scenario (the functions below) and
checks every session's label against a single-threaded ``ser.Predictor``. Needs Playwright's Python
package (requirements-dev.txt), not pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ser.testing import streamlit_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data"
CHROMIUM = Path(os.environ.get("SER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: The Analyze page's upload input (``st.file_uploader(key="analyze_upload")``).
UPLOAD_INPUT = '.st-key-analyze_upload [data-testid="stFileUploaderDropzoneInput"]'
#: Texts of the result card (one label, or a mixed recording's shares).
RESULT_TEXTS = ("Predicted emotion", "Mixed recording")

# In the page: note (epoch ms) when the result card or an exception first shows, without polling.
_WATCH_JS = """(texts) => {
    window.__serResult = null;
    const check = () => {
        if (window.__serResult !== null) return;
        const main = document.querySelector('[data-testid="stMain"]');
        const text = main ? main.textContent : '';
        if (texts.some(t => text.includes(t))) window.__serResult = {at: Date.now(), error: null};
        else if (document.querySelector('[data-testid="stException"]'))
            window.__serResult = {at: Date.now(), error: 'exception'};
    };
    new MutationObserver(check).observe(document.body, {childList: true, subtree: true, characterData: true});
    check();
}"""
_APP_IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const state = app && app.getAttribute('data-test-script-state');
    return state === 'notRunning' || state === 'compilationError';
}"""


def log(msg: str) -> None:
    print(f"[load] {msg}", file=sys.stderr, flush=True)


# -- clips ---------------------------------------------------------------------------------------------


def candidate_clips(data: Path, n: int) -> list[Path]:
    """Up to ``n`` RAVDESS clips of ``data/ravdess``: one per (actor, emotion), round-robin over emotions
    (any prefix differs in emotion as well as speaker); ``[]`` without the corpus."""
    from ser.testing import round_robin

    by_key: dict[tuple[str, str], Path] = {}
    for f in sorted((data / "ravdess").glob("Actor_*/*.flac")):
        parts = f.stem.split("-")
        by_key.setdefault((parts[6], parts[2]), f)  # (actor, emotion)
    picks = sorted(by_key.values(), key=lambda f: (f.stem.split("-")[2], f.stem.split("-")[6]))
    return round_robin(picks, lambda f: f.stem.split("-")[2], n)


def reference_prediction(predictor, clip: Path):
    """What a fresh Analyze session shows for an uploaded ``clip``, single-threaded: with an adaptive
    model the page predicts with the session's (empty) voice profile, else plainly."""
    if predictor.adaptive:
        return predictor.predict_file(clip, profile=predictor.new_profile(), update_profile=True)
    return predictor.predict_file(clip)


# -- server --------------------------------------------------------------------------------------------







def serve(model_dir: Path, data_dir: Path, log_path: Path, *, start_timeout_s: float = 180):
    """``streamlit run app.py`` on a free localhost port; a context manager yielding ``(base URL, server pid)``."""
    return streamlit_server(model_dir, data_dir, log_path, root=ROOT, start_timeout_s=start_timeout_s)


def _status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``); 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_rss_mb(pid: int) -> float:
    """Resident memory (MB) of ``pid`` and all its descendants."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total / 2**20
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == parent and c not in tree]
        tree.update(kids)
        frontier += kids
    return sum(_status_kb(p, "VmRSS") for p in tree) / 1024


class PeakMemory:
    """Samples the resident memory of a process tree every ``interval_s`` in a thread; ``peak_mb``."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.start_mb = _tree_rss_mb(pid)
        self.peak_mb = self.start_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))


# -- browser sessions ----------------------------------------------------------------------------------


@dataclass
class SessionResult:
    """One session: its clip, seconds from upload to result card, what the card shows, or an error."""

    clip: str
    seconds: float | None = None
    label: str | None = None  # lower case; None for a mixed recording (no single label shown)
    confidence: str | None = None  # as shown, e.g. "87%"
    error: str | None = None


def launch_chromium(playwright):
    """Headless Chromium (Debian's) for the sessions."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"Chromium not found at {CHROMIUM} (set SER_CHROMIUM)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


def _wait_idle(page, timeout_ms: float) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(_APP_IDLE_JS, timeout=timeout_ms)


def _read_card(page) -> tuple[str | None, str | None]:
    """``(label, confidence)`` shown by the result card (label ``None`` for a mixed recording)."""
    main = page.locator('[data-testid="stMain"]').inner_text()
    if "Predicted emotion" not in main:
        return None, None
    heading = page.locator('[data-testid="stMarkdownContainer"] h2').first.inner_text()
    label = re.sub(r"[^a-z]", "", heading.split()[-1].lower())  # the icon renders as a ligature word first
    m = re.search(r"(\d+%)\s*confidence", main)
    return label, m.group(1) if m else None


def run_sessions(browser, base_url: str, clips: list[Path], *, timeout_s: float = 900) -> list[SessionResult]:
    """One browser context per clip: open the Analyze page in all, upload every clip at once, wait for
    every result card (``timeout_s`` in all for each phase); returns one :class:`SessionResult` per clip."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in clips]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:  # all pages load at once ...
            page.goto(f"{base_url}/analyze", wait_until="commit", timeout=timeout_s * 1000)
        deadline = time.monotonic() + timeout_s
        for page in pages:  # ... and are ready when their script run is over
            _wait_idle(page, max(1.0, deadline - time.monotonic()) * 1000)
            page.locator(UPLOAD_INPUT).wait_for(state="attached", timeout=max(1.0, deadline - time.monotonic()) * 1000)
        results = [SessionResult(clip=str(c)) for c in clips]
        started: list[float] = []
        for page, clip in zip(pages, clips, strict=True):
            page.evaluate(_WATCH_JS, list(RESULT_TEXTS))
            started.append(time.time())
            page.locator(UPLOAD_INPUT).set_input_files(str(clip))
        pending = set(range(len(pages)))
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for i in sorted(pending):
                seen = pages[i].evaluate("() => window.__serResult")
                if seen:
                    results[i].seconds = seen["at"] / 1000 - started[i]
                    results[i].error = seen["error"]
                    pending.discard(i)
            if pending:
                pages[0].wait_for_timeout(250)
        for i in pending:
            results[i].error = f"no result within {timeout_s:.0f} s"
        for i, page in enumerate(pages):
            if results[i].error is None:
                _wait_idle(page, timeout_s * 1000)
                results[i].label, results[i].confidence = _read_card(page)
        return results
    finally:
        for c in contexts:
            with contextlib.suppress(Exception):
                c.close()


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100, linear interpolation) of ``values``."""
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


# -- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20, help="concurrent browser sessions (default 20)")
    ap.add_argument("--model", default=str(ROOT / "models" / "default"), help="bundle the server serves")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding ravdess/ (default ../shared/data)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for the pages to load, and for the results")
    ap.add_argument("--json", help="also write the figures as JSON here")
    a = ap.parse_args(argv)
    clips = candidate_clips(Path(a.data), a.sessions + 1)
    if len(clips) < a.sessions + 1:
        log(f"need {a.sessions + 1} RAVDESS clips under {a.data}/ravdess, found {len(clips)}")
        return 2
    warm, clips = clips[-1], clips[: a.sessions]
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        log_path = Path(tmp) / "server.log"
        t_server = time.monotonic()
        with serve(Path(a.model), Path(a.data), log_path) as (url, pid):
            log(f"server up at {url} in {time.monotonic() - t_server:.1f} s (pid {pid})")
            browser = launch_chromium(pw)
            try:
                t0 = time.monotonic()
                (first,) = run_sessions(browser, url, [warm], timeout_s=a.timeout)
                log(f"warm-up session: {first.label} in {first.seconds or float('nan'):.1f} s "
                    f"({time.monotonic() - t0:.1f} s with the page load)")
                with PeakMemory(pid) as mem:
                    t0 = time.monotonic()
                    results = run_sessions(browser, url, clips, timeout_s=a.timeout)
                    wall = time.monotonic() - t0
                hwm_mb = _status_kb(pid, "VmHWM") / 1024
            finally:
                browser.close()
    done = [r.seconds for r in results if r.error is None and r.seconds is not None]
    for r in results:
        shown = r.error or f"{r.label or 'mixed'} {r.confidence or ''}".strip()
        log(f"  {Path(r.clip).name}: {shown}" + (f" after {r.seconds:.1f} s" if r.seconds is not None else ""))
    figures = {
        "sessions": len(results), "ok": len(done), "wall_s": round(wall, 1),
        "time_to_result_s": ({"p50": round(percentile(done, 50), 2), "p95": round(percentile(done, 95), 2),
                              "max": round(max(done), 2)} if done else None),
        "server_rss_mb": {"before": round(mem.start_mb, 1), "peak": round(mem.peak_mb, 1),
                          "vmhwm": round(hwm_mb, 1)},
        "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2), "model": a.model,
        "results": [asdict(r) for r in results],
    }
    ttr = figures["time_to_result_s"]
    print(f"{len(done)}/{len(results)} sessions got a result; whole run {wall:.1f} s (pages loading + results)")
    if ttr:
        print(f"time to result (upload -> card on screen): p50 {ttr['p50']:.2f} s, p95 {ttr['p95']:.2f} s, "
              f"max {ttr['max']:.2f} s")
    print(f"server RSS: {mem.start_mb:.0f} MB before the sessions, peak {mem.peak_mb:.0f} MB "
          f"(VmHWM {hwm_mb:.0f} MB); {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if a.json:
        out = Path(a.json)
        tmp_out = out.with_name(f".{out.name}.tmp")
        tmp_out.write_text(json.dumps(figures, indent=2) + "\n")
        tmp_out.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
