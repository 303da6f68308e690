"""ser.quality: narrowband / clipping / noise detection and probability tempering.

Unit tests run on generated wideband speech-like signals; the integration tests read real clips from
../shared/data (skipped when it is absent) and check that clean corpora are not flagged while the same
clips sent through a telephone band are.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy.signal import butter, sosfiltfilt
from support import EMODB, RAVDESS, STEREO_48K, requires_data, round_robin

from ser.audio import load
from ser.errors import AudioError
from ser.quality import MIN_RELIABILITY, NARROWBAND_HZ, Quality, assess, temper

SR = 16_000


def wideband_speech(seconds: float = 3.0, sr: int = SR, f0: float = 130.0, seed: int = 0) -> np.ndarray:
    """Speech-like ``[shape=(n,)]`` float32 with energy up to ~8 kHz: a harmonic voice (harmonics to
    7.6 kHz, -6 dB/octave) in ~4 Hz syllables with pauses, broadband fricative-like noise bursts between
    syllables, 0.3 s of quiet at both ends and a faint noise floor (about 50 dB below the speech)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = f0 * (1 + 0.08 * np.sin(2 * np.pi * 0.9 * t) + 0.03 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    n_harm = int(7600 / (f0 * 1.12))
    voice = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, n_harm + 1))
    syllables = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 1.5  # voiced half of every 250 ms
    hiss = sosfiltfilt(butter(4, 2500, btype="high", fs=sr, output="sos"), rng.standard_normal(n))
    gaps = np.clip(-np.sin(2 * np.pi * 4.0 * t), 0, None) ** 4 * (np.sin(2 * np.pi * 1.3 * t) > 0)
    y = 0.25 * voice * syllables + 0.12 * hiss * gaps
    edge = int(0.3 * sr)
    y[:edge] = 0
    y[-edge:] = 0
    y = 0.5 * y / np.abs(y).max() + 1e-4 * rng.standard_normal(n)
    return y.astype(np.float32)


def lowpass(y: np.ndarray, hz: float, sr: int = SR) -> np.ndarray:
    return sosfiltfilt(butter(8, hz, btype="low", fs=sr, output="sos"), y).astype(np.float32)


def telephone(y: np.ndarray, sr: int = SR) -> np.ndarray:
    """300-3400 Hz band-pass, down to 8 kHz and back up (what a phone line does to a 16 kHz clip)."""
    band = sosfiltfilt(butter(6, [300, 3400], btype="band", fs=sr, output="sos"), y).astype(np.float32)
    return soxr.resample(soxr.resample(band, sr, 8000), 8000, sr).astype(np.float32)


