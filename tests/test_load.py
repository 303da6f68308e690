"""Load: one shared Predictor under 8 threads.

It uses the shipped model when ``models/default`` exists (trained: clips get clearly different
probabilities, so any cross-talk between threads shows); otherwise a tiny random CNN bundle, whose
probabilities still differ per clip in the third decimal. Results are compared with single-threaded
``Predictor`` results for the same clip. Twenty concurrent sessions of the real app server (browser
uploads) are ``tests/e2e/test_e2e_load.py``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from support import DATA, RAVDESS, SHIPPED, speechlike

from benchmarks.load import candidate_clips
from ser import Predictor


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    if (SHIPPED / "config.json").exists() and (SHIPPED / "model.keras").exists():
        return SHIPPED
    from ser.testing import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("load") / "tiny_cnn", model_type="cnn")


@pytest.fixture(scope="module")
def predictor(bundle_dir) -> Predictor:
    return Predictor(bundle_dir)


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

        for f in candidate_clips(DATA, 6):  # spread over speakers and emotions
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
