"""Real browser, real WebRTC: the Live microphone page fed by Chromium's fake microphone.

Chromium plays a real-speech WAV as its microphone; the page's streamlit-webrtc component connects to
the app's aiortc peer over loopback with ``iceServers: []`` (host candidates only, no internet); the
server-side LiveAnalyzer must publish a prediction and then keep updating it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

#: Seconds from pressing START to the first prediction and a later update (connection + model warm-up).
LIVE_TIMEOUT_S = 150  # a real clock: generous, the machine may be busy (CI shares it)
WEBRTC_IFRAME = 'iframe[title*="streamlit_webrtc"]'
UPDATE_RE = re.compile(r"Update #(\d+) at (\d\d:\d\d:\d\d\.\d)")
LABEL_RE = re.compile(r"Emotion: (\w+)")


def _labels(model_dir: Path) -> list[str]:
    return json.loads((model_dir / "config.json").read_text())["labels"]


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_live_microphone_predicts_and_updates(app_nav, e2e_model_dir, fake_mic_wav, browser_factory, screenshot):
    browser = browser_factory(fake_audio=fake_mic_wav)
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, permissions=["microphone"])
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text[:200]}"))
    app_nav.goto(page, "live")
    page.get_by_role("heading", name="Live microphone").wait_for(timeout=30_000)
    assert "permission" in _main_text(page)

    webrtc = page.frame_locator(WEBRTC_IFRAME).first
    webrtc.get_by_role("button", name=re.compile(r"^start$", re.I)).click(timeout=30_000)

    labels = _labels(e2e_model_dir)
    first: tuple[int, str, str] | None = None  # (update index, timestamp, label) of the first prediction
    later: tuple[int, str] | None = None
    deadline = time.monotonic() + LIVE_TIMEOUT_S
    text = ""
    while time.monotonic() < deadline:
        text = _main_text(page)
        update, label = UPDATE_RE.search(text), LABEL_RE.search(text)
        if update and label and label.group(1) in labels and first is None:
            first = (int(update.group(1)), update.group(2), label.group(1))
        elif update and first is not None and int(update.group(1)) > first[0] and update.group(2) != first[1]:
            later = (int(update.group(1)), update.group(2))
            break
        page.wait_for_timeout(250)
    screenshot(page, "live")
    detail = f"\npage text:\n{text[:1500]}\nbrowser console (last 15):\n" + "\n".join(console[-15:])
    assert first is not None, f"no prediction within {LIVE_TIMEOUT_S} s of START{detail}"
    assert later is not None, f"the prediction shown ({first}) never updated{detail}"
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in text

    # STOP ends the stream cleanly; the last results stay on the page.
    webrtc.get_by_role("button", name=re.compile(r"^stop$", re.I)).click()
    page.get_by_text("Stream stopped", exact=False).wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    context.close()
