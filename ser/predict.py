"""Prediction: a bundle in, emotions with confidences out.

:class:`Predictor` loads a bundle once and is safe to call from several threads (the app serves
concurrent sessions with one instance). A clip longer than the model window gets a timeline of
per-window predictions plus an overall result (the mean of the window probabilities).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import adapt, audio, quality
from .adapt import SpeakerProfile
from .bundle import ModelBundle, load_bundle
from .errors import AudioError, SERError
from .export import input_names
from .features import clean, clip_windows, extract, model_input, segment_bounds
from .hum import find_hum
from .workers import die_with_parent

#: Files longer than this (seconds) are streamed window by window instead of loaded whole.
STREAM_ABOVE_S = 300.0
_BATCH = 64


@dataclass(frozen=True)
class Segment:
    """One model window of a long clip: ``start``/``end`` in seconds."""

    start: float
    end: float
    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True, eq=False)
class Analysis:
    """One clip, analysed and ready to predict with or without a speaker profile (:meth:`Predictor.analyse`)."""

    x: np.ndarray  # model input of the clip's windows [shape=(n_windows, ...)]
    spans: tuple[tuple[float, float], ...]  # each window's (start, end) in seconds
    duration: float  # seconds of the whole signal
    quality: quality.Quality
    source: str = ""


@dataclass(frozen=True)
class Prediction:
    """The result for one clip. ``probabilities`` follow the bundle's label order and sum to 1."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    uncertain: bool
    duration: float
    timeline: tuple[Segment, ...] = field(default_factory=tuple)
    source: str = ""
    warnings: tuple[str, ...] = ()  # input quality problems (narrowband, clipped, noisy, truncated)
    reliability: float = 1.0  # 1 = clean input; lower values have already softened the probabilities
    adapted: bool = False  # predicted with a speaker profile
    profile_clips: float = 0.0  # clips' worth of this speaker's earlier speech the profile held
    unadapted: dict[str, float] | None = None  # with a profile: the probabilities without it

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timeline"] = [asdict(s) for s in self.timeline]
        return d


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale softmax outputs ``[shape=(n, k)]`` by a temperature (T > 1 softens)."""
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=-1, keepdims=True)


def _inference_fn(bundle: ModelBundle) -> tuple[Callable[..., np.ndarray], str]:
    """``(fn, backend)``: ``fn(x [shape=(n, ...)], plain=None, w=0.0) -> probabilities [shape=(n, k)]`` for
    ``bundle``'s model; ``plain``: the same windows' unadapted input, which a blend's gates judge (default ``x``;
    one-input models ignore it); ``w``: the speaker profile's weight, the share of a blend's adapted member
    (:func:`ser.models.feed`; models without one ignore it).

    ``"onnx"``: ONNX Runtime on the bundle's ``model.onnx`` (no TensorFlow import; thread-safe).
    ``"keras"`` (a bundle without a current model.onnx): on the TensorFlow backend one traced graph
    for any batch size (fixed input signature, so it never retraces), as an eager ``model(x)`` call
    spends 5-25 ms per batch in Python layer dispatch; other backends call the model eagerly.
    """
    sess = bundle.onnx
    if sess is not None:
        names = input_names(sess)

        def run(x, plain=None, w=0.0):
            x = np.ascontiguousarray(x, dtype=np.float32)
            feeds = {names[0]: x}
            if len(names) > 1:
                feeds[names[1]] = x if plain is None else np.ascontiguousarray(plain, dtype=np.float32)
            if len(names) > 2:
                feeds[names[2]] = np.full((len(x), 1), w, dtype=np.float32)
            return sess.run(None, feeds)[0]

        return run, "onnx"
    model = bundle.model
    import keras

    from .models import feed

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        specs = [tf.TensorSpec([None, *t.shape[1:]], tf.float32) for t in model.inputs]
        if len(specs) == 1:
            graph = tf.function(lambda x: model(x, training=False), input_signature=specs)
            return (lambda x, plain=None, w=0.0: graph(x).numpy()), "keras"
        graph_n = tf.function(lambda *xs: model(list(xs), training=False), input_signature=specs)
        return (lambda x, plain=None, w=0.0: graph_n(*[np.asarray(a, np.float32) for a in feed(model, x, plain, w)])
                .numpy()), "keras"
    return (lambda x, plain=None, w=0.0: model(feed(model, x, plain, w), training=False)), "keras"


class Predictor:
    """Predict emotions with one model bundle.

    Parameters: ``bundle`` a :class:`ModelBundle` or bundle folder (default ``models/default``);
    ``threshold`` confidence below which a result is flagged ``uncertain`` (default: the bundle's).
    """

    def __init__(self, bundle: ModelBundle | str | Path | None = None, *, threshold: float | None = None) -> None:
        self.bundle = bundle if isinstance(bundle, ModelBundle) else load_bundle(bundle)
        self.labels = self.bundle.labels
        self.features = self.bundle.features
        self.sample_rate = self.features.sample_rate
        self.threshold = self.bundle.config.threshold if threshold is None else float(threshold)
        self._graph, self.backend = _inference_fn(self.bundle)  # backend: "onnx" or "keras"
        self._lock = threading.Lock()
        self._kind = self.bundle.config.input_kind
        self.prior = self.bundle.adaptation if self._kind == "stats" else None
        training = self.bundle.config.extra.get("training") or {}
        #: how far narrowband input softens the confidences: less when a narrowband member answers for it
        self.narrowband_reliability = (quality.NARROWBAND_MEMBER_RELIABILITY
                                       if training.get("narrowband") and training.get("augment")
                                       else quality.NARROWBAND_RELIABILITY)

    def warm_up(self) -> float:
        """Predict one generated 3 s voiced signal, so that every network the bundle's blocks run is loaded in this
        process and anything built once per machine (the whisper encoder's graph, :mod:`ser.whisper_graph`, kept in
        the feature cache) exists before a user's first clip: a container image built with it answers its first
        request without that wait. Returns the seconds it took."""
        from .testing import speechlike

        t0 = time.perf_counter()
        self.predict(speechlike(3.0, sr=self.sample_rate), source="warm-up")
        return time.perf_counter() - t0

    # -- core: the one path from frame features to probabilities --------------------------------
    @property
    def adaptive(self) -> bool:
        """Whether this bundle can adapt to a speaker (it carries an adaptation prior)."""
        return self.prior is not None

    def new_profile(self, name: str = "") -> SpeakerProfile:
        """An empty speaker profile for this model (raises if the bundle cannot adapt)."""
        self._need_prior()
        return SpeakerProfile(name=name, digest=self.prior.digest)

    def adapts(self, profile: SpeakerProfile | None) -> bool:
        """Whether ``profile`` moves this model's input now: it holds speech, and a running profile at least the
        prior's ``min_clips`` clips (an enrolment profile at once)."""
        if profile is None or self.prior is None or profile.n <= 0:
            return False
        return self.prior.ready(profile)

    @property
    def adapt_after_s(self) -> float:
        """Seconds of speech a running profile needs before it adapts (0 for a model that adapts at once): the
        prior's ``min_clips`` in its statistics, and the ``lag`` it holds back after them."""
        return (self.prior.min_clips + self.prior.lag) * self.features.window_s if self.prior is not None else 0.0

    def _need_prior(self) -> None:
        if self.prior is None:
            raise SERError(f"model bundle {self.bundle.name} cannot adapt to a speaker (no adaptation prior: "
                           "retrain it with this version of ser, as models/default was)")

    def _infer(self, x: np.ndarray, plain: np.ndarray | None = None, w: float = 0.0) -> np.ndarray:
        out = []
        for i in range(0, len(x), _BATCH):
            p = None if plain is None else plain[i : i + _BATCH]
            with self._lock:  # one inference at a time per model (Keras models are not re-entrant)
                out.append(np.asarray(self._graph(x[i : i + _BATCH], p, w), dtype=np.float64))
        return apply_temperature(np.concatenate(out), self.bundle.config.temperature)

    def window_probs(self, frames: list[np.ndarray], *, profile: SpeakerProfile | None = None, update: bool = True,
                     weight: float = 1.0, seconds: float = 0.0, return_plain: bool = False):
        """Calibrated probabilities ``[shape=(n, k)]`` for windows' frame features (``[shape=(t_i, d)]`` each):
        :meth:`input_probs` of their model input."""
        return self.input_probs(model_input(frames, self.features, self._kind), profile=profile, update=update,
                                weight=weight, seconds=seconds, return_plain=return_plain)

    def input_probs(self, x: np.ndarray, *, profile: SpeakerProfile | None = None, update: bool = True,
                    weight: float = 1.0, seconds: float = 0.0, return_plain: bool = False):
        """Calibrated probabilities ``[shape=(n, k)]`` for ``n`` windows' model input ``x`` (built by
        :func:`ser.features.model_input`).

        Every input path (file, bytes, stream, live window, batch, warm-up) ends here. With a
        ``profile`` the windows are normalised by the speaker's *earlier* speech, then (``update``)
        added to the profile as ``weight`` clips and ``seconds`` of speech. ``return_plain``: return
        ``(adapted, unadapted)`` probabilities.
        """
        if self.prior is None:
            if profile is not None:
                self._need_prior()
            probs = self._infer(x)
            return (probs, probs) if return_plain else probs
        probs, plain = adapt.step(x, self._infer, self.prior, profile, update=update, weight=weight, seconds=seconds)
        return (probs, plain) if return_plain else probs

    def predict_frames(self, frames: list[np.ndarray]) -> np.ndarray:
        """Unadapted calibrated probabilities ``[shape=(n, k)]`` (see :meth:`window_probs`)."""
        return self.window_probs(frames)

    def _result(self, probs: np.ndarray, spans: list[tuple[float, float]], duration: float, source: str, *,
                q: quality.Quality | None = None, n_before: float = 0.0, adapted: bool = False) -> Prediction:
        reliability = q.reliability if q is not None else 1.0
        if reliability < 1.0:  # narrowband/clipped/noisy input: confidences say so
            probs = quality.temper(probs, reliability)
        overall = probs.mean(axis=0)
        timeline: tuple[Segment, ...] = ()
        if len(spans) > 1:
            timeline = tuple(
                Segment(round(s, 3), round(e, 3), self.labels[int(p.argmax())], float(p.max()), self._as_dict(p))
                for (s, e), p in zip(spans, probs, strict=True)
            )
        top = int(overall.argmax())
        return Prediction(
            label=self.labels[top],
            confidence=float(overall[top]),
            probabilities=self._as_dict(overall),
            uncertain=bool(overall[top] < self.threshold or reliability < 1.0),
            duration=round(duration, 3),
            timeline=timeline,
            source=source,
            warnings=q.warnings if q is not None else (),
            reliability=round(float(reliability), 3),
            adapted=adapted,
            profile_clips=round(float(n_before), 3),
        )

    def _as_dict(self, p: np.ndarray) -> dict[str, float]:
        return {lab: float(v) for lab, v in zip(self.labels, p, strict=True)}

    # -- public --------------------------------------------------------------------------------
    def analyse(self, y: np.ndarray, *, sr: int | None = None, source: str = "", source_sr: int | None = None,
                warnings: tuple[str, ...] = ()) -> Analysis:
        """Everything of a prediction that does not depend on a speaker profile: the checked, resampled signal
        ``y [shape=(n,) or (n, channels)]`` at ``sr`` Hz (default: model rate) cut into windows, their model
        input and the input quality. :meth:`predict_analysis` turns it into a :class:`Prediction`, as often
        as needed (``ser evaluate --orders`` predicts each clip in many speaker sessions).

        ``source_sr``: the file's own rate (an 8 kHz file is narrowband whatever it was resampled to).
        Raises :class:`AudioError` for NaN/inf samples, clips under 0.25 s, or digital silence.
        """
        sr = self.sample_rate if sr is None else int(sr)
        if sr != self.sample_rate:
            y = audio.check_signal(y, sr=sr, min_duration=0.0, allow_silence=True)
            y = audio.resample(y, sr_in=sr, sr_out=self.sample_rate)
        y = audio.check_signal(y, sr=self.sample_rate)
        found = find_hum(audio.remove_dc(y), sr=self.sample_rate)  # once: the quality check and the features share it
        q = quality.assess(y, sr=self.sample_rate, source_sr=source_sr or sr, found=found,
                           narrowband_reliability=self.narrowband_reliability, hum_removed=self.features.remove_hum)
        if warnings:
            q = dataclasses.replace(q, warnings=tuple(warnings) + q.warnings)
        frames, spans = clip_windows(y, self.features, found=found)
        x = model_input(frames, self.features, self._kind)
        x.flags.writeable = False  # an analysis may be predicted many times: nothing may change it in between
        return Analysis(x=x, spans=tuple(spans),
                        duration=y.size / self.sample_rate, quality=q, source=source)

    def analyse_file(self, source: str | Path | bytes, *, name: str = "") -> Analysis | None:
        """:meth:`analyse` of an audio file (path or encoded bytes); ``None`` for a file longer than
        ``STREAM_ABOVE_S``, which only :meth:`predict_file` predicts (window by window, memory bounded)."""
        label = name or (str(source) if not isinstance(source, bytes | bytearray) else "upload")
        if not isinstance(source, bytes | bytearray) and _is_long(source):
            return None
        y = audio.load(source, sr=self.sample_rate)
        info = audio.info(source)
        return self.analyse(y, source=label, source_sr=info.get("samplerate"),
                            warnings=tuple(info.get("warnings", ())))

    def predict_analysis(self, a: Analysis, *, profile: SpeakerProfile | None = None,
                         update_profile: bool = True) -> Prediction:
        """The prediction of an analysed clip. ``profile``: adapt to the speaker's earlier speech, then
        (``update_profile``) add this clip to it."""
        n_before = profile.n if profile is not None else 0.0
        adapted = self.adapts(profile)
        spans = list(a.spans)
        speech_s = spans[-1][1] - spans[0][0] if spans else 0.0
        probs, plain = self.input_probs(a.x, profile=profile, update=update_profile, return_plain=True,
                                        weight=_clip_weight(speech_s, self.features.window_s), seconds=speech_s)
        q = a.quality
        result = self._result(probs, spans, a.duration, a.source, q=q, n_before=n_before, adapted=adapted)
        if profile is not None:
            p = plain.mean(axis=0)
            if q.reliability < 1.0:
                p = quality.temper(p, q.reliability)
            result = dataclasses.replace(result, unadapted=self._as_dict(p))
        return result

    def predict(self, y: np.ndarray, *, sr: int | None = None, source: str = "",
                profile: SpeakerProfile | None = None, update_profile: bool = True, source_sr: int | None = None,
                warnings: tuple[str, ...] = ()) -> Prediction:
        """Predict one signal ``y [shape=(n,) or (n, channels)]`` at ``sr`` Hz (default: model rate):
        :meth:`predict_analysis` of :meth:`analyse`.

        ``profile``: adapt to the speaker's earlier speech, then (``update_profile``) add this clip to it.
        ``source_sr``: the file's own rate (an 8 kHz file is narrowband whatever it was resampled to).
        Raises :class:`AudioError` for NaN/inf samples, clips under 0.25 s, or digital silence.
        """
        a = self.analyse(y, sr=sr, source=source, source_sr=source_sr, warnings=warnings)
        return self.predict_analysis(a, profile=profile, update_profile=update_profile)

    def predict_file(self, source: str | Path | bytes, *, name: str = "",
                     profile: SpeakerProfile | None = None, update_profile: bool = True) -> Prediction:
        """Predict an audio file (path or encoded bytes of wav/flac/ogg/mp3/webm/m4a).

        Files longer than ``STREAM_ABOVE_S`` are decoded and predicted window by window, so memory
        stays bounded however long the recording.
        """
        label = name or (str(source) if not isinstance(source, bytes | bytearray) else "upload")
        a = self.analyse_file(source, name=name)
        if a is not None:
            return self.predict_analysis(a, profile=profile, update_profile=update_profile)
        result = self._predict_stream(audio.iter_blocks(source, sr=self.sample_rate), label, profile=profile,
                                      update_profile=update_profile)
        cut = tuple(audio.info(source).get("warnings", ()))  # e.g. a long recording cut short
        return dataclasses.replace(result, warnings=cut + result.warnings) if cut else result

    def _predict_stream(self, blocks: Iterable[np.ndarray], source: str, *,
                        profile: SpeakerProfile | None = None, update_profile: bool = True) -> Prediction:
        cfg = self.features
        win = int(round(cfg.window_s * cfg.sample_rate))
        hop = int(round(cfg.hop_s * cfg.sample_rate))
        probs, plains, spans, pending, pending_spans = [], [], [], [], []
        n_before = profile.n if profile is not None else 0.0
        adapted = self.adapts(profile)
        n_total = 0
        peak = 0.0
        for start, y_win in _stream_windows(blocks, win, hop):
            if not np.isfinite(y_win).all():  # what check_signal catches for a clip loaded whole
                raise AudioError(f"the signal contains NaN or infinite samples (at {start / cfg.sample_rate:.0f} s)")
            n_total = max(n_total, start + y_win.size)
            peak = max(peak, float(np.abs(y_win).max()))
            if audio.peak(y_win) < audio.SILENCE_PEAK:
                continue  # silent stretch: not a prediction
            pending.append(extract(clean(y_win, cfg), cfg, trimmed=True))  # a window of a recording: not trimmed
            pending_spans.append((start / cfg.sample_rate, (start + y_win.size) / cfg.sample_rate))
            if len(pending) == _BATCH:
                self._stream_batch(pending, profile, probs, plains, update_profile)
                spans += pending_spans
                pending, pending_spans = [], []
        if pending:
            self._stream_batch(pending, profile, probs, plains, update_profile)
            spans += pending_spans
        if not probs:
            if n_total == 0:
                raise AudioError(f"the audio holds no samples: {source}")
            raise AudioError("the recording is silent (peak below -60 dBFS): there is no speech to analyse")
        result = self._result(np.concatenate(probs), spans, n_total / cfg.sample_rate, source,
                              n_before=n_before, adapted=adapted)
        if profile is not None:
            result = dataclasses.replace(result, unadapted=self._as_dict(np.concatenate(plains).mean(axis=0)))
        return result

    def _stream_batch(self, frames: list[np.ndarray], profile: SpeakerProfile | None, probs: list, plains: list,
                      update: bool = True) -> None:
        """A batch of a long file's windows: each hop of new audio counts as its share of a clip."""
        cfg = self.features
        p, plain = self.window_probs(frames, profile=profile, update=update,
                                     weight=len(frames) * cfg.hop_s / cfg.window_s,
                                     seconds=len(frames) * cfg.hop_s, return_plain=True)
        probs.append(p)
        plains.append(plain)

    def predict_many(self, sources: Iterable[str | Path], *, progress: bool = False,
                     profile_for: Callable[[str], SpeakerProfile | None] | None = None,
                     workers: int | None = None) -> Iterator[tuple[str, Prediction | SERError]]:
        """Yield ``(source, Prediction or the SERError it raised)`` for each file, in order; never stops on a
        bad one.

        ``profile_for(source)``: the speaker profile to adapt each file with (and update), or None.
        ``workers``: processes that decode and predict files in parallel (same results, same order);
        default: one per CPU (at most 4) for 32 or more files, without ``profile_for`` (profiles need the
        files in order), on ONNX Runtime (Keras would load TensorFlow in every process).
        """
        items = list(sources)
        n_proc = _batch_workers(len(items), workers) if profile_for is None and self.backend == "onnx" else 1
        results = (_parallel(self, [str(s) for s in items], n_proc) if n_proc > 1
                   else self._predict_each(items, profile_for))
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(items), desc="predicting", unit="file")
        yield from results

    def _predict_each(self, items: list[str | Path], profile_for: Callable[[str], SpeakerProfile | None] | None,
                      ) -> Iterator[tuple[str, Prediction | SERError]]:
        for src in items:
            try:
                yield str(src), self.predict_file(src, profile=profile_for(str(src)) if profile_for else None)
            except SERError as exc:
                yield str(src), exc


