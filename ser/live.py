"""Live analysis of a microphone stream: frames in, a rolling emotion estimate out.

The pieces, from the media side to the model:

* :func:`frame_to_array` / :func:`pcm_to_mono` turn an ``av.AudioFrame`` (what WebRTC delivers:
  usually 20 ms of interleaved int16 stereo at 48 kHz) or a numpy buffer into float32 samples.
* :class:`StreamResampler` converts those frames to mono float32 at the model rate (16 kHz) with one
  continuous ``soxr.ResampleStream``, so frame boundaries leave no clicks (resampling every 20 ms
  frame on its own would restart the filter at each boundary).
* :class:`RingBuffer` keeps the last few seconds of 16 kHz samples; thread-safe.
* :func:`gate` decides whether a window holds speech at all (level in dBFS plus a speech-band and
  zero-crossing check), so silence and hiss show as "quiet" instead of a random emotion.
* :class:`LiveAnalyzer` ties them together. The media side calls :meth:`LiveAnalyzer.push` for each
  frame (cheap: conversion and a buffer append, no inference); a worker thread of its own analyses
  the last ``window_s`` seconds every ``step_s`` seconds of received audio and keeps the latest
  :class:`LiveResult` plus a bounded history for a scrolling timeline.
* A steady headline: :func:`smooth_probabilities` averages the window probabilities over the last
  ~2 s and :func:`update_headline` (a small state machine) lets the shown label change only after it
  was held ``hold_s`` seconds and the new one led (by a small margin) for ``confirm_s`` seconds; the raw
  per-window results stay in the history for the timeline.
* :class:`FrameTap` is the streamlit-webrtc sink callback: it hands each received frame to the
  session's current analyzer.

Units: samples are float32 in [-1, 1]; levels are dBFS (0 dBFS = full-scale RMS of 1.0); times are
seconds. "Stream time" counts the seconds of audio received since :meth:`LiveAnalyzer.start`.

No Streamlit here: the page (``pages/live.py``) only moves frames and draws. Plotly figures for the
page are built by :func:`probability_figure` and :func:`timeline_figure` (plotly is imported
lazily); :func:`rtc_configuration` reads the WebRTC ICE servers from ``SER_ICE_SERVERS`` and
``SER_TURN_URL`` / ``SER_TURN_USERNAME`` / ``SER_TURN_CREDENTIAL``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from . import audio
from .features import clip_windows

if TYPE_CHECKING:  # the Predictor (ONNX Runtime) is only needed by whoever builds it
    from .predict import Predictor

#: Floor for levels of digital silence (dBFS).
FLOOR_DBFS = -120.0
#: Frame length (seconds) of the short-time levels the gate looks at.
GATE_FRAME_S = 0.02
#: Percentile of the short-time frame levels that counts as a window's "active" level.
GATE_PERCENTILE = 95.0
#: Speech band (Hz) for :func:`speech_band_ratio`.
SPEECH_BAND = (80.0, 4000.0)


# -- frames -> samples --------------------------------------------------------------------------


def _to_float(pcm: np.ndarray) -> np.ndarray:
    """PCM of any numpy dtype → float32 in [-1, 1] (int16 / 32768, int32 / 2**31, uint8 centred)."""
    pcm = np.asarray(pcm)
    if pcm.dtype == np.uint8:
        return (pcm.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(pcm.dtype, np.integer):
        return pcm.astype(np.float32) / float(-np.iinfo(pcm.dtype).min)
    return pcm.astype(np.float32, copy=False)


def pcm_to_mono(pcm: np.ndarray, channels: int = 1) -> np.ndarray:
    """Interleaved or 2-D PCM → mono float32 ``[shape=(n,)]`` in [-1, 1] (channels averaged).

    ``pcm`` is either 1-D interleaved ``[shape=(n * channels,)]`` (``L R L R ...``), packed
    ``[shape=(1, n * channels)]`` (what ``av.AudioFrame.to_ndarray`` gives for packed formats such
    as ``s16``), or ``[shape=(n, channels)]``. Integer PCM is scaled to [-1, 1].
    """
    pcm = np.asarray(pcm)
    channels = int(channels)
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if pcm.ndim == 2 and pcm.shape[0] == 1 and channels > 1:  # packed (1, n * ch)
        pcm = pcm.reshape(-1)
    if pcm.ndim == 1:
        if pcm.size % channels:
            raise ValueError(f"{pcm.size} interleaved samples do not divide into {channels} channels")
        pcm = pcm.reshape(-1, channels)
    elif pcm.ndim != 2:
        raise ValueError(f"expected 1-D interleaved or 2-D (n, channels) PCM, got shape {pcm.shape}")
    y = _to_float(pcm)
    y = y.mean(axis=1, dtype=np.float32) if y.shape[1] > 1 else y[:, 0]
    return np.ascontiguousarray(y, dtype=np.float32)


def frame_to_array(frame: Any) -> tuple[np.ndarray, int]:
    """An ``av.AudioFrame`` → ``(samples [shape=(n, channels)] float32 in [-1, 1], sample_rate Hz)``.

    Handles packed (``s16``: ``to_ndarray`` is ``(1, n * channels)``) and planar (``fltp``, ``s16p``:
    ``(channels, n)``) layouts.
    """
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    arr = arr.T if frame.format.is_planar else arr.reshape(-1, channels)
    return np.ascontiguousarray(_to_float(arr)), int(frame.sample_rate)


def to_mono(frame_or_pcm: Any, *, sr: int | None = None, channels: int = 1) -> tuple[np.ndarray, int]:
    """An ``av.AudioFrame`` or numpy PCM → ``(mono float32 [shape=(n,)], sample_rate Hz)``.

    For numpy input ``sr`` is required and ``channels`` says how a 1-D buffer is interleaved.
    """
    if isinstance(frame_or_pcm, np.ndarray):
        if sr is None:
            raise ValueError("sr is required for numpy PCM")
        return pcm_to_mono(frame_or_pcm, channels), int(sr)
    samples, rate = frame_to_array(frame_or_pcm)
    return pcm_to_mono(samples, samples.shape[1]), rate


def convert(frame_or_pcm: Any, *, sr: int | None = None, channels: int = 1, sr_out: int = audio.SAMPLE_RATE) -> np.ndarray:
    """One-shot conversion of a whole buffer to mono float32 ``[shape=(m,)]`` at ``sr_out`` Hz.

    Uses :func:`ser.audio.resample`; right for a complete clip, wrong for a stream of short frames
    (each call restarts the filter, leaving a click at every boundary): use :class:`StreamResampler`.
    """
    y, rate = to_mono(frame_or_pcm, sr=sr, channels=channels)
    return audio.resample(y, sr_in=rate, sr_out=sr_out)


class StreamResampler:
    """Frames of any rate/channel layout → one continuous mono float32 stream at ``sr_out`` Hz.

    One ``soxr.ResampleStream`` (HQ) is kept across calls, so the output of consecutive frames is the
    same signal a one-shot resample of the whole recording gives (no boundary clicks), delayed by the
    filter's latency (about 12 ms at 48 → 16 kHz; :meth:`flush` returns the held-back tail). If the
    input rate changes mid-stream, the old stream is flushed and a new one started. Not
    thread-safe: one producer per instance.
    """

    def __init__(self, sr_out: int = audio.SAMPLE_RATE, *, quality: str = "HQ") -> None:
        self.sr_out = int(sr_out)
        self.quality = quality
        self.sr_in: int | None = None
        self._stream: soxr.ResampleStream | None = None

    def __call__(self, frame_or_pcm: Any, *, sr: int | None = None, channels: int = 1) -> np.ndarray:
        """Convert one frame; returns ``[shape=(m,)]`` float32 (``m`` ≈ n · sr_out / sr_in; may be 0)."""
        y, rate = to_mono(frame_or_pcm, sr=sr, channels=channels)
        head = np.zeros(0, dtype=np.float32)
        if rate != self.sr_in:
            head = self.flush()
            self.sr_in = rate
            self._stream = None if rate == self.sr_out else soxr.ResampleStream(
                rate, self.sr_out, 1, dtype="float32", quality=self.quality
            )
        out = y if self._stream is None else self._stream.resample_chunk(y)
        return np.concatenate([head, out]) if head.size else np.asarray(out, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """End the current stream: the samples still inside the filter, ``[shape=(m,)]`` float32."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return np.asarray(tail, dtype=np.float32)

    def reset(self) -> None:
        """Forget the stream (drops anything held in the filter)."""
        self.sr_in = None
        self._stream = None


