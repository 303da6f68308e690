"""The README's screenshots, taken by a real browser at 1280×800 — and a check of the flows they show.

Every run drives the pages as a visitor would (Home; Analyze with a mixed 16 s recording made from real
RAVDESS clips; Batch with several RAVDESS files; Explorer; Report) and checks them. Only with
``SER_SCREENSHOTS=assets/screens`` are the images written (small palette PNGs, see ``readme_screenshot``);
ordinary runs never rewrite tracked files. The Live page's shot comes from ``test_e2e_live_headline.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RAVDESS = ROOT.parent / "shared" / "data" / "ravdess"
#: Actor 2, statement 1, strong intensity: angry, calm, sad, happy (a mixed recording when joined).
MIXED = [RAVDESS / "Actor_02" / f"03-01-{code}-02-01-01-02.flac" for code in ("05", "02", "04", "03")]
BATCH = sorted((RAVDESS / "Actor_03").glob("03-01-0[2-5]-02-01-01-03.flac"))
VIEWPORT = {"width": 1280, "height": 800}

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not all(p.exists() for p in MIXED) or len(BATCH) < 4,
                                                  reason="RAVDESS clips are not present")]


def _clean(page, *, no_none: bool = False) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "Traceback" not in text, text[:2000]
    if no_none:  # a missing value reads as an empty cell, never as "None"
        assert "None" not in text.split(), text[:2000]


@pytest.fixture(scope="module")
def mixed_recording(tmp_path_factory) -> Path:
    """Four real clips of one actor in four emotions, joined: ~16 s at 16 kHz (kept out of the repository)."""
    import soundfile as sf

    from ser.audio import load

    gap = np.zeros(3200, dtype=np.float32)
    y = np.concatenate([part for p in MIXED for part in (load(p), gap)])
    out = tmp_path_factory.mktemp("mixed") / "actor02_angry_calm_sad_happy.wav"
    sf.write(out, y, 16_000, subtype="PCM_16")
    return out


def test_pages_as_the_readme_shows_them(app_nav, browser_factory, readme_screenshot, mixed_recording):
    browser = browser_factory()
    page = browser.new_page(viewport=VIEWPORT)

    app_nav.goto(page, "")
    page.locator("h1").first.wait_for(timeout=30_000)
    _clean(page)
    readme_screenshot(page, "home")

    app_nav.goto(page, "analyze")
    page.locator('.st-key-analyze_upload [data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(mixed_recording))
    page.get_by_text("Emotion over time", exact=True).wait_for(timeout=90_000)
    app_nav.wait(page)
    _clean(page, no_none=True)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert mixed_recording.name in text  # the full file name with the result
    assert "derived from the class probabilities" in text.lower()
    page.locator('[data-testid="stAudio"]').first.scroll_into_view_if_needed()
    readme_screenshot(page, "analyze")
    page.get_by_text("Emotion over time", exact=True).scroll_into_view_if_needed()
    readme_screenshot(page, "analyze_timeline")
    page.get_by_text("Arousal and valence", exact=True).scroll_into_view_if_needed()
    readme_screenshot(page, "analyze_affect")

    app_nav.goto(page, "batch")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in BATCH])
    page.locator('[data-testid="stDataFrame"]').wait_for(timeout=90_000)
    app_nav.wait(page)
    _clean(page, no_none=True)
    readme_screenshot(page, "batch")

    for path, name in (("explorer", "explorer"), ("report", "report")):
        app_nav.goto(page, path)
        page.locator("h1").first.wait_for(timeout=30_000)
        _clean(page)
        readme_screenshot(page, name)
