"""Load on the real server: 20 browser sessions at once, each uploading a different real clip.

The scenario is ``benchmarks/load.py``'s (which also prints time to result and the server's peak
memory): one Chromium, one browser context per session, the Analyze page loaded in all, every clip
uploaded at once. Each session's result card must show the label and confidence a single-threaded
``ser.Predictor`` gives for its clip, so any cross-talk between sessions, or a session left without a
result, fails. Generous timeouts: the machine may be two cores shared with other work.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks.load import candidate_clips, reference_prediction, run_sessions

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
N_SESSIONS = 20
#: Seconds for the 20 pages to load, and again for all 20 results (a real clock on a shared machine).
TIMEOUT_S = 900


@pytest.mark.skipif(not (DATA / "ravdess").is_dir(), reason="RAVDESS clips are not present")
def test_twenty_concurrent_sessions_on_the_real_server(streamlit_server, e2e_model_dir, browser_factory):
    from ser import Predictor, viz

    predictor = Predictor(e2e_model_dir)
    # clips whose card shows one label (a long clip whose windows disagree is shown as shares instead)
    clips, want = [], {}
    for clip in candidate_clips(DATA, 3 * N_SESSIONS):
        p = reference_prediction(predictor, clip)
        if not viz.is_mixed(viz.emotion_shares(p.timeline), n_windows=len(p.timeline)):
            clips.append(clip)
            want[str(clip)] = p
        if len(clips) == N_SESSIONS + 1:
            break
    assert len(clips) == N_SESSIONS + 1
    warm, clips = clips[-1], clips[:N_SESSIONS]
    assert len({(want[str(c)].label, f"{want[str(c)].confidence:.0%}") for c in clips}) > 1, \
        "the clips must not all give the same result, or cross-talk cannot show"

    browser = browser_factory()
    (first,) = run_sessions(browser, streamlit_server, [warm], timeout_s=TIMEOUT_S)  # page imports, model
    assert first.error is None and first.label == want[str(warm)].label, first
    t0 = time.perf_counter()
    results = run_sessions(browser, streamlit_server, clips, timeout_s=TIMEOUT_S)
    seconds = time.perf_counter() - t0
    done = sorted(r.seconds for r in results if r.seconds is not None) or [float("nan")]
    print(f"{N_SESSIONS} concurrent Analyze sessions on the real server in {seconds:.1f} s "
          f"(time to result: median {done[len(done) // 2]:.1f} s, max {done[-1]:.1f} s)")
    assert len(results) == N_SESSIONS
    for r in results:
        p = want[r.clip]
        assert r.error is None, f"{Path(r.clip).name}: {r.error}"
        assert (r.label, r.confidence) == (p.label, f"{p.confidence:.0%}"), f"session of {Path(r.clip).name}"
