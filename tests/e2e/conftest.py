"""End-to-end fixtures: a real ``streamlit run app.py`` server, Playwright Chromium, a fake microphone.

Reusable by every e2e module:

* ``streamlit_server`` (session): base URL of the app, started with ``SER_MODEL_DIR`` = ``e2e_model_dir``
  and ``SER_DATA_DIR`` = ``../shared/data`` (or an empty folder when absent); killed at the end.
* ``e2e_model_dir`` (session): ``$SER_E2E_MODEL_DIR``, else the shipped ``models/default`` when complete,
  else a tiny untrained bundle.
* ``adaptive_server`` / ``adaptive_model_dir`` (session): an app whose model can adapt to a speaker: the
  server above when its model can, else a second server with a tiny untrained adaptive (mlp) bundle.
  ``serve(model_dir, data_dir, log_dir)`` is the context manager that runs a server; ``adaptive_nav`` is
  ``app_nav`` for that app.
* ``fake_mic_wav`` (session): a 16-bit 48 kHz mono WAV of ~8 s of real RAVDESS speech (angry, actor 1).
* ``browser_factory``: ``launch(fake_audio=None) -> playwright Browser``; with ``fake_audio`` Chromium's
  fake microphone plays that WAV (and grants the permission). Browsers are closed afterwards.
* ``screenshot(page, name)``: saves ``artifacts/screenshots/<name>.png`` (full page).
* ``readme_screenshot(page, name)``: only when ``$SER_SCREENSHOTS`` names a folder (``assets/screens`` for the
  README), saves the visible viewport there as a small palette PNG (960 px wide, < 150 kB); otherwise does
  nothing, so ordinary test runs never rewrite tracked files.
* ``app_nav`` fixture: ``app_nav.goto(page, path)`` opens ``<server>/<path>`` and waits until the script
  run finished; ``app_nav.wait(page)`` waits for the current run (plain functions ``goto_page`` and
  ``wait_for_app`` do the same).

Chromium is Debian's ``/usr/bin/chromium`` (``$SER_CHROMIUM`` overrides; never ``playwright install``).
Without it the e2e tests are skipped, except under ``CI``, where they must run (and fail).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from ser.testing import streamlit_server as start_streamlit

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
RAVDESS = DATA / "ravdess"
SHIPPED = ROOT / "models" / "default"
CHROMIUM = Path(os.environ.get("SER_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Seconds to wait for the server to answer /_stcore/health.
SERVER_START_TIMEOUT = 90
#: Milliseconds to wait for a page's script run (the first one loads TensorFlow and the model).
RUN_TIMEOUT_MS = 90_000
#: Environment variable naming the folder for README screenshots (relative paths: to the repository).
SCREENS_ENV = "SER_SCREENSHOTS"
#: Width (px) and byte limit of a README screenshot.
SCREEN_WIDTH = 960
SCREEN_MAX_BYTES = 150_000


def _chromium_available() -> bool:
    if not CHROMIUM.exists():
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_collection_modifyitems(config, items) -> None:
    """Skip this folder's tests when Chromium/Playwright is missing, unless ``CI`` is set (then they fail)."""
    if _chromium_available() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM} (or playwright missing); set CI to require it")
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)






@pytest.fixture(scope="session")
def e2e_model_dir(tmp_path_factory) -> Path:
    """The bundle the e2e app serves: ``$SER_E2E_MODEL_DIR``, the shipped model, or a tiny one."""
    env = os.environ.get("SER_E2E_MODEL_DIR")
    if env:
        return Path(env)
    if (SHIPPED / "model.keras").exists() and (SHIPPED / "config.json").exists():
        return SHIPPED
    from ser.testing import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("e2e-bundle") / "tiny")


@pytest.fixture(scope="session")
def e2e_data_dir(tmp_path_factory) -> Path:
    """The corpora folder the e2e app sees (``../shared/data``, or an empty folder when absent)."""
    return DATA if DATA.is_dir() else tmp_path_factory.mktemp("no-data")


@contextlib.contextmanager
def serve(model_dir: Path, data_dir: Path, log_dir: Path) -> Iterator[str]:
    """Run ``streamlit run app.py`` with ``SER_MODEL_DIR=model_dir`` on a free port; yield its base URL
    (a server that exits or never gets healthy raises with its log's tail)."""
    with start_streamlit(model_dir, data_dir, log_dir / "server.log", root=ROOT,
                         start_timeout_s=SERVER_START_TIMEOUT) as (url, _pid):
        yield url


@pytest.fixture(scope="session")
def streamlit_server(e2e_model_dir, e2e_data_dir, tmp_path_factory) -> Iterator[str]:
    """Start ``streamlit run app.py`` on a free port; yield its base URL; stop it afterwards."""
    with serve(e2e_model_dir, e2e_data_dir, tmp_path_factory.mktemp("streamlit")) as url:
        yield url


def can_adapt(model_dir: Path) -> bool:
    """Whether a bundle folder can adapt to a speaker (a stats model with an adaptation prior)."""
    import json

    try:
        kind = json.loads((model_dir / "config.json").read_text()).get("input_kind")
    except (OSError, ValueError):
        return False
    return kind == "stats" and (model_dir / "adaptation.json").is_file()


@pytest.fixture(scope="session")
def adaptive_model_dir(e2e_model_dir, tmp_path_factory) -> Path:
    """A bundle that can adapt to a speaker: ``e2e_model_dir`` when it can, else a tiny untrained mlp bundle
    (``ser.testing.make_tiny_bundle`` writes an adaptation prior)."""
    if can_adapt(e2e_model_dir):
        return e2e_model_dir
    from ser.testing import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("e2e-adaptive") / "tiny-adaptive", model_type="mlp")


