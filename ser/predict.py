"""Prediction: a bundle in, emotions with confidences out.

:class:`Predictor` loads a bundle once and is safe to call from several threads (the app serves
concurrent sessions with one instance). A clip longer than the model window gets a timeline of
per-window predictions plus an overall result (the mean of the window probabilities).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import audio
from .bundle import ModelBundle, load_bundle
from .errors import AudioError, SERError
from .features import clip_windows, extract, model_input, segment_bounds

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


def _inference_fn(model):
    """``x [shape=(n, ...)] -> probabilities [shape=(n, k)]`` for ``model`` (inference mode).

    On the TensorFlow backend this is one traced graph for any batch size (fixed input signature, so it
    never retraces): an eager ``model(x)`` call spends 5-25 ms per batch in Python layer dispatch, which
    is most of a short clip's prediction time. Other backends call the model eagerly.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        graph = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        return lambda x: graph(x).numpy()
    return lambda x: model(x, training=False)


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
        self._model = self.bundle.model
        self._infer = _inference_fn(self._model)
        self._lock = threading.Lock()
        self._kind = self.bundle.config.input_kind

    # -- core ----------------------------------------------------------------------------------
    def predict_frames(self, frames: list[np.ndarray]) -> np.ndarray:
        """Calibrated probabilities ``[shape=(n, k)]`` for windows' frame features."""
        out = []
        for i in range(0, len(frames), _BATCH):
            x = model_input(frames[i : i + _BATCH], self.features, self._kind)
            with self._lock:  # one inference at a time per model: Keras models are not re-entrant
                p = np.asarray(self._infer(x), dtype=np.float64)
            out.append(p)
        return apply_temperature(np.concatenate(out), self.bundle.config.temperature)

    def _result(self, probs: np.ndarray, spans: list[tuple[float, float]], duration: float, source: str) -> Prediction:
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
            uncertain=bool(overall[top] < self.threshold),
            duration=round(duration, 3),
            timeline=timeline,
            source=source,
        )

    def _as_dict(self, p: np.ndarray) -> dict[str, float]:
        return {lab: float(v) for lab, v in zip(self.labels, p, strict=True)}

    # -- public --------------------------------------------------------------------------------
    def predict(self, y: np.ndarray, *, sr: int | None = None, source: str = "") -> Prediction:
        """Predict one signal ``y [shape=(n,) or (n, channels)]`` at ``sr`` Hz (default: model rate).

        Raises :class:`AudioError` for NaN/inf samples, clips under 0.25 s, or digital silence.
        """
        sr = self.sample_rate if sr is None else int(sr)
        y = audio.check_signal(y, sr=sr, min_duration=0.0, allow_silence=True)
        if sr != self.sample_rate:
            y = audio.resample(y, sr_in=sr, sr_out=self.sample_rate)
        y = audio.check_signal(y, sr=self.sample_rate)
        frames, spans = clip_windows(y, self.features)
        return self._result(self.predict_frames(frames), spans, y.size / self.sample_rate, source)

    def predict_file(self, source: str | Path | bytes, *, name: str = "") -> Prediction:
        """Predict an audio file (path or encoded bytes of wav/flac/ogg/mp3/webm/m4a).

        Files longer than ``STREAM_ABOVE_S`` are decoded and predicted window by window, so memory
        stays bounded however long the recording.
        """
        label = name or (str(source) if not isinstance(source, bytes | bytearray) else "upload")
        if not isinstance(source, bytes | bytearray):
            try:
                long_file = audio.duration(source) > STREAM_ABOVE_S
            except AudioError:
                raise
            except Exception:
                long_file = False
            if long_file:
                return self._predict_stream(audio.iter_blocks(source, sr=self.sample_rate), label)
        y = audio.load(source, sr=self.sample_rate)
        return self.predict(y, source=label)

    def _predict_stream(self, blocks: Iterable[np.ndarray], source: str) -> Prediction:
        cfg = self.features
        win = int(round(cfg.window_s * cfg.sample_rate))
        hop = int(round(cfg.hop_s * cfg.sample_rate))
        probs, spans, pending, pending_spans = [], [], [], []
        n_total = 0
        peak = 0.0
        for start, y_win in _stream_windows(blocks, win, hop):
            if not np.isfinite(y_win).all():  # what check_signal catches for a clip loaded whole
                raise AudioError(f"the signal contains NaN or infinite samples (at {start / cfg.sample_rate:.0f} s)")
            n_total = max(n_total, start + y_win.size)
            peak = max(peak, float(np.abs(y_win).max()))
            if float(np.abs(y_win).max()) < audio.SILENCE_PEAK:
                continue  # silent stretch: not a prediction
            pending.append(extract(y_win, cfg, trimmed=True))
            pending_spans.append((start / cfg.sample_rate, (start + y_win.size) / cfg.sample_rate))
            if len(pending) == _BATCH:
                probs.append(self.predict_frames(pending))
                spans += pending_spans
                pending, pending_spans = [], []
        if pending:
            probs.append(self.predict_frames(pending))
            spans += pending_spans
        if not probs:
            if n_total == 0:
                raise AudioError(f"the audio holds no samples: {source}")
            raise AudioError("the recording is silent (peak below -60 dBFS): there is no speech to analyse")
        return self._result(np.concatenate(probs), spans, n_total / cfg.sample_rate, source)

    def predict_many(self, sources: Iterable[str | Path], *, progress: bool = False) -> Iterator[tuple[str, Prediction | SERError]]:
        """Yield ``(source, Prediction or the SERError it raised)`` for each file; never stops on a bad one."""
        items = list(sources)
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(items, desc="predicting", unit="file")
        for src in items:
            try:
                yield str(src), self.predict_file(src)
            except SERError as exc:
                yield str(src), exc


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
