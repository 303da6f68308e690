"""A pre-trained voice encoder (GE2E, from Resemblyzer) as the ``voice`` frame feature block.

The encoder is the speaker-verification network that the ``Resemblyzer`` package (Apache-2.0, Resemble AI,
version 0.1.4) ships in its wheel: a 3-layer LSTM (256 units) over 40-band power mel frames (25 ms, 10 ms hop)
whose last state, through a linear layer, a ReLU and L2 normalisation, is a 256-dimensional embedding of 1.6 s of
speech (a "partial utterance"). It was trained to tell thousands of speakers apart across microphones and
rooms, so it describes how a voice sounds (timbre, phonation, effort) far more robustly than features learned
from 28 acted voices. In the shipped recipe it raised the K-fold UAR from 0.667 to 0.692 and the held-out channel
table by 0.037 on average, 36 of its 38 cells (``benchmarks/EXPERIMENTS.md``, session 18).

The file here (:data:`MODEL_FILE`) is that network exported to ONNX with its upper two LSTM layers and the linear
layer quantised to int8 (dynamic quantisation, ONNX Runtime; the first layer stays float, as its input, a power
spectrum, spans too many decades for 8 bits): 6 ms per partial on one core instead of 12 ms, embeddings of real
speech within cosine 0.99 of the float network's (0.5 with every layer quantised). :func:`convert` rebuilds it
from the Resemblyzer wheel (needs PyTorch and Resemblyzer, which ``ser`` itself never imports); the SHA-256 below
pins the file the models were trained with.

Shapes and units: input mono float32 in [-1, 1] at 16 kHz (``ser``'s convention). Each call first scales its
signal to an RMS of -30 dBFS (the level the encoder was trained at; in both directions, so the block does not
move with input gain). :func:`embed` gives ``[shape=(P, 256)]``, partials of 160 mel frames spread evenly over
the signal (P = 1 for up to 1.6 s, 2 for a 3 s model window); :func:`frames` repeats each partial's embedding
over the analysis frames closest to its centre, ``[shape=(256, t)]``, so the block stacks with the others. Its
stats are the window means only (:data:`ser.features.VOICE_FUNCTIONALS`).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from . import dsp
from .errors import SERError
from .fileio import atomic_path
from .workers import one_per_process

#: Features per embedding.
DIM = 256
#: The only sample rate the encoder knows.
SAMPLE_RATE = 16000
#: Mel frames (10 ms) in one partial utterance: 1.6 s, the length the encoder was trained on.
PARTIAL = 160
#: At most this many mel frames between the starts of two partials (a 3 s window gets two).
MAX_STEP = 150
#: Layouts of partials over a window (:func:`partial_starts`): the first bundles with the block used ``"cover"``.
LAYOUTS = ("cover", "sparse")
#: Mel frames a ``"sparse"`` layout may leave unheard (1 s: 0.5 s at each end of the window).
SPARSE_SLACK = 100
#: RMS level (dBFS) every signal is scaled to before analysis.
TARGET_DBFS = -30.0
N_MELS = 40
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
#: The quantised encoder, inside the package.
MODEL_FILE = Path(__file__).with_name("voice_encoder.int8.onnx")
#: SHA-256 of :data:`MODEL_FILE`: models were trained on its numbers.
MODEL_SHA256 = "b99928bbb01aafccb30acd821d45ce1e5759a69068b6b94632ad2ca04e86bbe7"


class VoiceEncoderUnavailable(SERError):
    """The voice encoder of the ``voice`` feature block cannot be found or loaded."""


class _Model:
    """One ONNX Runtime session (``run`` is thread-safe; one thread, like the classifier)."""

    def __init__(self, path: Path = MODEL_FILE) -> None:
        from .export import session

        if not path.is_file():
            raise VoiceEncoderUnavailable(f"the voice encoder {path} is missing: reinstall ser")
        got = hashlib.sha256(path.read_bytes()).hexdigest()
        if got != MODEL_SHA256:
            raise VoiceEncoderUnavailable(f"{path} is not the voice encoder the models were trained with (SHA-256 "
                                          f"{got[:12]}…, expected {MODEL_SHA256[:12]}…)")
        try:
            self.session = session(path)
        except Exception as e:  # a corrupt or incompatible file
            raise VoiceEncoderUnavailable(f"cannot load the voice encoder {path}: {e}") from e
        self.input = self.session.get_inputs()[0].name


#: The network, loaded once per process (:func:`ser.workers.one_per_process`).
_model = one_per_process(_Model)


def scaled(y: np.ndarray) -> np.ndarray:
    """``y [shape=(n,)]`` scaled to an RMS of :data:`TARGET_DBFS` (silence stays silence)."""
    return dsp.scale_rms(y, TARGET_DBFS)


def mel(y: np.ndarray) -> np.ndarray:
    """The encoder's front end (librosa's ``melspectrogram`` with Resemblyzer's settings: power, not log; numpy
    only, through :mod:`ser.dsp`). ``y [shape=(n,)]`` at 16 kHz, already :func:`scaled` → ``[shape=(1 + n // 160, 40)]``
    float32."""
    S = dsp.stft_magnitude(np.asarray(y, dtype=np.float32).reshape(-1), n_fft=N_FFT, hop_length=HOP, win_length=N_FFT)
    fb = dsp.mel_filters(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=SAMPLE_RATE / 2)  # cached there
    return np.ascontiguousarray((S.T**2) @ fb.T, dtype=np.float32)


def partial_starts(m: int, *, layout: str = "cover") -> list[int]:
    """First mel frame of each partial of a signal of ``m`` mel frames (one at 0 when ``m`` ≤ :data:`PARTIAL`).

    ``layout`` (:data:`LAYOUTS`): ``"cover"`` — the fewest partials that cover the signal with starts at most
    :data:`MAX_STEP` apart, spread evenly, the last ending at ``m`` (two for a 2.5 s or 3 s window, three for
    3.75 s); ``"sparse"`` — the fewest that leave at most :data:`SPARSE_SLACK` frames unheard (half at each end),
    spread evenly (one, centred, up to 2.6 s; two up to 4.2 s): about half the encoder's work per window."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown partial layout {layout!r}; known: {LAYOUTS}")
    if m <= PARTIAL:
        return [0]
    if layout == "cover":
        n = math.ceil((m - PARTIAL) / MAX_STEP) + 1
    else:
        n = max(1, math.ceil((m - SPARSE_SLACK - PARTIAL) / PARTIAL) + 1)
    if n == 1:
        return [(m - PARTIAL) // 2]
    return [int(round(v)) for v in np.linspace(0, m - PARTIAL, n)]


def embed(y: np.ndarray, *, layout: str = "cover") -> tuple[np.ndarray, np.ndarray]:
    """Partial embeddings of ``y [shape=(n,)]`` (float32, 16 kHz): ``(E [shape=(P, 256)], centres [shape=(P,)])``,
    each partial's centre in mel frames (10 ms from the signal's start), partials laid out as ``layout``
    (:func:`partial_starts`)."""
    spec = mel(scaled(y))
    starts = partial_starts(len(spec), layout=layout)
    length = min(PARTIAL, len(spec))
    batch = np.stack([spec[s : s + length] for s in starts])
    m = _model()
    out = np.asarray(m.session.run(None, {m.input: batch})[0], dtype=np.float32).reshape(len(starts), DIM)
    return out, np.asarray(starts, dtype=np.float64) + length / 2


def frames(y: np.ndarray, n_frames: int, *, hop_length: int, layout: str = "cover") -> np.ndarray:
    """The ``voice`` block: ``[shape=(256, n_frames)]``, analysis frame ``i`` (centred on sample ``i·hop_length``)
    holding the embedding of the partial whose centre is nearest to it (partials laid out as ``layout``)."""
    e, centres = embed(y, layout=layout)
    at = np.arange(n_frames) * (hop_length / HOP)
    idx = np.abs(at[:, None] - centres[None, :]).argmin(axis=1)
    return np.ascontiguousarray(e[idx].T)


def available() -> bool:
    """Whether the ``voice`` block can run here (the encoder file is in place and loads)."""
    try:
        _model()
    except VoiceEncoderUnavailable:
        return False
    return True


def convert(out: str | Path = MODEL_FILE) -> Path:
    """Rebuild :data:`MODEL_FILE` from the Resemblyzer wheel: its ``pretrained.pt`` exported to ONNX (opset 17)
    and its second and third LSTM layers and the linear layer quantised to int8
    (``onnxruntime.quantization.quantize_dynamic``). Needs ``pip install torch resemblyzer``
    (not dependencies of ``ser``; run it once, in a scratch environment). The result is written atomically.
    :data:`MODEL_SHA256` is the file torch 2.13.0, onnx 1.23.2 and onnxruntime 1.32.0 wrote (twice, byte-identical);
    other versions may export or quantise differently, and the checksum then says so."""
    import tempfile

    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from resemblyzer import VoiceEncoder

    encoder = VoiceEncoder("cpu", verbose=False).eval()

    class _Embed(torch.nn.Module):
        def __init__(self, e: torch.nn.Module) -> None:
            super().__init__()
            self.e = e

        def forward(self, mels: torch.Tensor) -> torch.Tensor:
            return self.e(mels)

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "voice.onnx"
        torch.onnx.export(_Embed(encoder), (torch.rand(1, PARTIAL, N_MELS),), str(fp32), input_names=["mels"],
                          output_names=["embeds"], dynamic_axes={"mels": {0: "batch", 1: "frames"},
                                                                 "embeds": {0: "batch"}},
                          opset_version=17, dynamo=False)
        first = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "LSTM"][:1]
        with atomic_path(out) as dst:  # the first layer stays float: its input, power mel, spans decades
            quantize_dynamic(str(fp32), str(dst), weight_type=QuantType.QInt8, nodes_to_exclude=first)
    return out