#: predict_many uses worker processes from this many files on (below, their start-up costs more).
PARALLEL_FROM = 32
_WORKER: Predictor | None = None


def _batch_workers(n_files: int, workers: int | None) -> int:
    """Processes for ``n_files``: ``workers`` if given, else one per CPU (at most 4) from PARALLEL_FROM files.

    1 where processes cannot be forked safely: no ``fork`` start method, or other Python threads running
    (a forked child would inherit their locks; a fork server or spawn would re-run the caller's main
    script in every worker).
    """
    import multiprocessing as mp
    import os

    if "fork" not in mp.get_all_start_methods() or threading.active_count() > 1:
        return 1
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        workers = min(cpus, 4) if n_files >= PARALLEL_FROM else 1
    return max(1, min(int(workers), n_files))


def _worker_init(parent_pid: int, bundle: str, threshold: float) -> None:
    global _WORKER
    die_with_parent(parent_pid)  # Ctrl-C is the parent's to handle (it cancels the rest); ends with the parent
    _WORKER = Predictor(bundle, threshold=threshold)  # its own ONNX Runtime session, not the parent's


def _worker_predict(src: str) -> tuple[str, Prediction | SERError]:
    try:
        return src, _WORKER.predict_file(src)
    except SERError as exc:
        return src, exc


