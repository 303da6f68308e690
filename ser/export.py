"""Keras → ONNX: the inference copy of a bundle's model (``model.onnx`` next to ``model.keras``).

Prediction runs the ONNX copy with ONNX Runtime, so it never imports TensorFlow (~5-7 s of cold
start) for a forward pass of a few milliseconds. Export uses Keras 3's own exporter
(``model.export(format="onnx")``, tf2onnx underneath) and is checked before it is kept: ONNX
Runtime must give the Keras probabilities (within :data:`TOLERANCE`) on random inputs. The file
records the sha1 of the ``model.keras`` it came from (metadata ``ser.source_sha1``), so a bundle
whose ``model.keras`` was replaced later is never predicted with a stale copy.

Only training and ``ser export`` import this module (it needs TensorFlow, tf2onnx and onnx).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from .errors import BundleError
from .fileio import atomic_path

ONNX_FILE = "model.onnx"
#: ONNX metadata key holding the sha1 of the model.keras the file was exported from.
SOURCE_KEY = "ser.source_sha1"
#: Largest |ONNX - Keras| probability difference accepted when exporting.
TOLERANCE = 1e-5
OPSET = 17
#: Name of a studio/channel blend's second input: the *unadapted* model input, which its gate judges (with a
#: speaker profile the first input is normalised by the speaker's statistics, which hides the channel).
UNADAPTED_INPUT = "unadapted"
#: Name of a blend's third input (a bundle with an adapted member): how far the speaker profile moved the first
#: input, ``[shape=(n, 1)]`` in [0, 1] (0: no profile), the adapted member's share of the answer.
ADAPT_INPUT = "adapt_weight"
#: A model's inputs in order: one (a plain model), two (a studio/channel blend), three (with an adapted member).
INPUT_NAMES = ("features", UNADAPTED_INPUT, ADAPT_INPUT)


def file_sha1(path: str | Path) -> str:
    """sha1 hex digest of a file's bytes (:func:`ser.features.file_digest`, the feature cache's key)."""
    from .features import file_digest

    return file_digest(path)


@contextlib.contextmanager
def _quiet():
    """Silence tf2onnx's INFO logging and the exporter's numpy FutureWarning while exporting."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _frozen_normalization(model):
    """Normalization layers keep their mean/variance as eager tensors, which tf2onnx turns into extra
    graph inputs instead of constants; hold them as numpy arrays (same values) while exporting."""
    import keras

    saved = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Normalization) and layer.mean is not None:
            saved.append((layer, layer.mean, layer.variance))
            layer.mean, layer.variance = np.asarray(layer.mean), np.asarray(layer.variance)
    try:
        yield
    finally:
        for layer, mean, variance in saved:
            layer.mean, layer.variance = mean, variance


def _import_keras_quietly() -> None:
    """Import keras (and TensorFlow) with the C-level stderr silenced: TensorFlow's absl logging prints
    start-up lines that TF_CPP_MIN_LOG_LEVEL does not reach, which would break the CLI's one-line errors."""
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def probe_inputs(input_shape: tuple[int, ...], *, n: int = 6, seed: int = 0) -> np.ndarray:
    """Random model inputs ``[shape=(n, *input_shape)]`` float32 for checking an export; frame sequences
    get zero tails of different lengths (the padding that recurrent models mask)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *input_shape)).astype(np.float32)
    if len(input_shape) == 2:
        T = input_shape[0]
        for i in range(n):
            x[i, T - (i * T) // (2 * n) :] = 0.0
    return x


def input_names(sess) -> list[str]:
    """An ONNX Runtime session's input names in :data:`INPUT_NAMES` order: the model input first, then the
    unadapted one (a blend's second input) and the adaptation weight (its third, with an adapted member)."""
    return sorted((i.name for i in sess.get_inputs()), key=lambda n: 2 * (ADAPT_INPUT in n) + (UNADAPTED_INPUT in n))


def session(path: str | Path, *, threads: int = 1):
    """An ONNX Runtime CPU session for ``path``: ``threads`` intra-op threads, sequential execution,
    no spinning (idle threads would take a core from audio decoding)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def export_model(model, dest: str | Path, *, source_sha1: str = "", opset: int = OPSET) -> float:
    """Export a Keras ``model`` (one float32 input with a free batch axis; two for a studio/channel blend) to ONNX
    at ``dest``.

    ``dest`` is written directly: callers write to a temp name and rename. ``source_sha1``: the sha1
    of the model.keras it stands for. Returns the largest |ONNX - Keras| output difference on
    :func:`probe_inputs`; raises :class:`BundleError` when export fails or the difference exceeds
    :data:`TOLERANCE` (``dest`` is then removed).
    """
    import keras
    import onnx

    dest = Path(dest)
    names = INPUT_NAMES[: len(model.inputs)]  # two or three: a blend (ser.models.feed)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    spec = [keras.InputSpec(shape=(None, *shape), dtype="float32", name=n) for shape, n in zip(shapes, names, strict=False)]
    try:
        with _quiet(), _frozen_normalization(model):
            signature = spec if len(spec) == 1 else [spec]  # a multi-input model takes one list argument
            model.export(str(dest), format="onnx", verbose=False, input_signature=signature, opset_version=opset)
        proto = onnx.load(str(dest))
        if len(proto.graph.input) != len(spec):
            raise BundleError(f"the exported graph has {len(proto.graph.input)} inputs (expected {len(spec)})")
        meta = {SOURCE_KEY: source_sha1, "ser.exporter": f"keras {keras.__version__} model.export(format='onnx')"}
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(dest))
        xs = [probe_inputs(shape, seed=i) for i, shape in enumerate(shapes)]
        sess = session(dest)
        got = sess.run(None, dict(zip(input_names(sess), xs, strict=True)))[0]
        want = np.asarray(model(xs if len(xs) > 1 else xs[0], training=False))
        diff = float(np.max(np.abs(got - want)))
        if not diff <= TOLERANCE:
            raise BundleError(f"ONNX Runtime and Keras disagree by {diff:.2g} (> {TOLERANCE:g})")
        return diff
    except BaseException as exc:
        dest.unlink(missing_ok=True)
        if isinstance(exc, BundleError) or not isinstance(exc, Exception):
            raise
        raise BundleError(f"cannot export {model.name} to ONNX: {type(exc).__name__}: {exc}") from None


def export_bundle(path: str | Path) -> Path:
    """Write ``model.onnx`` into an existing bundle folder from its ``model.keras`` (temp file + rename);
    nothing else in the bundle changes. Returns the path of ``model.onnx``.

    Raises :class:`BundleError` for a missing or broken bundle, or a model that cannot be exported.
    """
    from .bundle import load_bundle

    bundle = load_bundle(path)
    _import_keras_quietly()
    model = bundle.model  # checks the Keras model against config.json
    dest = bundle.path / ONNX_FILE
    with atomic_path(dest, mode=0o644) as tmp:  # 0644: a plain readable file like the rest of the bundle
        export_model(model, tmp, source_sha1=file_sha1(bundle.path / "model.keras"))
    return dest
