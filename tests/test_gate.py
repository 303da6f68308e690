"""The speech gate (:mod:`ser.gate`): levels, speech band, zero crossings, and the quiet/speech decision."""

from __future__ import annotations

import numpy as np
import pytest
from support import RAVDESS, requires_data, speechlike

from ser import audio, gate

CLIPS = [
    RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac",  # angry, strong
    RAVDESS / "Actor_02" / "03-01-03-02-02-01-02.flac",  # happy, strong
]


def test_levels_and_the_speech_gate():
    sr = 16_000
    t = np.arange(int(2.5 * sr)) / sr
    rng = np.random.default_rng(0)
    assert abs(gate.dbfs(np.sin(2 * np.pi * 440 * t)) - (-3.01)) < 0.05
    assert gate.dbfs(np.zeros(100)) == gate.FLOOR_DBFS and gate.dbfs(np.zeros(0)) == gate.FLOOR_DBFS

    silence = gate.gate(np.zeros(t.size, np.float32))
    faint = gate.gate(1e-4 * rng.standard_normal(t.size).astype(np.float32))  # -80 dBFS room tone
    hiss = gate.gate(0.05 * rng.standard_normal(t.size).astype(np.float32))  # loud, but white noise
    hum = gate.gate((0.2 * np.sin(2 * np.pi * 50 * t)).astype(np.float32))  # mains hum
    voiced = gate.gate(speechlike(2.5))
    for g in (silence, faint):
        assert g.quiet and "below" in g.reason
    for g in (hiss, hum):
        assert g.quiet and g.reason.startswith("not speech"), g
    assert not voiced.quiet and voiced.reason == "" and voiced.level_dbfs > -45
    # A short word in a mostly silent window still opens the gate (the active level is a percentile).
    word = np.zeros(t.size, np.float32)
    word[: int(0.4 * sr)] = speechlike(0.4)
    assert not gate.gate(word).quiet
    assert gate.gate(speechlike(2.5) * 10 ** (-50 / 20)).quiet  # the same voice 50 dB down is quiet


@requires_data
def test_gate_opens_on_real_speech():
    for p in CLIPS:
        g = gate.gate(audio.load(p)[:40_000])
        assert not g.quiet, (p.name, g)
        assert g.band_ratio > 0.8 and g.zcr < 0.3


def test_frame_levels_and_zero_crossings_match_librosa():
    """The numpy routines give librosa's numbers (librosa itself stays off the live path: see ser/gate.py).

    ``librosa.feature.rms`` over the same non-overlapping frames is the same level; librosa's zero-crossing
    rate divides each frame's crossings by its length ``n`` where :func:`gate.zero_crossing_rate` divides by
    the ``n - 1`` sample pairs.
    """
    librosa = pytest.importorskip("librosa")
    sr, n = 16_000, 320  # 20 ms frames
    rng = np.random.default_rng(1)
    y = np.concatenate([speechlike(1.0), 0.05 * rng.standard_normal(sr).astype(np.float32),
                        np.zeros(n, np.float32)])  # speech, hiss, one frame of digital silence
    ours = gate.frame_levels(y, sr)
    rms = librosa.feature.rms(y=y, frame_length=n, hop_length=n, center=False)[0]
    ref = np.maximum(gate.FLOOR_DBFS, 20.0 * np.log10(np.maximum(rms.astype(np.float64), 1e-15)))
    assert ours.shape == ref.shape == (y.size // n,)
    np.testing.assert_allclose(ours, ref, atol=1e-3)

    frames = y[: (y.size // n) * n].reshape(-1, n)
    zcr = np.array([gate.zero_crossing_rate(f) for f in frames])
    ref_zcr = librosa.feature.zero_crossing_rate(y, frame_length=n, hop_length=n, center=False)[0]
    np.testing.assert_allclose(zcr * (n - 1) / n, ref_zcr, atol=1e-9)
