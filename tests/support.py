"""Shared test helpers: paths to the real corpora and generated signals (import as ``support``)."""

from __future__ import annotations

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


def round_robin(items: list, key, n: int) -> list:
    """Up to ``n`` of ``items``, taking one per ``key(item)`` group in turn (groups sorted, order kept
    within a group), so any prefix covers many groups (speakers, emotions)."""
    groups: dict = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out: list = []
    while len(out) < n and any(groups.values()):
        for k in sorted(groups):
            if groups[k] and len(out) < n:
                out.append(groups[k].pop(0))
    return out


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


def wav_bytes(y: np.ndarray, sr: int = 16_000) -> bytes:
    """``y [shape=(n,)]`` as the bytes of a 16-bit WAV file (what an upload holds)."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def app_texts(at) -> str:
    """Every text an ``AppTest`` run shows: markdown, captions, titles, info/warning/error/success boxes."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [x.value for x in at.info] + [x.value for x in at.warning] + [x.value for x in at.error]
    parts += [x.value for x in at.success]
    return "\n".join(str(p) for p in parts)