# -- ring buffer ---------------------------------------------------------------------------------


class RingBuffer:
    """The last ``seconds`` of a mono float32 stream at ``sr`` Hz, in a fixed array. Thread-safe.

    :meth:`append` writes (overwriting the oldest samples once full); :meth:`latest` reads the
    newest ``n`` samples in time order. :attr:`total` counts every sample ever appended, so
    ``total / sr`` is the stream time of the newest sample.
    """

    def __init__(self, seconds: float, sr: int = audio.SAMPLE_RATE) -> None:
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


# -- gate ----------------------------------------------------------------------------------------


def dbfs(y: np.ndarray) -> float:
    """RMS level of ``y [shape=(n,)]`` in dBFS (``FLOOR_DBFS`` for silence or no samples)."""
    y = np.asarray(y, dtype=np.float32)
    if y.size == 0:
        return FLOOR_DBFS
    ms = float(np.mean(np.square(y, dtype=np.float64)))
    return max(FLOOR_DBFS, 10.0 * math.log10(ms)) if ms > 0 else FLOOR_DBFS


def frame_levels(y: np.ndarray, sr: int, frame_s: float = GATE_FRAME_S) -> np.ndarray:
    """Short-time RMS levels ``[shape=(n // frame,)]`` in dBFS over non-overlapping frames."""
    n = max(1, int(round(frame_s * sr)))
    m = y.size // n
    if m == 0:
        return np.array([dbfs(y)])
    ms = np.mean(np.square(y[: m * n].reshape(m, n), dtype=np.float64), axis=1)
    return np.maximum(FLOOR_DBFS, 10.0 * np.log10(np.maximum(ms, 1e-30)))


