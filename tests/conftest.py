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
from support import speechlike


@pytest.fixture
def tone() -> np.ndarray:
    return speechlike()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real (untrained, random-weight) bundle in the shipped format, fast to build, for unit tests."""
    from ser.testing import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")
