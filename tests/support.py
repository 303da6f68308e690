"""Shared test helpers: paths to the real corpora and generated signals (import as ``support``).

The signal helpers live in :mod:`ser.testing` (benchmarks use them without pytest) and are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ser.testing import round_robin, speechlike, wav_bytes  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RAVDESS = DATA / "ravdess"
EMODB = DATA / "emodb"
ORIGINALS = DATA / "ravdess-original-wav-sample"
STEREO_48K = ORIGINALS / "Actor_01" / "03-01-02-01-01-02-01.wav"
SHIPPED = ROOT / "models" / "default"

requires_data = pytest.mark.skipif(not RAVDESS.is_dir(), reason="../shared/data is not present")


def app_texts(at) -> str:
    """Every text an ``AppTest`` run shows: markdown, captions, titles, info/warning/error/success boxes."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [x.value for x in at.info] + [x.value for x in at.warning] + [x.value for x in at.error]
    parts += [x.value for x in at.success]
    return "\n".join(str(p) for p in parts)