def _parallel(pred: Predictor, sources: list[str], n_proc: int) -> Iterator[tuple[str, Prediction | SERError]]:
    """``predict_many`` over ``n_proc`` forked processes, each with its own Predictor of the same bundle.

    The workers are forked here, before the caller starts any thread (a progress bar's monitor);
    files go out in chunks and come back in order.
    """
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(n_proc, mp_context=mp.get_context("fork"), initializer=_worker_init,
                               initargs=(os.getpid(), str(pred.bundle.path), pred.threshold))
    try:
        results = pool.map(_worker_predict, sources, chunksize=max(1, min(16, len(sources) // (4 * n_proc))))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise

    def drain() -> Iterator[tuple[str, Prediction | SERError]]:
        done = False
        try:
            yield from results
            done = True
        finally:
            pool.shutdown(wait=done, cancel_futures=not done)  # stopped early: drop the queued files

    return drain()


def _is_long(source: str | Path) -> bool:
    """Whether a file is longer than ``STREAM_ABOVE_S`` (unknown length: no; unreadable: the AudioError)."""
    try:
        return audio.duration(source) > STREAM_ABOVE_S
    except AudioError:
        raise
    except Exception:
        return False


def _clip_weight(speech_s: float, window_s: float) -> float:
    """How many clips' worth a recording of ``speech_s`` seconds adds to a profile (a clip ≈ one window)."""
    return float(min(4.0, max(1.0, speech_s / window_s)))


def _stream_windows(blocks: Iterable[np.ndarray], win: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
    """Cut a stream of sample blocks into windows of ``win`` samples every ``hop`` (last one aligned to the end)."""
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # absolute index of buf[0]
    next_start = 0
    last_emitted_end = 0
    for block in blocks:
        buf = np.concatenate([buf, block]) if buf.size else block
        while next_start + win <= buf_start + buf.size:
            off = next_start - buf_start
            yield next_start, buf[off : off + win]
            last_emitted_end = next_start + win
            next_start += hop
        drop = min(next_start, buf_start + buf.size - win) - buf_start  # keep >= win samples for the tail
        if drop > 0:
            buf = buf[drop:]
            buf_start += drop
    end = buf_start + buf.size
    if end > last_emitted_end:  # tail: one window aligned to the end (or the whole short stream)
        start = max(0, end - win)
        yield start, buf[start - buf_start :] if start >= buf_start else buf


__all__ = ["Prediction", "Predictor", "Segment", "apply_temperature", "segment_bounds"]
