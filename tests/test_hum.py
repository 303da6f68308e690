"""Mains hum (``ser.hum``): found where it is, nowhere else, and filtered out before the features."""

from __future__ import annotations

import numpy as np
import pytest
from support import EMODB, RAVDESS, requires_data, speechlike

from ser import channels, hum
from ser import features as F
from ser.quality import HUM_RELIABILITY, assess

SR = 16_000


def _db(a: np.ndarray, b: np.ndarray) -> float:
    """Power of ``a`` relative to ``b`` (dB)."""
    return float(10 * np.log10(np.mean(np.square(a, dtype=np.float64)) / np.mean(np.square(b, dtype=np.float64))))


def _voice(seconds: float = 3.0) -> np.ndarray:
    """A generated voice between two pauses, as a recording has them."""
    pause = np.zeros(SR // 2, np.float32)
    return np.concatenate([pause, 0.3 * speechlike(seconds), pause])


def _mains(n: int, hz: float, amplitude: float) -> np.ndarray:
    """Hum alone: ``hz`` and its 2nd-5th multiples, each 6 dB below the one before (as ``channels.hum`` makes it)."""
    t = np.arange(n) / SR
    return (amplitude * sum(0.5 ** (k - 1) * np.sin(2 * np.pi * k * hz * t + k) for k in range(1, 6))).astype(np.float32)


def test_a_voice_noise_or_silence_has_no_hum():
    y = _voice()
    assert hum.find_hum(y, sr=SR) is None
    assert hum.remove_hum(y, sr=SR) is y  # nothing found, nothing touched
    noise = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 0.05
    assert hum.find_hum(noise, sr=SR) is None
    assert hum.find_hum(np.zeros(3 * SR, np.float32), sr=SR) is None
    assert hum.find_hum(np.full(3 * SR, 0.1, np.float32), sr=SR) is None  # a DC offset is no hum
    short = _voice()[: int(0.4 * SR)] + _mains(int(0.4 * SR), 50.0, 0.1)
    assert hum.find_hum(short, sr=SR) is None  # too short to tell a line from the voice
    bad = _voice()
    bad[100] = np.nan
    assert hum.find_hum(bad, sr=SR) is None


@pytest.mark.parametrize(("hz", "base"), [(50.0, 50.0), (60.0, 60.0), (50.3, 50.0), (59.8, 60.0)])
def test_hum_is_found_on_its_grid_and_notched_out(hz, base):
    """50 and 60 Hz mains, also a grid running off: found with its own frequency; the notches are linear, so the
    hum alone and the voice alone show what each loses: the hum 35 dB or more, the voice a few hundredths."""
    y = _voice()
    h = _mains(y.size, hz, 0.05)
    found = hum.find_hum(y + h, sr=SR)
    assert found is not None and found.base_hz == base and found.strength_db >= hum.DETECT_DB
    assert len(found.lines_hz) >= hum.DETECT_HARMONICS
    k = np.arange(1, hum.DETECT_HARMONICS + 1)
    assert np.all(np.abs(np.asarray(found.lines_hz[: k.size]) - k * hz) <= 0.05 * k)  # the grid measured to 0.05 Hz
    out = hum.remove_hum(y + h, sr=SR)
    assert out.dtype == np.float32 and out.shape == y.shape
    assert _db(hum.remove_hum(h, sr=SR, hum=found), h) < -35.0
    assert _db(hum.remove_hum(y, sr=SR, hum=found) - y, y) < -12.0
    assert _db(out - y, y) < -12.0 < _db(h, y)
    assert hum.find_hum(out, sr=SR) is None


def test_the_features_trim_the_voice_not_the_hum():
    """``FeatureConfig.remove_hum`` (the default): with hum 10 dB below the voice the clip is trimmed and windowed as
    the clean one; bundles written before it read as off (their digest)."""
    new, old = F.FeatureConfig(), F.FeatureConfig(remove_hum=False)
    assert new.remove_hum and new.digest() != old.digest()
    assert F.FeatureConfig.from_dict({k: v for k, v in new.to_dict().items() if k != "remove_hum"}) == old
    y = _voice(5.0)
    hummed = channels.hum(y, hz=50.0, snr_db=10.0, sr=SR)
    spans, spans_h = F.clip_windows(y, new)[1], F.clip_windows(hummed, new)[1]
    assert len(spans_h) == len(spans) and np.allclose(spans_h, spans, atol=0.02)
    assert F.clean(y, new) is not y and F.clean(y, F.FeatureConfig(remove_dc=False, remove_hum=False)) is y


@requires_data
def test_the_model_input_of_a_humming_clip_stays_near_the_clean_one():
    """Real clips with 50 Hz hum 10 dB below the speech: with removal their model input lies near the clean clip's,
    without it far away (the level and the low bands took the hum for voice); distances in units of each input's
    spread over the clean clips (about 30 against 17,000 over 16 clips when this was written)."""
    from ser.audio import load

    clips = sorted(RAVDESS.glob("Actor_02/*.flac"))[::10] + sorted(EMODB.glob("*.flac"))[::100]
    new, old = F.FeatureConfig(), F.FeatureConfig(remove_hum=False)

    def clip_input(y: np.ndarray, cfg: F.FeatureConfig) -> np.ndarray:
        return F.model_input(F.clip_windows(y, cfg)[0], cfg, "stats").mean(axis=0)

    clean, kept, removed = [], [], []
    for clip in clips:
        y = load(clip, sr=SR)
        hummed = channels.hum(y, hz=50.0, snr_db=10.0, sr=SR)
        clean.append(clip_input(y, new))
        removed.append(clip_input(hummed, new))
        kept.append(clip_input(hummed, old))
    clean, kept, removed = map(np.asarray, (clean, kept, removed))
    spread = clean.std(axis=0) + 1e-6
    near = np.median(np.linalg.norm((removed - clean) / spread, axis=1))
    far = np.median(np.linalg.norm((kept - clean) / spread, axis=1))
    assert near < 0.1 * far, (near, far)


def test_quality_reports_hum_and_trusts_the_model_that_removes_it():
    y = _voice()  # a generated voice of seven harmonics: narrowband to the quality check
    clean = assess(y, sr=SR)
    assert clean.hum_hz is None and clean.to_dict()["hum_hz"] is None
    hummed = channels.hum(y, hz=60.0, snr_db=10.0, sr=SR)
    q = assess(hummed, sr=SR)
    assert q.hum_hz == 60.0 and q.to_dict()["hum_hz"] == 60.0
    assert len(q.warnings) == len(clean.warnings) + 1 and q.reliability == clean.reliability
    assert q.snr_db > 30.0 and not any("noisy" in w for w in q.warnings)  # measured without the hum: quiet pauses
    assert any("mains hum (60 Hz" in w and "filtered out" in w for w in q.warnings)
    old = assess(hummed, sr=SR, hum_removed=False)
    assert old.reliability == pytest.approx(clean.reliability * HUM_RELIABILITY)
    assert any("hears it" in w for w in old.warnings) and old.snr_db < 20.0  # there the hum fills the pauses


@requires_data
def test_real_clips_have_no_hum_until_it_is_added():
    """Studio clips of both corpora are never found to hum; with 50 or 60 Hz hum 10 dB below the speech every one is
    (over all 1,608 clips: no false find, the strongest line of a clean clip 21 dB against a threshold of 25)."""
    from ser.audio import load

    clips = sorted(RAVDESS.glob("Actor_0[1-4]/*.flac"))[::12] + sorted(EMODB.glob("*.flac"))[::40]
    assert len(clips) >= 30
    for i, clip in enumerate(clips):
        y = load(clip, sr=SR)
        assert hum.find_hum(y, sr=SR) is None, clip.name
        found = hum.find_hum(channels.hum(y, hz=(50.0, 60.0)[i % 2], snr_db=10.0, sr=SR), sr=SR)
        assert found is not None and found.base_hz == (50.0, 60.0)[i % 2], clip.name


def test_every_input_path_hears_the_voice_without_the_hum(tiny_bundle, monkeypatch, tmp_path):
    """A clip (whole) and a long recording (streamed window by window) both reach the feature extractor without the
    hum, and the prediction says it was there."""
    import soundfile as sf

    from ser import predict as P

    seen: list[np.ndarray] = []
    real_extract = P.extract
    monkeypatch.setattr(P, "extract", lambda y, cfg, **kw: seen.append(np.array(y)) or real_extract(y, cfg, **kw))
    monkeypatch.setattr(F, "extract", P.extract)  # clip_windows' windows
    pred = P.Predictor(tiny_bundle)
    assert pred.features.remove_hum
    hummed = channels.hum(_voice(6.0), hz=50.0, snr_db=10.0, sr=SR)
    path = tmp_path / "hum.wav"
    sf.write(path, hummed, SR)
    whole = pred.predict_file(path)
    assert seen and all(hum.find_hum(w, sr=SR) is None for w in seen) and whole.warnings
    assert any("mains hum (50 Hz" in w for w in whole.warnings)
    seen.clear()
    monkeypatch.setattr(P, "STREAM_ABOVE_S", 2.0)  # a "long" recording: the streaming path
    streamed = pred.predict_file(path)
    assert len(seen) >= 3 and all(hum.find_hum(w, sr=SR) is None for w in seen)
    assert streamed.label in pred.labels


def test_an_analysed_clip_is_searched_for_hum_once(tiny_bundle, monkeypatch):
    """The quality check and the features share one search (:func:`ser.hum.find_hum`), and what the model hears is
    what each searching on its own would have given it."""
    from ser import predict as P

    pred = P.Predictor(tiny_bundle)
    hummed = channels.hum(_voice(4.0), hz=60.0, snr_db=10.0, sr=SR)
    frames_alone, _ = F.clip_windows(hummed, pred.features)  # searches by itself
    calls: list[int] = []
    real_find = hum.find_hum

    def counting(y, *, sr):
        calls.append(1)
        return real_find(y, sr=sr)

    from ser import quality

    for module in (hum, quality, P):  # wherever a search may be called from
        monkeypatch.setattr(module, "find_hum", counting, raising=False)
    a = pred.analyse(hummed)
    assert len(calls) == 1
    assert a.quality.hum_hz == 60.0
    np.testing.assert_array_equal(a.x, F.model_input(frames_alone, pred.features, pred._kind))