@pytest.fixture(scope="session")
def adaptive_server(request, adaptive_model_dir, e2e_model_dir, e2e_data_dir, tmp_path_factory) -> Iterator[str]:
    """Base URL of an app serving ``adaptive_model_dir``: the session's server when its model can adapt,
    else a second server of its own."""
    if adaptive_model_dir == e2e_model_dir:
        yield request.getfixturevalue("streamlit_server")
        return
    with serve(adaptive_model_dir, e2e_data_dir, tmp_path_factory.mktemp("streamlit-adaptive")) as url:
        yield url


@pytest.fixture(scope="session")
def fake_mic_wav(tmp_path_factory) -> Path:
    """~8 s of real speech (RAVDESS actor 1, angry clips, concatenated) as a 16-bit 48 kHz mono WAV."""
    import soundfile as sf

    from ser.audio import load

    clips = sorted((RAVDESS / "Actor_01").glob("03-01-05-*"))
    if not clips:
        pytest.skip(f"no RAVDESS clips in {RAVDESS}")
    sr = 48_000
    parts, total = [], 0
    gap = np.zeros(int(0.15 * sr), dtype=np.float32)
    for path in clips:
        y = load(path, sr=sr)
        parts += [y, gap]
        total += y.size + gap.size
        if total >= 8 * sr:
            break
    y = np.concatenate(parts)
    y = 0.9 * y / max(float(np.abs(y).max()), 1e-6)
    out = tmp_path_factory.mktemp("mic") / "fake_mic_angry.wav"
    sf.write(out, y, sr, subtype="PCM_16")
    return out


@pytest.fixture(scope="session")
def _playwright() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required for e2e tests (CI is set) but {CHROMIUM} is missing")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser_factory(_playwright) -> Iterator[Callable]:
    """``launch(fake_audio: Path | None = None, extra_args=()) -> Browser`` (closed after the test)."""
    browsers = []

    def launch(fake_audio: Path | None = None, extra_args: tuple[str, ...] = ()):
        args = list(CHROMIUM_ARGS) + list(extra_args)
        if fake_audio is not None:
            args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-audio-capture={fake_audio}"]
        browser = _playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        browsers.append(browser)
        return browser

    yield launch
    for b in browsers:
        with contextlib.suppress(Exception):
            b.close()


def wait_for_app(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until the Streamlit script run is over (the app is rendered and no longer "running")."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            const state = app && app.getAttribute('data-test-script-state');
            return state === 'notRunning' || state === 'compilationError';
        }""",
        timeout=timeout_ms,
    )
    page.wait_for_timeout(300)


def goto_page(page, base_url: str, path: str = "", timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Open ``base_url/path`` (``""`` = Home) and wait for the script run to finish."""
    page.goto(f"{base_url}/{path}", timeout=timeout_ms)
    wait_for_app(page, timeout_ms)


class AppNav:
    """Helpers bound to the running server (the ``app_nav`` fixture)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def goto(self, page, path: str = "", timeout_ms: int = RUN_TIMEOUT_MS) -> None:
        goto_page(page, self.base_url, path, timeout_ms)

    @staticmethod
    def wait(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
        wait_for_app(page, timeout_ms)


@pytest.fixture
def app_nav(streamlit_server) -> AppNav:
    """:class:`AppNav` for the session's server."""
    return AppNav(streamlit_server)


@pytest.fixture
def adaptive_nav(adaptive_server) -> AppNav:
    """:class:`AppNav` for the app whose model can adapt (see ``adaptive_server``)."""
    return AppNav(adaptive_server)


@pytest.fixture
def screenshot() -> Callable:
    """``shoot(page, name)`` → ``artifacts/screenshots/<name>.png`` (full page); returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        # Streamlit scrolls inside its main container, so a "full page" shot would stop at the viewport:
        # grow the viewport to the content's height for the shot, then restore it.
        size = page.viewport_size or {"width": 1400, "height": 1000}
        height = page.evaluate(
            """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
                               '[data-testid="stMainBlockContainer"]']
                .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight + 40))"""
        )
        tall = int(min(max(size["height"], height or 0), 8000))
        if tall > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": tall})
            page.wait_for_timeout(600)  # let the charts re-layout
        page.screenshot(path=str(path), full_page=True)
        if tall > size["height"]:
            page.set_viewport_size(size)
        return path

    return shoot


def save_readme_screenshot(page, name: str) -> Path | None:
    """The visible viewport of ``page`` → ``$SER_SCREENSHOTS/<name>.png`` (scaled to ``SCREEN_WIDTH`` px,
    256-colour palette, written atomically); ``None`` without ``$SER_SCREENSHOTS``."""
    target = os.environ.get(SCREENS_ENV)
    if not target:
        return None
    from PIL import Image

    folder = Path(target) if Path(target).is_absolute() else ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(800)  # charts finish their transitions
    im = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    im = im.resize((SCREEN_WIDTH, round(im.height * SCREEN_WIDTH / im.width)), Image.Resampling.LANCZOS)
    # octree keeps small, rare colours (a marker, an icon) close to the original; median cut merged them
    im = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    path = folder / f"{name}.png"
    tmp = path.with_suffix(".png.tmp")
    im.save(tmp, format="PNG", optimize=True)
    size = tmp.stat().st_size
    if size > SCREEN_MAX_BYTES:
        tmp.unlink()
        pytest.fail(f"screenshot {name} is {size} bytes (limit {SCREEN_MAX_BYTES})")
    tmp.replace(path)
    return path


@pytest.fixture
def readme_screenshot() -> Callable:
    """:func:`save_readme_screenshot` (a no-op unless ``$SER_SCREENSHOTS`` is set)."""
    return save_readme_screenshot
