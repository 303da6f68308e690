"""Live analysis of a microphone stream: frames in, a rolling emotion estimate out.

The pieces, from the media side to the model:

* The media side calls :meth:`LiveAnalyzer.push` for each frame (an ``av.AudioFrame``, what WebRTC
  delivers: usually 20 ms of interleaved int16 stereo at 48 kHz, or numpy PCM). It is cheap: a
  :class:`ser.audio.StreamResampler` converts the frame to mono float32 at the model rate (16 kHz)
  with one continuous resampling filter, and a :class:`RingBuffer` keeps the last few seconds.
* A worker thread of the analyzer's own analyses the last ``window_s`` seconds every ``step_s``
  seconds of received audio: its :class:`ser.vad.StreamingSpeechDetector` decides whether the window
  holds speech at all (the energy gate's level check, then Silero VAD, which keeps its state across the
  stream and scores each 32 ms frame once; the energy gate :func:`ser.gate.gate` alone where Silero is
  not installed), so silence, noise, music and typing show as "quiet" instead of a random
  emotion; the model predicts the rest. It keeps the latest :class:`LiveResult` plus a bounded history
  for a scrolling timeline.
* A steady headline: :func:`smooth_probabilities` averages the window probabilities over the last
  ~2 s and :func:`update_headline` (a small state machine) lets the shown label change only after it
  was held ``hold_s`` seconds and the new one led (by a small margin) for ``confirm_s`` seconds; the raw
  per-window results stay in the history for the timeline.
* :class:`FrameTap` is the streamlit-webrtc sink callback: it hands each received frame to the
  session's current analyzer; :func:`warm_up` pays the model's one-off set-up before the first window.

Units: samples are float32 in [-1, 1]; levels are dBFS (0 dBFS = full-scale RMS of 1.0); times are
seconds. "Stream time" counts the seconds of audio received since :meth:`LiveAnalyzer.start`.

No Streamlit, plotly or librosa here: the page (``pages/live.py``) only moves frames and draws, with
:func:`ser.viz.live_probability_bars` / :func:`ser.viz.live_timeline`; its WebRTC servers come from
:func:`ser.rtc.rtc_configuration`.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, get_args

import numpy as np

from .audio import MIN_DURATION, SAMPLE_RATE, StreamResampler
from .features import clip_windows
from .gate import GateResult, dbfs
from .vad import VAD_RATE, StreamingSpeechDetector, vad_gate
from .vad import Backend as VadBackend
from .vad import warm_up as warm_up_vad

if TYPE_CHECKING:  # the Predictor (ONNX Runtime) is only needed by whoever builds it
    from .predict import Predictor


# -- ring buffer ---------------------------------------------------------------------------------


class RingBuffer:
    """The last ``seconds`` of a mono float32 stream at ``sr`` Hz, in a fixed array. Thread-safe.

    :meth:`append` writes (overwriting the oldest samples once full); :meth:`latest` reads the
    newest ``n`` samples in time order. :attr:`total` counts every sample ever appended, so
    ``total / sr`` is the stream time of the newest sample.
    """

    def __init__(self, seconds: float, sr: int = SAMPLE_RATE) -> None:
        self.sr = int(sr)
        self.capacity = int(round(seconds * self.sr))
        if self.capacity <= 0:
            raise ValueError(f"a ring buffer needs a positive size, got {seconds} s at {sr} Hz")
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self._pos = 0  # next write index
        self._total = 0
        self._lock = threading.Lock()

    def append(self, y: np.ndarray) -> None:
        """Append samples ``[shape=(n,)]`` (cast to float32)."""
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        n = y.size
        if n == 0:
            return
        with self._lock:
            self._total += n
            if n >= self.capacity:
                self._buf[:] = y[-self.capacity :]
                self._pos = 0
                return
            first = min(n, self.capacity - self._pos)
            self._buf[self._pos : self._pos + first] = y[:first]
            if first < n:
                self._buf[: n - first] = y[first:]
            self._pos = (self._pos + n) % self.capacity

    def latest(self, n: int | None = None) -> np.ndarray:
        """The newest ``min(n, len(self))`` samples ``[shape=(m,)]`` float32, oldest first (a copy)."""
        return self.snapshot(n)[0]

    def snapshot(self, n: int | None = None) -> tuple[np.ndarray, int]:
        """``(latest(n), total)`` read atomically: the samples and the stream position they end at."""
        with self._lock:
            avail = min(self._total, self.capacity)
            n = avail if n is None else max(0, min(int(n), avail))
            start = (self._pos - n) % self.capacity
            if start + n <= self.capacity:
                out = self._buf[start : start + n].copy()
            else:
                out = np.concatenate([self._buf[start:], self._buf[: (start + n) - self.capacity]])
            return out, self._total

    @property
    def total(self) -> int:
        """Samples appended since creation (or :meth:`clear`)."""
        with self._lock:
            return self._total

    def __len__(self) -> int:
        with self._lock:
            return min(self._total, self.capacity)

    def clear(self) -> None:
        with self._lock:
            self._buf[:] = 0.0
            self._pos = 0
            self._total = 0


# -- analyzer ------------------------------------------------------------------------------------

#: Predictors that already ran a warm-up inference (shared predictors are warmed once per process).
_WARMED: weakref.WeakSet = weakref.WeakSet()
_WARM_LOCK = threading.Lock()


def warm_up(predictor: Predictor, *, background: bool = False) -> float:
    """Run one throw-away inference so the model's one-off set-up (graph tracing, 1-5 s) is paid now
    and not by the first live window. Done once per predictor and process; later calls return 0.

    With ``background`` it runs on a daemon thread and returns 0 at once (for a page to call while
    it renders). Returns the seconds the inference took.
    """
    if background:
        threading.Thread(target=warm_up, args=(predictor,), name="ser-live-warmup", daemon=True).start()
        return 0.0
    with _WARM_LOCK:  # one warm-up at a time; whoever waited finds the predictor warm
        try:
            if predictor in _WARMED:
                return 0.0
        except TypeError:  # not weak-referenceable: just warm it up
            pass
        sr = int(predictor.sample_rate)
        t = np.arange(sr) / sr
        y = (0.1 * np.sin(2 * np.pi * 150.0 * t) * (1 + np.sin(2 * np.pi * 3.0 * t))).astype(np.float32)
        t0 = time.perf_counter()
        frames, _ = clip_windows(y, predictor.features)
        predictor.predict_frames(frames)
        with contextlib.suppress(TypeError):
            _WARMED.add(predictor)
        return time.perf_counter() - t0


@dataclass(frozen=True)
class LiveResult:
    """One update of the live analysis.

    ``index``: 1, 2, ... per update; ``t``: stream time (s) of the window's end; ``wall``: ``time.time()``
    when the result was ready; ``label``/``confidence``/``probabilities``: the model's answer (``None``,
    0 and ``{}`` when ``quiet``); ``uncertain``: confidence below the predictor's threshold;
    ``level_dbfs``: RMS of the newest ``step_s`` of audio (what a level meter shows);
    ``gate``: the :class:`GateResult` of the window; ``latency_s``: analysis time (s): gate, features
    and model (gate only when quiet);
    ``window_s``: seconds of audio analysed; ``plain_probabilities``: the unadapted answer (equal to
    ``probabilities`` when adaptation is off); ``adapted``: ``probabilities`` used the speaker profile;
    ``profile_s``: seconds of this voice the profile had heard before this window.
    """

    index: int
    t: float
    wall: float
    label: str | None
    confidence: float
    probabilities: dict[str, float]
    uncertain: bool
    quiet: bool
    level_dbfs: float
    gate: GateResult
    latency_s: float
    window_s: float
    plain_probabilities: dict[str, float] = field(default_factory=dict)
    adapted: bool = False
    profile_s: float = 0.0

    @property
    def timestamp(self) -> str:
        """Wall-clock time of the result, ``HH:MM:SS.s``."""
        return time.strftime("%H:%M:%S", time.localtime(self.wall)) + f".{int(self.wall * 10) % 10}"


@dataclass(frozen=True)
class LiveStats:
    """Running statistics of a :class:`LiveAnalyzer`.

    ``audio_s``: seconds of audio received; ``frames``: frames pushed; ``updates``: results published
    (``predictions`` + ``quiet``); ``predictions``: model inferences run; ``skipped_steps``: steps not
    analysed because the worker was busy (it always takes the newest window); ``mean_latency_s`` /
    ``max_latency_s``: inference time per prediction (gate + features + model); ``mean_added_latency_s``:
    time from the newest sample of a window arriving in :meth:`LiveAnalyzer.push` to its result being
    published (waiting + inference): what the analysis adds on top of the network; ``rtf``: real-time
    factor, inference seconds spent per second of audio received (< 1 keeps up); ``load``:
    ``mean_latency_s / step_s``, the share of each step's budget spent inferring; ``mean_push_ms`` /
    ``max_push_ms``: time spent in :meth:`LiveAnalyzer.push` per frame (the media thread's cost);
    ``errors``: analyses that raised; ``last_error``: the last one's message.
    """

    audio_s: float
    frames: int
    updates: int
    predictions: int
    quiet: int
    skipped_steps: int
    mean_latency_s: float
    max_latency_s: float
    mean_added_latency_s: float
    rtf: float
    load: float
    mean_push_ms: float
    max_push_ms: float
    errors: int
    last_error: str = ""


# -- steady headline -----------------------------------------------------------------------------

#: The headline's label while the smoothed windows hold no speech.
QUIET = "quiet"


#: Least weight (s) a non-quiet window gets in :func:`smooth_probabilities`.
MIN_WEIGHT_S = 0.05


def smooth_probabilities(results: Sequence[LiveResult], *, span_s: float = 2.0,
                         by_speech: bool = True) -> dict[str, float] | None:
    """Sliding mean of the window probabilities over the last ``span_s`` seconds of stream time.

    ``results``: oldest first. A window counts when its end ``t`` lies less than ``span_s`` before the
    newest one's (``span_s / step_s`` windows: 4 at 2 s and 0.5 s steps). With ``by_speech`` each window
    weighs the seconds of speech it holds (``gate.active_s``, at least :data:`MIN_WEIGHT_S`): a window
    that only grazes the end of a sentence says little, and the model's answers on such slivers are
    erratic. Quiet windows add nothing; ``None`` when every counted window is quiet (or there are none).
    Returns ``{label: mean probability}``, summing to 1.
    """
    if not results:
        return None
    horizon = results[-1].t - float(span_s) + 1e-9
    kept = [r for r in results if r.t > horizon and not r.quiet and r.probabilities]
    if not kept:
        return None
    labels = list(kept[-1].probabilities)
    p = np.array([[r.probabilities.get(k, 0.0) for k in labels] for r in kept], dtype=np.float64)
    w = np.array([max(MIN_WEIGHT_S, r.gate.active_s) if by_speech else 1.0 for r in kept], dtype=np.float64)
    mean = (w[:, None] * p).sum(axis=0) / w.sum()
    total = float(mean.sum())
    return {k: float(v / total) if total > 0 else 0.0 for k, v in zip(labels, mean, strict=True)}


def smoothed_series(results: Sequence[LiveResult], *, span_s: float = 2.0) -> list[tuple[float, dict[str, float] | None]]:
    """``(t, smooth_probabilities(results up to t))`` for every result (oldest first): the smoothed trail."""
    out: list[tuple[float, dict[str, float] | None]] = []
    start = 0
    for i, r in enumerate(results):
        while results[start].t <= r.t - span_s:
            start += 1
        out.append((r.t, smooth_probabilities(results[start : i + 1], span_s=span_s)))
    return out


@dataclass(frozen=True)
class Headline:
    """The steady label shown above the live charts (see :func:`update_headline`).

    ``label``: an emotion, or :data:`QUIET`; ``probabilities``: the smoothed probabilities it was last
    judged on (the last speech ones while quiet); ``confidence``: the label's smoothed probability (0 when
    quiet); ``uncertain``: confidence below the predictor's threshold; ``since``: stream time (s) the label
    was adopted; ``t``: stream time of the last update; ``candidate``: the smoothed top when it differs
    from ``label`` (``None`` otherwise), leading since ``candidate_since``; ``changes``: how often the label
    changed.
    """

    label: str
    probabilities: dict[str, float]
    confidence: float
    since: float
    t: float
    uncertain: bool = False
    candidate: str | None = None
    candidate_since: float = 0.0
    changes: int = 0

    @property
    def quiet(self) -> bool:
        return self.label == QUIET

    @property
    def held_s(self) -> float:
        """Seconds of stream time the current label has been shown."""
        return self.t - self.since


def update_headline(
    prev: Headline | None,
    smoothed: Mapping[str, float] | None,
    t: float,
    *,
    hold_s: float = 3.0,
    confirm_s: float = 1.0,
    margin: float = 0.0,
    threshold: float | None = None,
) -> Headline:
    """The next headline state after a smoothed update at stream time ``t`` (s). Pure.

    ``smoothed``: :func:`smooth_probabilities` (``None`` = quiet). The first update sets the label at
    once. Later, a different top (:data:`QUIET` included) replaces the label only when the label has been
    shown for at least ``hold_s`` seconds *and* something other than it has led the smoothed
    probabilities for at least ``confirm_s`` seconds; the label then becomes the top at that moment. So
    the label changes at most once per ``hold_s`` seconds, and never for a blip shorter than
    ``confirm_s``. An emotion leads an emotion label only when its smoothed probability is higher by at
    least ``margin`` (0-1; hysteresis: two near-equal emotions do not take turns). ``threshold`` (0-1)
    sets ``uncertain``.
    """
    probs = dict(smoothed) if smoothed else {}
    top = max(probs, key=probs.get) if probs else QUIET
    if prev is not None and top not in (QUIET, prev.label) and prev.label in probs:
        if probs[top] - probs[prev.label] < margin:
            top = prev.label  # not ahead by the margin: the label still counts as leading

    def state(label: str, since: float, **kw: Any) -> Headline:
        shown = probs or ({} if label == QUIET or prev is None else prev.probabilities)
        conf = float(shown.get(label, 0.0)) if label != QUIET else 0.0
        unc = label != QUIET and threshold is not None and conf < threshold
        return Headline(label=label, probabilities=shown, confidence=conf, since=since, t=float(t),
                        uncertain=bool(unc), **kw)

    if prev is None:
        return state(top, float(t))
    if top == prev.label:
        return state(prev.label, prev.since, changes=prev.changes)
    leading_since = prev.candidate_since if prev.candidate is not None else float(t)
    if t - prev.since >= hold_s - 1e-9 and t - leading_since >= confirm_s - 1e-9:
        return state(top, float(t), changes=prev.changes + 1)
    return state(prev.label, prev.since, candidate=top, candidate_since=leading_since, changes=prev.changes)


def count_changes(labels: Sequence[str]) -> int:
    """How often consecutive items of ``labels`` differ (a headline's label changes)."""
    return sum(1 for a, b in zip(labels[:-1], labels[1:], strict=True) if a != b)


@dataclass
class _Counters:
    frames: int = 0
    push_s: float = 0.0
    push_max_s: float = 0.0
    updates: int = 0
    predictions: int = 0
    quiet: int = 0
    skipped: int = 0
    infer_s: float = 0.0
    infer_max_s: float = 0.0
    added_s: float = 0.0
    errors: int = 0
    last_error: str = ""
    threads: set[int] = field(default_factory=set)


class LiveAnalyzer:
    """Rolling speech-emotion analysis of a live audio stream.

    ``predictor``: a loaded :class:`ser.predict.Predictor` (thread-safe; shared with other sessions);
    ``window_s``: seconds analysed per update (the newest ones); ``step_s``: seconds of new audio
    between updates; ``gate_dbfs``: active level (dBFS) below which a window is "quiet" (a low floor: the
    voice detector makes the speech decision, so soft voices are not cut by level; ``benchmarks/README.md``);
    ``vad``: the voice detector that decides whether an audible window is speech (:data:`ser.vad.Backend`:
    ``"auto"``, Silero VAD when installed, else the energy gate; ``"silero"``; ``"energy"``; the stream
    is gated by a :class:`ser.vad.StreamingSpeechDetector` of the analyzer's own, which scores each frame
    once, at a model rate other than 16 kHz and in :meth:`analyse` by :func:`ser.vad.vad_gate`);
    ``min_s``: shortest audio analysed before the first full window; ``history_s``: how much
    history :meth:`history` keeps. The steady :meth:`headline` averages the window probabilities over
    ``smooth_s`` seconds and changes its label at most once per ``hold_s`` seconds, for a new top that led
    by ``margin`` for at least ``confirm_s`` seconds (see :func:`update_headline`). ``idle_stop_s``: the worker stops by
    itself once no audio arrived for that long (a stream that ended without anyone calling :meth:`stop`);
    ``None`` = never.

    Threads: :meth:`push` is called by the media side (any one thread) and only converts the frame
    and appends to a :class:`RingBuffer`; a daemon worker started by :meth:`start` wakes when
    ``step_s`` of new audio has arrived, runs the gate and the model on the newest ``window_s``
    seconds, and publishes a :class:`LiveResult` (:meth:`latest`, :meth:`history`). If inference is
    slower than ``step_s`` the worker skips to the newest window, so the delay never builds up.
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        window_s: float = 2.5,
        step_s: float = 0.5,
        gate_dbfs: float = -55.0,
        vad: VadBackend = "auto",
        min_s: float = 1.0,
        history_s: float = 60.0,
        smooth_s: float = 2.0,
        hold_s: float = 3.0,
        confirm_s: float = 1.0,
        margin: float = 0.05,
        idle_stop_s: float | None = None,
    ) -> None:
        if window_s <= 0 or step_s <= 0:
            raise ValueError("window_s and step_s must be positive")
        if smooth_s <= 0 or hold_s < 0 or confirm_s < 0:
            raise ValueError("smooth_s must be positive, hold_s and confirm_s not negative")
        if vad not in get_args(VadBackend):
            raise ValueError(f"unknown vad {vad!r}; known: {', '.join(get_args(VadBackend))}")
        self.predictor = predictor
        self.sr = int(predictor.sample_rate)
        self.labels: tuple[str, ...] = tuple(predictor.labels)
        self.window_s = float(window_s)
        self.step_s = float(step_s)
        self.gate_dbfs = float(gate_dbfs)
        self.vad: VadBackend = vad
        self.min_s = min(float(min_s), self.window_s)
        self.history_s = float(history_s)
        self.smooth_s = float(smooth_s)
        self.hold_s = float(hold_s)
        self.confirm_s = float(confirm_s)
        self.margin = float(margin)
        self.idle_stop_s = None if idle_stop_s is None else float(idle_stop_s)
        self._win = int(round(self.window_s * self.sr))
        self._step = max(1, int(round(self.step_s * self.sr)))
        self._min = max(1, int(round(self.min_s * self.sr)))
        self.buffer = RingBuffer(max(self.window_s, 1.0) + 1.0, self.sr)
        #: The stream's voice detector (only :meth:`step` uses it); ``None``: :func:`ser.vad.vad_gate` per window.
        self.speech: StreamingSpeechDetector | None = (
            StreamingSpeechDetector(backend=vad, keep_s=self.window_s + 1.0)
            if vad != "energy" and self.sr == VAD_RATE else None)
        self._resampler = StreamResampler(self.sr)
        self._push_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._profile_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_push_wall = 0.0
        self._started_wall = 0.0
        self._analysed_total = 0
        self._latest: LiveResult | None = None
        self._headline: Headline | None = None
        self._recent: collections.deque[LiveResult] = collections.deque(  # the windows the headline averages
            maxlen=int(math.ceil(self.smooth_s / self.step_s)) + 1
        )
        self._history: collections.deque[LiveResult] = collections.deque(
            maxlen=int(math.ceil(self.history_s / self.step_s)) + 1
        )
        self._c = _Counters()
        #: Seconds the warm-up inference took (``None`` until it ran).
        self.warmup_s: float | None = None
        #: Adapt to the voice as the session runs (when the model can); the profile keeps learning
        #: while this is off, so switching compares the two answers on the same speech.
        self.adapt = bool(predictor.adaptive)
        self.profile = predictor.new_profile("live") if predictor.adaptive else None

    # -- media side ----------------------------------------------------------------------------
    def push(self, frame: Any, *, sr: int | None = None, channels: int = 1) -> int:
        """Add one frame (``av.AudioFrame``, or numpy PCM with ``sr``/``channels``); returns samples added.

        Cheap and non-blocking apart from short locks: no inference happens here.
        """
        t0 = time.perf_counter()
        with self._push_lock:
            y = self._resampler(frame, sr=sr, channels=channels)
            self.buffer.append(y)
            self._last_push_wall = time.time()
        dt = time.perf_counter() - t0
        with self._state_lock:
            c = self._c
            c.frames += 1
            c.push_s += dt
            c.push_max_s = max(c.push_max_s, dt)
        self._wake.set()
        return int(y.size)

    def current_level(self, seconds: float = 0.2) -> float:
        """RMS level (dBFS) of the newest ``seconds`` of audio: for a level meter between updates."""
        return dbfs(self.buffer.latest(int(seconds * self.sr)))

    # -- worker --------------------------------------------------------------------------------
    def start(self, *, warmup: bool = True) -> LiveAnalyzer:
        """Start the worker thread (no-op if running). Returns ``self``.

        With ``warmup`` the worker first runs :func:`warm_up` (a no-op once the predictor is warm) and
        loads its speech detector (:func:`ser.vad.warm_up`: Silero about 0.1 s), so these one-off
        set-up costs are not paid by the first live window.
        """
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._started_wall = time.time()
        self._thread = threading.Thread(target=self._run, args=(warmup,), name="ser-live-analyzer", daemon=True)
        self._thread.start()
        return self

    def warmup(self) -> float:
        """Warm the predictor up (see :func:`warm_up`); returns the seconds it took (0 if it was warm)."""
        return warm_up(self.predictor)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker thread and wait for it (at most ``timeout`` s). Results stay readable."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _due(self) -> bool:
        total = self.buffer.total
        return total >= self._min and total - self._analysed_total >= self._step

    def _run(self, warmup: bool) -> None:
        if warmup:
            try:
                self.warmup_s = self.warmup()
                if self.speech is not None:
                    self.speech.backend  # noqa: B018 - loads the stream's own detector (Silero: about 0.1 s)
                else:
                    warm_up_vad(self.vad)  # this worker thread's own detector (see ser.vad.vad_gate)
            except Exception as exc:  # a broken model shows up in the stats, not as a dead thread
                with self._state_lock:
                    self._c.errors += 1
                    self._c.last_error = f"warm-up: {type(exc).__name__}: {exc}"
        while not self._stop.is_set():
            self._wake.wait(timeout=0.25)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._due():
                self.step()
            elif self.idle_stop_s is not None and self.seconds_since_audio() > self.idle_stop_s:
                break  # the stream is gone (closed tab, lost connection): do not idle forever

    def step(self) -> LiveResult | None:
        """Analyse the newest window now (the worker calls this; tests may too). ``None`` if no audio."""
        speech = self.speech
        with self._push_lock:  # the window and the arrival time of its newest sample, together
            total = self.buffer.total
            # with the streaming detector, also the samples it has not scored yet (when still buffered)
            need = self._win if speech is None else max(self._win, speech.pending(total))
            y, total = self.buffer.snapshot(need)
            pushed_at = self._last_push_wall
        if y.size == 0:
            return None
        skipped = max(0, (total - self._analysed_total) // self._step - 1) if self._analysed_total else 0
        self._analysed_total = total
        try:
            if speech is None:
                result = self.analyse(y, t=total / self.sr)
            else:
                result = self._analyse(
                    y[-self._win :], t=total / self.sr,
                    gate=lambda w: speech.gate(y, end=total, window=w.size, threshold_dbfs=self.gate_dbfs))
        except Exception as exc:  # keep the stream alive whatever one window does
            with self._state_lock:
                self._c.errors += 1
                self._c.last_error = f"{type(exc).__name__}: {exc}"
            return None
        with self._state_lock:
            c = self._c
            c.updates += 1
            c.skipped += int(skipped)
            c.threads.add(threading.get_ident())
            if result.quiet:
                c.quiet += 1
            else:
                c.predictions += 1
                c.infer_s += result.latency_s
                c.infer_max_s = max(c.infer_max_s, result.latency_s)
                c.added_s += max(0.0, result.wall - pushed_at)
            result = _with_index(result, c.updates)
            self._latest = result
            self._history.append(result)
            self._recent.append(result)
            self._headline = update_headline(
                self._headline, smooth_probabilities(list(self._recent), span_s=self.smooth_s), result.t,
                hold_s=self.hold_s, confirm_s=self.confirm_s, margin=self.margin,
                threshold=self.predictor.threshold)
        return result

    def analyse(self, y: np.ndarray, *, t: float = 0.0) -> LiveResult:
        """Gate and (if not quiet) predict one window ``y [shape=(n,)]`` float32 at the model rate.

        Pure apart from the shared predictor; does not touch the history (nor the stream's voice detector:
        the window is gated on its own by :func:`ser.vad.vad_gate`). ``index`` is 0.
        """
        return self._analyse(y, t=t, gate=lambda w: vad_gate(w, self.sr, threshold_dbfs=self.gate_dbfs,
                                                                backend=self.vad))

    def _analyse(self, y: np.ndarray, *, t: float, gate: Callable[[np.ndarray], GateResult]) -> LiveResult:
        """:meth:`analyse` with the window's gate ``gate(window) -> GateResult`` (timed with the rest)."""
        t0 = time.perf_counter()
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        level = dbfs(y[-self._step :])
        g = gate(y)
        if g.quiet or y.size < int(MIN_DURATION * self.sr):
            return LiveResult(0, round(t, 3), time.time(), None, 0.0, {}, False, True, level, g,
                              time.perf_counter() - t0, y.size / self.sr)
        frames, _ = clip_windows(y, self.predictor.features)
        profile_s = self.profile.seconds if self.profile is not None else 0.0
        ready = self.predictor.adapts(self.profile)  # the profile of the speech before this window moves the input
        if self.profile is not None:  # each step adds step_s of new speech: that share of a window
            with self._profile_lock:
                adapted, plain = self.predictor.window_probs(
                    frames, profile=self.profile, weight=self.step_s / self.predictor.features.window_s,
                    seconds=self.step_s, return_plain=True)
        else:
            adapted = plain = self.predictor.window_probs(frames)
        use_adapted = self.adapt and ready
        probs = np.asarray(adapted if use_adapted else plain, dtype=np.float64).mean(axis=0)
        plain_mean = np.asarray(plain, dtype=np.float64).mean(axis=0)
        latency = time.perf_counter() - t0
        top = int(probs.argmax())
        return LiveResult(
            index=0,
            t=round(t, 3),
            wall=time.time(),
            label=self.labels[top],
            confidence=float(probs[top]),
            probabilities={lab: float(p) for lab, p in zip(self.labels, probs, strict=True)},
            uncertain=bool(probs[top] < self.predictor.threshold),
            quiet=False,
            level_dbfs=level,
            gate=g,
            latency_s=latency,
            window_s=y.size / self.sr,
            plain_probabilities={lab: float(p) for lab, p in zip(self.labels, plain_mean, strict=True)},
            adapted=use_adapted,
            profile_s=round(profile_s, 2),
        )

    def reset_profile(self) -> None:
        """Forget the voice heard so far (a new speaker takes the microphone)."""
        if self.profile is not None:
            with self._profile_lock:
                self.profile.reset()

    @property
    def profile_seconds(self) -> float:
        """Seconds of speech the speaker profile has heard (0 when the model cannot adapt)."""
        return self.profile.seconds if self.profile is not None else 0.0

    # -- readers -------------------------------------------------------------------------------
    def latest(self) -> LiveResult | None:
        """The newest result, or ``None`` before the first update."""
        with self._state_lock:
            return self._latest

    def headline(self) -> Headline | None:
        """The steady headline (smoothed, held; see :func:`update_headline`), ``None`` before the first update."""
        with self._state_lock:
            return self._headline

    def smoothed_history(self, seconds: float | None = None) -> list[tuple[float, dict[str, float] | None]]:
        """``(t, smoothed probabilities or None when quiet)`` of the last ``seconds`` of stream time."""
        items = self.history()
        series = smoothed_series(items, span_s=self.smooth_s)
        if seconds is None or not series:
            return series
        return [(t, p) for t, p in series if t >= series[-1][0] - seconds]

    def seconds_since_audio(self) -> float:
        """Wall seconds since the last frame arrived (since :meth:`start` before any; ``inf`` if neither)."""
        last = max(self._last_push_wall, self._started_wall)
        return time.time() - last if last else math.inf

    def history(self, seconds: float | None = None) -> list[LiveResult]:
        """Results of the last ``seconds`` of stream time (default: all kept), oldest first."""
        with self._state_lock:
            items = list(self._history)
        if seconds is None or not items:
            return items
        horizon = items[-1].t - seconds
        return [r for r in items if r.t >= horizon]

    def stats(self) -> LiveStats:
        """A snapshot of the running statistics (see :class:`LiveStats`)."""
        with self._state_lock:
            c = self._c
            audio_s = self.buffer.total / self.sr
            mean_lat = c.infer_s / c.predictions if c.predictions else 0.0
            return LiveStats(
                audio_s=round(audio_s, 3),
                frames=c.frames,
                updates=c.updates,
                predictions=c.predictions,
                quiet=c.quiet,
                skipped_steps=c.skipped,
                mean_latency_s=mean_lat,
                max_latency_s=c.infer_max_s,
                mean_added_latency_s=c.added_s / c.predictions if c.predictions else 0.0,
                rtf=c.infer_s / audio_s if audio_s else 0.0,
                load=mean_lat / self.step_s,
                mean_push_ms=1000.0 * c.push_s / c.frames if c.frames else 0.0,
                max_push_ms=1000.0 * c.push_max_s,
                errors=c.errors,
                last_error=c.last_error,
            )

    @property
    def worker_threads(self) -> set[int]:
        """Thread idents that published results (for checking inference is off the media thread)."""
        with self._state_lock:
            return set(self._c.threads)

    def __enter__(self) -> LiveAnalyzer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _with_index(r: LiveResult, index: int) -> LiveResult:
    return replace(r, index=index)


class FrameTap:
    """The streamlit-webrtc sink callback: hands every received frame to the session's current analyzer.

    ``tap(frame)`` runs on the WebRTC event loop for each ``av.AudioFrame`` (cheap: :meth:`LiveAnalyzer.push`
    converts and buffers, the analyzer's own worker infers). :meth:`attach` names the analyzer that gets
    the frames (the page does so on every run while the stream plays); with none attached frames are
    counted in :attr:`dropped`. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._analyzer: LiveAnalyzer | None = None
        self.frames = 0
        self.dropped = 0

    def attach(self, analyzer: LiveAnalyzer | None) -> None:
        with self._lock:
            self._analyzer = analyzer

    @property
    def analyzer(self) -> LiveAnalyzer | None:
        with self._lock:
            return self._analyzer

    def __call__(self, frame: Any) -> None:
        with self._lock:
            analyzer = self._analyzer
            if analyzer is None:
                self.dropped += 1
                return
            self.frames += 1
        analyzer.push(frame)


__all__ = [
    "QUIET",
    "FrameTap",
    "Headline",
    "LiveAnalyzer",
    "LiveResult",
    "LiveStats",
    "RingBuffer",
    "count_changes",
    "smooth_probabilities",
    "smoothed_series",
    "update_headline",
    "warm_up",
]
