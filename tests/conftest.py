"""Shared test fixtures: paths to the real corpora, generated signals, a tiny model bundle."""

from __future__ import annotations

# streamlit-webrtc's SRTP binding (pylibsrtp) segfaults when imported after TensorFlow; import it
# first in every test process, exactly as app.py does.
import contextlib

with contextlib.suppress(ImportError):
    import pylibsrtp  # noqa: F401

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RAVDESS = DATA / "ravdess"
EMODB = DATA / "emodb"
ORIGINALS = DATA / "ravdess-original-wav-sample"
STEREO_48K = ORIGINALS / "Actor_01" / "03-01-02-01-01-02-01.wav"
SHIPPED = ROOT / "models" / "default"

requires_data = pytest.mark.skipif(not RAVDESS.is_dir(), reason="../shared/data is not present")


def speechlike(seconds: float = 2.0, sr: int = 16_000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal ``[shape=(n,)]`` float32 (not silence, not noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
    y = 0.2 * y * env + 0.005 * rng.standard_normal(t.size)
    return y.astype(np.float32)


@pytest.fixture
def tone() -> np.ndarray:
    return speechlike()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real (untrained, random-weight) bundle in the shipped format, fast to build, for unit tests."""
    from ser.testing import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")