def speech_band_ratio(y: np.ndarray, sr: int, band: tuple[float, float] = SPEECH_BAND) -> float:
    """Fraction of the signal's energy inside ``band`` Hz (0..1; speech mostly > 0.8, white noise at 16 kHz ≈ 0.48)."""
    if y.size < 2:
        return 0.0
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1.0 / sr)
    total = float(power[1:].sum())  # ignore DC
    if total <= 0:
        return 0.0
    inside = float(power[(freqs >= band[0]) & (freqs <= band[1])].sum())
    return inside / total


def zero_crossing_rate(y: np.ndarray) -> float:
    """Sign changes per sample (0..1; voiced speech ≈ 0.05-0.2 at 16 kHz, white noise ≈ 0.5)."""
    if y.size < 2:
        return 0.0
    s = np.signbit(y)
    return float(np.count_nonzero(s[1:] != s[:-1])) / (y.size - 1)


@dataclass(frozen=True)
class GateResult:
    """What :func:`gate` saw in one window.

    ``level_dbfs``: the window's active level (``GATE_PERCENTILE`` of its 20 ms frame levels, dBFS);
    ``active_s``: seconds of 20 ms frames at or above the threshold; ``band_ratio`` and ``zcr``:
    :func:`speech_band_ratio` and :func:`zero_crossing_rate` of those active frames only (silence
    between words would otherwise dominate both); ``quiet``: True when the window holds no speech to
    analyse; ``reason``: why (``""`` when not quiet).
    """

    level_dbfs: float
    active_s: float
    band_ratio: float
    zcr: float
    quiet: bool
    reason: str = ""