def with_noise(y: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(y.size)
    noise *= np.sqrt(np.mean(y.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def has(q: Quality, word: str) -> bool:
    return any(w.startswith(word) for w in q.warnings)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return wideband_speech()


# -- generated signals ------------------------------------------------------------------------------


def test_clean_speech_is_ok(speech):
    q = assess(speech, sr=SR)
    assert q.ok and q.warnings == ()
    assert q.reliability == 1.0
    assert q.bandwidth_hz > 6500
    assert q.clipping_ratio == 0.0
    assert q.snr_db > 30
    assert q.source_sr is None
    assert assess(speech, sr=SR, source_sr=48_000).ok


def test_lowpassed_speech_is_narrowband(speech):
    q = assess(lowpass(speech, 3400), sr=SR)
    assert has(q, "narrowband") and not q.ok
    assert q.bandwidth_hz < NARROWBAND_HZ
    assert "kHz bandwidth" in q.warnings[0]
    assert q.reliability == pytest.approx(0.5, abs=0.01)
    assert not has(q, "clipped") and not has(q, "very noisy")


def test_source_rate_8k_is_narrowband(speech):
    q = assess(speech, sr=SR, source_sr=8000)
    assert has(q, "narrowband") and "8 kHz source" in q.warnings[0]
    assert q.source_sr == 8000
    assert q.reliability == pytest.approx(0.5)
    # a model with a narrowband member asks for a milder factor; the warning stays
    mild = assess(speech, sr=SR, source_sr=8000, narrowband_reliability=0.85)
    assert mild.reliability == pytest.approx(0.85) and mild.warnings == q.warnings


def test_hard_clipping_is_flagged(speech):
    q = assess(np.clip(speech * 10, -1, 1), sr=SR)
    assert has(q, "clipped") and not has(q, "narrowband")
    assert q.clipping_ratio > 0.01
    assert 0.6 <= q.reliability < 1
    mild = assess(0.8 * np.clip(speech * 2, -0.5, 0.5), sr=SR)  # clipped, then turned down to 0.4
    assert has(mild, "clipped") and mild.clipping_ratio < q.clipping_ratio


def test_one_loud_peak_is_not_clipping(speech):
    y = speech.copy()
    y[SR] = 1.0
    y[SR + 1] = -1.0
    assert assess(y, sr=SR).clipping_ratio == 0.0
    assert assess(speech / np.abs(speech).max(), sr=SR).ok  # peak-normalised to full scale


def test_white_noise_at_0db_is_noisy(speech):
    q = assess(with_noise(speech, 0.0), sr=SR)
    assert has(q, "very noisy") and not has(q, "narrowband")
    assert -5 <= q.snr_db <= 9  # speech level = loud frames, so a 0 dB mix reads a few dB above 0
    assert f"SNR ≈ {round(q.snr_db)} dB" in q.warnings[-1]
    assert 0.4 <= q.reliability < 0.9


def test_reliability_falls_with_noise(speech):
    snrs = [40, 20, 10, 5, 0, -5, -15]
    qs = [assess(with_noise(speech, s), sr=SR) for s in snrs]
    est = [q.snr_db for q in qs]
    rel = [q.reliability for q in qs]
    assert est == sorted(est, reverse=True)
    assert rel == sorted(rel, reverse=True)
    assert qs[0].ok and qs[1].ok and rel[0] == 1.0
    assert all(MIN_RELIABILITY <= r <= 1 for r in rel)
    noise_only = assess(np.random.default_rng(5).standard_normal(SR).astype(np.float32) * 0.1, sr=SR)
    assert noise_only.snr_db < 0 and has(noise_only, "very noisy")


def test_problems_multiply_and_floor(speech):
    y = np.clip(with_noise(lowpass(speech, 3000), -5.0) * 20, -1, 1)
    q = assess(y, sr=SR, source_sr=8000)
    assert len(q.warnings) == 3
    assert q.reliability == pytest.approx(MIN_RELIABILITY)


def test_other_rates_and_dc(speech):
    y48 = soxr.resample(speech, SR, 48_000).astype(np.float32)
    q = assess(y48, sr=48_000, source_sr=48_000)
    assert q.ok and q.bandwidth_hz > 6500
    assert assess(speech + 0.2, sr=SR).ok  # a DC offset is not a problem


def test_to_dict_is_json_ready(speech):
    d = assess(lowpass(speech, 3400), sr=SR, source_sr=16_000).to_dict()
    assert set(d) == {"bandwidth_hz", "source_sr", "clipping_ratio", "snr_db", "warnings", "reliability", "hum_hz", "ok"}
    assert d["ok"] is False and isinstance(d["warnings"], list)
    assert json.loads(json.dumps(d)) == d


def test_quality_is_frozen(speech):
    q = assess(speech, sr=SR)
    with pytest.raises(AttributeError):
        q.reliability = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "y, kwargs, match",
    [
        (np.zeros(0, np.float32), {}, "no samples"),
        (np.full(SR, np.nan, np.float32), {}, "NaN"),
        (np.r_[np.zeros(SR, np.float32), np.inf], {}, "NaN or infinite"),
        (np.zeros(SR, np.float32), {}, "silent"),
        (np.ones(100, np.float32) * 0.1, {}, "too short"),
        (np.ones(SR, np.float32) * 0.1, {"sr": 0}, "sample rate"),
        (np.ones(SR, np.float32) * 0.1, {"source_sr": -8000}, "source sample rate"),
    ],
)
def test_bad_input_raises_audio_error(y, kwargs, match):
    with pytest.raises(AudioError, match=match):
        assess(y, **{"sr": SR, **kwargs})


def test_fast_enough():
    y = wideband_speech(4.0)
    assess(y, sr=SR)
    times = []
    for _ in range(15):
        t = time.perf_counter()
        assess(y, sr=SR)
        times.append(time.perf_counter() - t)
    assert np.median(times) < 0.025  # ~2 ms here; generous for slow CI machines


# -- temper -----------------------------------------------------------------------------------------


def test_temper():
    p = np.array([0.7, 0.2, 0.1, 0.0])
    assert np.array_equal(temper(p, 1.0), p)
    assert temper(p, 1.0) is not p
    np.testing.assert_allclose(temper(p, 0.0), np.full(4, 0.25))
    half = temper(p, 0.5)
    np.testing.assert_allclose(half, 0.5 * p + 0.125)
    assert half.sum() == pytest.approx(1.0)
    assert np.argmax(half) == 0
    prev = p
    for r in (0.8, 0.5, 0.2):  # lower reliability → flatter (lower max, higher min)
        cur = temper(p, r)
        assert cur.max() < prev.max() and cur.min() > prev.min()
        prev = cur


def test_temper_batch_keeps_shape_dtype_and_sums():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(8), size=5).astype(np.float32)
    out = temper(p, 0.3)
    assert out.shape == (5, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out.argmax(axis=1), p.argmax(axis=1))


@pytest.mark.parametrize("bad", [(np.ones((2, 2, 2)) / 2, 0.5), (np.zeros(0), 0.5), (np.ones(3) / 3, 1.5),
                                 (np.ones(3) / 3, -0.1), (np.ones(3) / 3, float("nan"))])
def test_temper_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        temper(*bad)


# -- real clips -------------------------------------------------------------------------------------


def _real_clips() -> list:
    rav = round_robin(sorted(RAVDESS.glob("Actor_*/*.flac")), lambda f: f.parent.name, 20)
    emo = round_robin(sorted(EMODB.glob("*.flac")), lambda f: f.name[:2], 20)
    return rav + emo


@requires_data
def test_real_clean_clips_are_not_narrowband_or_clipped():
    clips = _real_clips()
    assert len(clips) == 40
    for f in clips:
        q = assess(load(f), sr=SR, source_sr=sf.info(str(f)).samplerate)
        assert not has(q, "narrowband") and not has(q, "clipped"), (f.name, q)
        assert q.bandwidth_hz > 6500 and q.clipping_ratio < 1e-3, (f.name, q)


@requires_data
def test_real_clips_through_telephone_band_are_narrowband():
    for f in _real_clips():
        q = assess(telephone(load(f)), sr=SR)
        assert has(q, "narrowband"), (f.name, q)
        assert q.bandwidth_hz < 4500, (f.name, q)


@requires_data
def test_clipped_48k_original_is_flagged_after_resampling():
    y, sr = sf.read(str(STEREO_48K), dtype="float32")
    y = y.mean(axis=1) if y.ndim == 2 else y
    assert assess(load(STEREO_48K), sr=SR, source_sr=sr).ok
    clipped = np.clip(10 * y / np.abs(y).max(), -1, 1).astype(np.float32)
    assert has(assess(clipped, sr=sr), "clipped")  # at its own rate: exact flat tops
    q = assess(soxr.resample(clipped, sr, SR).astype(np.float32), sr=SR, source_sr=sr)  # as load() gives it
    assert has(q, "clipped") and q.clipping_ratio > 0.01
