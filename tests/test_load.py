"""Load: one shared Predictor under 8 threads, and 20 concurrent sessions of the Analyze page.

Both use the shipped model when ``models/default`` exists (trained: clips get clearly different
probabilities, so any cross-talk between threads shows); otherwise a tiny random CNN bundle, whose
probabilities still differ per clip in the third decimal. Results are compared with single-threaded
``Predictor`` results for the same clip.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from support import RAVDESS, ROOT, SHIPPED, requires_data, round_robin, speechlike

from ser import Predictor
from ser.corpora import scan

ANALYZE = ROOT / "pages" / "analyze.py"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    if (SHIPPED / "config.json").exists() and (SHIPPED / "model.keras").exists():
        return SHIPPED
    from ser.testing import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("load") / "tiny_cnn", model_type="cnn")


@pytest.fixture(scope="module")
def predictor(bundle_dir) -> Predictor:
    return Predictor(bundle_dir)


def _real_clips(n: int) -> list[Path]:
    """``n`` RAVDESS clips spread over speakers and emotions."""
    files = sorted(RAVDESS.glob("Actor_*/*.flac"))
    by_key: dict[tuple[str, str], Path] = {}
    for f in files:
        parts = f.stem.split("-")
        by_key.setdefault((parts[6], parts[2]), f)  # (actor, emotion)
    picks = sorted(by_key.values(), key=lambda f: (f.stem.split("-")[2], f.stem.split("-")[6]))
    # round-robin over emotions so the picks differ in emotion as well as speaker
    return round_robin(picks, lambda f: f.stem.split("-")[2], n)


def _assert_same(got, want, what: str) -> None:
    assert got.label == want.label, what
    np.testing.assert_allclose(list(got.probabilities.values()), list(want.probabilities.values()), atol=1e-6,
                               err_msg=what)
    assert len(got.timeline) == len(want.timeline), what


def test_predictor_threads_no_cross_talk(predictor):
    clips: dict[str, tuple[np.ndarray, int]] = {
        "speechlike 2 s": (speechlike(2.0, f0=110, seed=1), 16000),
        "speechlike 7 s (timeline)": (speechlike(7.0, f0=180, seed=2), 16000),
        "speechlike 48 kHz stereo": (np.stack([speechlike(2.5, sr=48000, f0=220, seed=3)] * 2, axis=1), 48000),
    }
    if RAVDESS.is_dir():
        from ser.audio import load

        for f in _real_clips(6):
            clips[f.name] = (load(f), 16000)
    names = list(clips)
    want = {k: predictor.predict(y, sr=sr) for k, (y, sr) in clips.items()}
    distinct = {tuple(np.round(list(w.probabilities.values()), 7)) for w in want.values()}
    assert len(distinct) == len(clips), "clips must give different results, or cross-talk cannot show"

    n_threads, rounds = 8, 2
    start = threading.Barrier(n_threads)
    idents: set[int] = set()

    def worker(t: int) -> list[tuple[str, object]]:
        start.wait()
        idents.add(threading.get_ident())
        order = names[t % len(names):] + names[: t % len(names)]  # every thread its own order
        out = []
        for _ in range(rounds):
            for k in order:
                y, sr = clips[k]
                out.append((k, predictor.predict(y, sr=sr)))
        return out

    with ThreadPoolExecutor(n_threads) as pool:
        results = list(pool.map(worker, range(n_threads)))
    assert len(idents) == n_threads
    for t, res in enumerate(results):
        assert len(res) == rounds * len(names)
        for k, got in res:
            _assert_same(got, want[k], f"thread {t}, clip {k}")


@requires_data
def test_twenty_concurrent_analyze_sessions(bundle_dir, predictor, tmp_path, monkeypatch):
    if not ANALYZE.exists():
        pytest.fail("pages/analyze.py is missing")
    from streamlit.testing.v1 import AppTest

    # a small corpus folder of 20 real clips (symlinks: no audio is copied) for the page's example picker
    clips = _real_clips(20)
    assert len(clips) == 20
    data = tmp_path / "data" / "ravdess"
    for f in clips:
        (data / f.parent.name).mkdir(parents=True, exist_ok=True)
        (data / f.parent.name / f.name).symlink_to(f)
    monkeypatch.setenv("SER_DATA_DIR", str(data.parent))
    manifest = scan([data.parent]).manifest
    rows = {Path(r["path"]).name: r for _, r in manifest.iterrows()}
    want = {name: predictor.predict_file(row["path"]) for name, row in rows.items()}

    def session(name: str) -> AppTest:
        row = rows[name]
        at = AppTest.from_file(str(ANALYZE), default_timeout=180)
        at.session_state["bundle_dir"] = str(bundle_dir)
        at.session_state["analyze_method"] = "example"
        at.session_state["analyze_corpus"] = row["corpus"]
        at.session_state["analyze_emotion"] = row["emotion"]
        at.session_state["analyze_speaker"] = row["speaker"]
        at.session_state["analyze_clip"] = row["path"]
        return at.run()

    def check(at: AppTest, name: str) -> None:
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        res = at.session_state["analysis"]
        assert res.name == name and res.error is None
        _assert_same(res.prediction, want[name], f"session of {name}")
        shown = " ".join(m.value for m in at.markdown)
        p = want[name]
        assert p.label.capitalize() in shown and f"**{p.confidence:.0%}** confidence" in shown, shown
        assert f"True label: **{rows[name]['emotion']}**" in " ".join(c.value for c in at.caption)

    names = sorted(rows)
    check(session(names[0]), names[0])  # warm: page imports, shared caches, one prediction
    base = _rss_mb()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(names)) as pool:
        sessions = list(pool.map(session, names))
    seconds = time.perf_counter() - t0
    growth = _rss_mb() - base
    print(f"20 concurrent Analyze sessions in {seconds:.1f} s; RSS grew by {growth:.0f} MB")
    for at, name in zip(sessions, names, strict=True):
        check(at, name)
    assert growth < 600, f"RSS grew by {growth:.0f} MB for 20 sessions"