def gate(
    y: np.ndarray,
    sr: int = audio.SAMPLE_RATE,
    *,
    threshold_dbfs: float = -45.0,
    min_active_s: float = 0.1,
    min_band_ratio: float = 0.5,
    max_zcr: float = 0.4,
) -> GateResult:
    """Energy/VAD gate for one window ``y [shape=(n,)]`` float32 at ``sr`` Hz.

    The window is cut into 20 ms frames. It is quiet when its active level (95th percentile of the
    frame levels, so a few words in a mostly silent window still count) is below ``threshold_dbfs``
    or fewer than ``min_active_s`` seconds of frames reach it; or when the active frames do not
    sound like speech: less than ``min_band_ratio`` of their energy in 80-4000 Hz (hum, hiss), or a
    mean zero-crossing rate above ``max_zcr`` (broadband noise; voiced speech is ≈ 0.05-0.25).
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = max(1, int(round(GATE_FRAME_S * sr)))
    levels = frame_levels(y, sr)
    level = float(np.percentile(levels, GATE_PERCENTILE)) if y.size else FLOOR_DBFS
    active = np.flatnonzero(levels >= threshold_dbfs) if y.size >= n else np.zeros(0, dtype=int)
    active_s = active.size * n / sr
    if level < threshold_dbfs or active_s < min_active_s:
        return GateResult(level, active_s, 0.0, 0.0, True,
                          f"level {level:.0f} dBFS is below the {threshold_dbfs:.0f} dBFS speech threshold")
    frames = y[: levels.size * n].reshape(levels.size, n)[active]
    ratio = speech_band_ratio(frames.reshape(-1), sr)
    signs = np.signbit(frames)
    zcr = float(np.mean(signs[:, 1:] != signs[:, :-1]))
    if ratio < min_band_ratio:
        return GateResult(level, active_s, ratio, zcr, True, f"not speech: only {ratio:.0%} of the energy is in the speech band")
    if zcr > max_zcr:
        return GateResult(level, active_s, ratio, zcr, True, f"not speech: noise-like (zero-crossing rate {zcr:.2f})")
    return GateResult(level, active_s, ratio, zcr, False, "")


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
    between updates; ``gate_dbfs``: active level below which a window is "quiet" (see :func:`gate`);
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
        gate_dbfs: float = -45.0,
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
        self.predictor = predictor
        self.sr = int(predictor.sample_rate)
        self.labels: tuple[str, ...] = tuple(predictor.labels)
        self.window_s = float(window_s)
        self.step_s = float(step_s)
        self.gate_dbfs = float(gate_dbfs)
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

        With ``warmup`` the worker first runs :func:`warm_up` (a no-op once the predictor is warm), so
        the model's one-off set-up cost is not paid by the first live window.
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
        with self._push_lock:  # the window and the arrival time of its newest sample, together
            y, total = self.buffer.snapshot(self._win)
            pushed_at = self._last_push_wall
        if y.size == 0:
            return None
        skipped = max(0, (total - self._analysed_total) // self._step - 1) if self._analysed_total else 0
        self._analysed_total = total
        try:
            result = self.analyse(y, t=total / self.sr)
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

        Pure apart from the shared predictor; does not touch the history. ``index`` is 0.
        """
        t0 = time.perf_counter()
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        level = dbfs(y[-self._step :])
        g = gate(y, self.sr, threshold_dbfs=self.gate_dbfs)
        if g.quiet or y.size < int(audio.MIN_DURATION * self.sr):
            return LiveResult(0, round(t, 3), time.time(), None, 0.0, {}, False, True, level, g,
                              time.perf_counter() - t0, y.size / self.sr)
        frames, _ = clip_windows(y, self.predictor.features)
        profile_s = self.profile.seconds if self.profile is not None else 0.0
        if self.profile is not None:  # each step adds step_s of new speech: that share of a window
            with self._profile_lock:
                adapted, plain = self.predictor.window_probs(
                    frames, profile=self.profile, weight=self.step_s / self.predictor.features.window_s,
                    seconds=self.step_s, return_plain=True)
        else:
            adapted = plain = self.predictor.window_probs(frames)
        use_adapted = self.adapt and self.profile is not None and profile_s > 0
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


# -- WebRTC configuration ------------------------------------------------------------------------

#: Environment variable with the STUN/TURN servers for the live page, as JSON.
ICE_SERVERS_ENV = "SER_ICE_SERVERS"
#: Environment variables for one TURN server (added to ``SER_ICE_SERVERS``): comma-separated URLs
#: (``turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349``), user name, credential.
TURN_URL_ENV = "SER_TURN_URL"
TURN_USERNAME_ENV = "SER_TURN_USERNAME"
TURN_CREDENTIAL_ENV = "SER_TURN_CREDENTIAL"


