"""Real browser, real WebRTC: the Live page adapts to the voice it hears ("Adapted to N s of your voice").

Runs on ``adaptive_server`` (``adaptive_nav``): the session's app when its model can adapt, else a second app serving a tiny
untrained adaptive bundle (the shipped model has no adaptation prior until it is retrained). Chromium's
fake microphone plays real speech; the page must say how much of the voice it adapted to, keep updating,
forget it on "Reset voice profile" and say so when "Adapt to my voice" is switched off.
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.e2e

LIVE_TIMEOUT_S = 150  # a real clock: generous, the machine may be busy (CI shares it)
WEBRTC_IFRAME = 'iframe[title*="streamlit_webrtc"]'
ADAPTED_RE = re.compile(r"Adapted to (\d+) s of your voice")
UPDATE_RE = re.compile(r"Update #(\d+) at")


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _wait_text(page, predicate, timeout_s: float, what: str) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = _main_text(page)
        if predicate(text):
            return text
        page.wait_for_timeout(250)
    pytest.fail(f"{what} within {timeout_s:.0f} s; page text:\n{text[:1500]}")


def _adapted_s(text: str) -> int | None:
    m = ADAPTED_RE.search(text)
    return int(m.group(1)) if m else None


def test_live_shows_adaptation_state(adaptive_nav, fake_mic_wav, browser_factory, screenshot):
    browser = browser_factory(fake_audio=fake_mic_wav)
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["microphone"])
    page = context.new_page()
    adaptive_nav.goto(page, "live")
    page.get_by_role("heading", name="Live microphone").wait_for(timeout=30_000)
    # the first run of a fresh server loads TensorFlow and the model before the controls appear
    _wait_text(page, lambda t: "Not adapted yet" in t, 90, "the adaptation state was not shown before START")
    assert page.get_by_role("button", name=re.compile("Reset voice profile")).is_enabled()

    page.frame_locator(WEBRTC_IFRAME).first.get_by_role("button", name=re.compile(r"^start$", re.I)).click(
        timeout=30_000)
    text = _wait_text(page, lambda t: (_adapted_s(t) or 0) >= 3 and "Emotion:" in t, LIVE_TIMEOUT_S,
                      "no 'Adapted to N s of your voice' (N >= 3) after speech was streamed")
    heard = _adapted_s(text)
    screenshot(page, "live_adapted")
    _wait_text(page, lambda t: (_adapted_s(t) or 0) > heard, 20, "the adaptation did not grow as speech went on")
    # both top labels, small, under the headline, whenever the newest result is adapted speech (a quiet window of the
    # looping fake microphone shows none, so wait for the next speech result rather than sample one moment)
    _wait_text(page, lambda t: "general model:" in t, 30, "an adapted result did not show the general model's label")

    # Reset: the profile starts again from nothing (the stream goes on)
    before = _adapted_s(_main_text(page)) or 0
    page.get_by_role("button", name=re.compile("Reset voice profile")).click()
    _wait_text(page, lambda t: "Not adapted yet" in t or "Learning your voice" in t
               or (_adapted_s(t) is not None and _adapted_s(t) < before),
               20, f"Reset voice profile did not bring the adaptation down from {before} s")

    # Adaptation off: the page says the general model answers
    page.locator('[data-testid="stCheckbox"]').filter(has_text="Adapt to my voice").locator("label").click()
    text = _wait_text(page, lambda t: "Adaptation off" in t and UPDATE_RE.search(t), 20,
                      "switching 'Adapt to my voice' off was not shown")
    last = int(UPDATE_RE.search(text).group(1))
    # the stream survives the reruns of these controls: the estimate keeps updating
    _wait_text(page, lambda t: (m := UPDATE_RE.search(t)) is not None and int(m.group(1)) > last + 2, 20,
               f"the live estimate stopped updating after the controls were used (last update #{last})")
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in _main_text(page)
    context.close()