def _turn_server(env: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    """The TURN server of ``SER_TURN_URL`` / ``_USERNAME`` / ``_CREDENTIAL`` (``None`` if unset) and a warning."""
    urls = [u.strip() for u in env.get(TURN_URL_ENV, "").split(",") if u.strip()]
    if not urls:
        return None, ""
    bad = [u for u in urls if not u.startswith(("turn:", "turns:", "stun:"))]
    if bad:
        return None, f"{TURN_URL_ENV} must hold turn:, turns: or stun: URLs (got {bad[0]!r}); TURN not used"
    server: dict[str, Any] = {"urls": urls}
    user, cred = env.get(TURN_USERNAME_ENV, ""), env.get(TURN_CREDENTIAL_ENV, "")
    if any(u.startswith(("turn:", "turns:")) for u in urls) and not (user and cred):
        return None, f"{TURN_URL_ENV} is set but {TURN_USERNAME_ENV} / {TURN_CREDENTIAL_ENV} are not; TURN not used"
    if user:
        server["username"] = user
    if cred:
        server["credential"] = cred
    return server, ""


def rtc_configuration(value: str | None = None, *, env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """The page's WebRTC ``rtc_configuration`` and a warning (``""`` when none).

    ``value`` (default: ``$SER_ICE_SERVERS``) is JSON: a list of RTCIceServer objects
    (``[{"urls": ["stun:stun.l.google.com:19302"]}, {"urls": "turn:turn.example.org:3478",
    "username": "u", "credential": "p"}]``), one such object, or ``{"iceServers": [...]}``. A TURN
    server given by ``SER_TURN_URL`` (comma-separated URLs), ``SER_TURN_USERNAME`` and
    ``SER_TURN_CREDENTIAL`` is appended. Nothing set gives ``{"iceServers": []}``: no STUN/TURN, host
    candidates only, which connects a browser on the same machine or LAN without any internet access.
    Invalid settings are left out, with a warning. ``env``: the environment to read (default
    ``os.environ``).
    """
    env = os.environ if env is None else env
    raw = (env.get(ICE_SERVERS_ENV, "") if value is None else value).strip()
    servers: list[dict[str, Any]] = []
    warnings: list[str] = []
    if raw:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            data = None
            warnings.append(f"{ICE_SERVERS_ENV} is not valid JSON ({exc.msg}); its ICE servers are not used")
        if isinstance(data, dict):
            data = data["iceServers"] if "iceServers" in data else [data]
        if data is not None:
            if isinstance(data, list) and all(isinstance(s, dict) and "urls" in s for s in data):
                servers += data
            else:
                warnings.append(f"{ICE_SERVERS_ENV} must be a JSON list of objects with \"urls\"; "
                                "its ICE servers are not used")
    turn, warning = _turn_server(env)
    if turn is not None:
        servers.append(turn)
    if warning:
        warnings.append(warning)
    return {"iceServers": servers}, "; ".join(warnings)


# -- figures (plotly, lazy) ----------------------------------------------------------------------

QUIET_COLOR = "#cbd5e1"


def probability_figure(result: LiveResult | Headline | None, labels: tuple[str, ...] | list[str]) -> Any:
    """Horizontal bars of the current probabilities of a window result or of the steady :class:`Headline`
    (smoothed), in a fixed label order (bars do not jump between updates), its label in its emotion
    colour; all zero when quiet or no result yet."""
    import plotly.graph_objects as go

    from .viz import emotion_color

    labels = list(labels)
    empty = result is None or result.quiet
    probs = [0.0] * len(labels) if empty else [result.probabilities.get(k, 0.0) for k in labels]
    top = None if empty else result.label
    colors = [emotion_color(k) if k == top else QUIET_COLOR for k in labels]
    fig = go.Figure(go.Bar(
        x=probs, y=labels, orientation="h", marker_color=colors, text=[f"{p:.0%}" for p in probs],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_layout(
        template="plotly_white", height=60 + 30 * len(labels), margin=dict(l=10, r=30, t=10, b=10),
        xaxis=dict(range=[0, 1.12], tickformat=".0%", title="probability"),
        yaxis=dict(autorange="reversed"), showlegend=False, bargap=0.25,
    )
    return fig


def timeline_figure(history: list[LiveResult], labels: tuple[str, ...] | list[str], span_s: float = 30.0) -> Any:
    """Scrolling timeline: each label's probability over the last ``span_s`` s of stream time.

    Quiet updates break the lines and show as grey squares on the baseline.
    """
    import plotly.graph_objects as go

    from .viz import emotion_color

    fig = go.Figure()
    end = history[-1].t if history else 0.0
    start = max(0.0, end - span_s)
    items = [r for r in history if r.t >= start]
    ts = [r.t for r in items]
    for lab in labels:
        ys = [None if r.quiet else r.probabilities.get(lab) for r in items]
        fig.add_trace(go.Scatter(x=ts, y=ys, mode="lines", name=lab, connectgaps=False,
                                 line=dict(width=2, color=emotion_color(lab))))
    quiet_t = [r.t for r in items if r.quiet]
    if quiet_t:
        fig.add_trace(go.Scatter(x=quiet_t, y=[0.0] * len(quiet_t), mode="markers", name="quiet",
                                 marker=dict(color="#94a3b8", size=7, symbol="square")))
    fig.update_layout(
        template="plotly_white", height=300, margin=dict(l=10, r=10, t=10, b=10),
        xaxis=dict(range=[start, start + span_s], title="stream time (s)"),
        yaxis=dict(range=[0, 1.02], tickformat=".0%", title=None),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


__all__ = [
    "QUIET",
    "FrameTap",
    "GateResult",
    "Headline",
    "LiveAnalyzer",
    "LiveResult",
    "LiveStats",
    "RingBuffer",
    "StreamResampler",
    "convert",
    "count_changes",
    "dbfs",
    "frame_levels",
    "frame_to_array",
    "gate",
    "pcm_to_mono",
    "probability_figure",
    "rtc_configuration",
    "smooth_probabilities",
    "smoothed_series",
    "speech_band_ratio",
    "timeline_figure",
    "to_mono",
    "update_headline",
    "warm_up",
    "zero_crossing_rate",
]
