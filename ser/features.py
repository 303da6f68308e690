"""Features: one frozen :class:`FeatureConfig`, saved in every model bundle.

Training and prediction both call :func:`extract` with the bundle's config, so they cannot disagree.
One STFT per clip feeds every hand-made block (MFCC + deltas, chroma, spectral contrast, log-mel, energy);
the ``speech`` block is a pre-trained network's embedding of the same level-normalised signal
(:mod:`ser.speech`), the ``prosody`` block its pitch contour and voicing (:mod:`ser.prosody`), the ``voice`` block a
pre-trained speaker encoder's embedding of each 1.6 s (:mod:`ser.voice`; its window mean enters the stats).

Shapes: a clip gives frame features ``[shape=(t, d)]`` (t frames at ``hop_length``); models take
either padded frame sequences ``[shape=(n, T, d)]`` (recurrent), padded log-mel
``[shape=(n, T, n_mels)]`` (CNN) or utterance functionals ``[shape=(n, len(functionals) * d)]`` (linear, MLP).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft

from . import denoise, dsp, hum, prosody, speech, voice, whisper
from .audio import SAMPLE_RATE, remove_dc

#: Feature blocks, in the order they are stacked (``level`` always last).
BLOCKS = ("mfcc", "delta", "delta2", "chroma", "contrast", "mel", "energy", "speech", "prosody", "voice", "whisper",
          "level")
#: Blocks of the default config: every block but ``whisper`` (an option: ``ser train --whisper``; ``level`` only
#: means something with ``level_db`` set).
DEFAULT_BLOCKS = tuple(b for b in BLOCKS if b != "whisper")
#: Blocks cached apart from the others (:class:`FeatureCache`): adding one to a config reuses the cached frames of
#: the rest and computes only it.
CACHED_APART = ("whisper",)
#: Blocks whose frame features get every functional in a window's stats (``FeatureConfig.n_plain``): all but the
#: ``voice`` and ``whisper`` blocks (their own functionals) and ``level`` (one value).
PLAIN_BLOCKS = tuple(b for b in BLOCKS if b not in ("voice", "whisper", "level"))
#: Blocks of bundles written before the config listed its blocks.
_FIRST_BLOCKS = ("mfcc", "delta", "delta2", "chroma", "contrast", "mel", "energy")
#: Noise suppression before analysis (``FeatureConfig.denoise``, :mod:`ser.denoise`): none, the spectral blocks'
#: power spectrogram, or the waveform every block hears.
DENOISE = (None, "spectral", "signal")
#: Utterance functionals (per frame feature) that ``stats`` can compute, in stacking order.
FUNCTIONALS = ("mean", "std", "p1", "p10", "p25", "p50", "p75", "p90", "p99", "range", "iqr", "skew",
               "kurtosis", "delta_mean", "delta_std", "slope")
#: Functionals of the ``voice`` block in a window's stats: its mean only (each partial's embedding is held over
#: 1.6 s of frames, so percentiles and slopes of it would add columns, not information).
VOICE_FUNCTIONALS = ("mean",)
#: Functionals of the ``whisper`` block in a window's stats (its states change every 20 ms: their spread says as
#: much as their mean).
WHISPER_FUNCTIONALS = ("mean", "std")
#: The four functionals of bundles written before ``functionals`` was a setting.
BASIC_FUNCTIONALS = ("mean", "std", "p10", "p90")
_CONTRAST_BANDS = 6
_CONTRAST_FMIN = 100.0


@dataclass(frozen=True)
class FeatureConfig:
    """Everything that decides the numbers a model sees. Frozen; serialised into ``config.json``."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512  # 32 ms
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    n_mfcc: int = 20
    fmin: float = 50.0
    fmax: float = 8000.0
    blocks: tuple[str, ...] = DEFAULT_BLOCKS
    window_s: float = 3.0  # model window: longer clips are cut into windows
    hop_s: float = 1.0  # hop between windows of a long clip (timeline)
    trim_db: float | None = 30.0  # trim leading/trailing silence quieter than peak - trim_db
    trim_noise: bool = True  # trim steady noise at the ends too, not only what is trim_db below the peak
    # with trim_noise: an end is trimmed as noise only where the steady stretch it holds lasts at least this long (s);
    # a shorter quiet stretch at an end is a soft onset or a decay of speech in a clip cut to its speech (a corpus's
    # tight clips, a window of a stream), and that end keeps the peak rule (None: any length; :func:`trim_bounds`)
    trim_noise_min_s: float | None = None
    # trim ends where no frame comes within this many dB of the clip's loud frames for longer than trim_talker_s:
    # another, quieter voice or noise before and after the talker's speech (None: off; :func:`trim_bounds`)
    trim_talker_db: float | None = None
    trim_talker_s: float = 0.3
    utterance_norm: bool = True  # per-utterance mean/variance normalisation of sequences
    functionals: tuple[str, ...] = FUNCTIONALS  # utterance statistics for stats models (mlp, linear)
    level_db: float | None = -20.0  # loud frames scaled to this level before analysis (None: raw level)
    speech_step: int = 16  # mel frames (10 ms) between speech_embedding outputs (the ``speech`` block)
    voice_layout: str = "cover"  # how the ``voice`` block's 1.6 s partials sit in a window (ser.voice.LAYOUTS)
    stats_floor_db: float | None = None  # stats over frames within this many dB of the window's loud frames (None: all)
    denoise: str | None = None  # noise suppression before analysis (ser.denoise): None, "spectral" or "signal"
    remove_dc: bool = True  # subtract a clip's (and each window's) mean before analysis: a DC offset is not speech
    remove_hum: bool = True  # notch out mains hum (50/60 Hz and multiples, ser.hum) where a clip or window has it
    # the ``whisper`` block's encoder arithmetic (ser.whisper.COMPUTE_TYPES): the shipped recipe's int8; a bundle's
    # config written before the option reads as float32 (from_dict)
    whisper_compute: str = "int8"
    # which Whisper encoder the ``whisper`` block runs (ser.whisper.ENCODERS) and which of its layers: K, the output
    # of its first K layers; None, all; a tuple, the mean of those layers' outputs (one ONNX Runtime pass,
    # ser.whisper_graph). The shipped recipe: multilingual base, the mean of layers 2 and 3 (session 40; 3 alone in
    # session 39); a bundle's config written before the options reads as tiny.en, all 4 layers (from_dict)
    whisper_model: str = "base"
    whisper_layers: int | tuple[int, ...] | None = (2, 3)
    # plain blocks whose per-band mean over a window's (loud) frames is removed before the functionals of a stats
    # model (window mean normalisation): a steady colouring of the microphone or room, a fixed gain per band, cancels
    # out of their location functionals (mean, p1 ... p99), and their mean columns are 0; spread, shape and slope do
    # not move. Sequence models normalise every block per utterance already (utterance_norm). Names not in ``blocks``
    # are left out; ``ser train`` centres the mel block (the shipped recipe; ``--centre-blocks``).
    centred_blocks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = set(self.blocks) - set(BLOCKS)
        if unknown:
            raise ValueError(f"unknown feature blocks {sorted(unknown)}; known: {BLOCKS}")
        bad = set(self.functionals) - set(FUNCTIONALS)
        if bad or not self.functionals:
            raise ValueError(f"unknown or no functionals {sorted(bad)}; known: {FUNCTIONALS}")
        object.__setattr__(self, "functionals", tuple(f for f in FUNCTIONALS if f in self.functionals))
        if {"delta", "delta2"} & set(self.blocks) and "mfcc" not in self.blocks:
            raise ValueError("delta blocks need the mfcc block")
        if "level" in self.blocks and self.level_db is None:
            raise ValueError("the level block records the level removed by level_db: set level_db")
        if "speech" in self.blocks and self.sample_rate != speech.SAMPLE_RATE:
            raise ValueError(f"the speech block's network hears 16 kHz only, not {self.sample_rate} Hz")
        if "voice" in self.blocks and self.sample_rate != voice.SAMPLE_RATE:
            raise ValueError(f"the voice block's encoder hears 16 kHz only, not {self.sample_rate} Hz")
        if "whisper" in self.blocks and self.sample_rate != whisper.SAMPLE_RATE:
            raise ValueError(f"the whisper block's encoder hears 16 kHz only, not {self.sample_rate} Hz")
        if self.speech_step < 1:
            raise ValueError(f"speech_step must be at least 1, got {self.speech_step}")
        if self.stats_floor_db is not None and not (self.stats_floor_db > 0 and "energy" in self.blocks):
            raise ValueError(f"stats_floor_db must be positive and needs the energy block, got {self.stats_floor_db}")
        if self.trim_db is None:  # no trimming at all: no noise or talker trimming either
            object.__setattr__(self, "trim_noise", False)
            object.__setattr__(self, "trim_talker_db", None)
        if not self.trim_noise:  # one spelling, one digest
            object.__setattr__(self, "trim_noise_min_s", None)
        if self.trim_noise_min_s is not None and not self.trim_noise_min_s > 0:
            raise ValueError(f"trim_noise_min_s must be positive (or None), got {self.trim_noise_min_s}")
        if self.trim_talker_db is not None and not (self.trim_talker_db > 0 and self.trim_talker_s >= 0):
            raise ValueError(f"trim_talker_db must be positive and trim_talker_s not negative, got "
                             f"{self.trim_talker_db} and {self.trim_talker_s}")
        if self.denoise not in DENOISE:
            raise ValueError(f"unknown denoise {self.denoise!r}; known: {', '.join(str(d) for d in DENOISE)}")
        if self.whisper_compute not in whisper.COMPUTE_TYPES:
            raise ValueError(f"unknown whisper_compute {self.whisper_compute!r}; known: {whisper.COMPUTE_TYPES}")
        object.__setattr__(self, "whisper_layers", whisper.layer_spec(self.whisper_layers))  # [3, 2] → (2, 3)
        whisper.check_layers(self.whisper_model, self.whisper_layers)  # an unknown model is a clear error too
        if self.whisper_layers == whisper.encoder(self.whisper_model).layers:
            object.__setattr__(self, "whisper_layers", None)  # all of them: one spelling, one digest
        if self.voice_layout not in voice.LAYOUTS:
            raise ValueError(f"unknown voice_layout {self.voice_layout!r}; known: {voice.LAYOUTS}")
        object.__setattr__(self, "blocks", tuple(b for b in BLOCKS if b in self.blocks))
        not_plain = set(self.centred_blocks) - set(PLAIN_BLOCKS)
        if not_plain:
            raise ValueError(f"centred_blocks must be plain frame blocks ({', '.join(PLAIN_BLOCKS)}), "
                             f"not {sorted(not_plain)}")
        object.__setattr__(self, "centred_blocks", tuple(b for b in self.blocks if b in self.centred_blocks))

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def block_sizes(self) -> dict[str, int]:
        sizes = {
            "mfcc": self.n_mfcc,
            "delta": self.n_mfcc,
            "delta2": self.n_mfcc,
            "chroma": 12,
            "contrast": _CONTRAST_BANDS + 1,
            "mel": self.n_mels,
            "energy": 1,
            "speech": speech.DIM,
            "prosody": prosody.DIM,
            "voice": voice.DIM,
            "whisper": whisper.dim(self.whisper_model),
            "level": 1,
        }
        return {b: sizes[b] for b in self.blocks}

    @property
    def n_features(self) -> int:
        """d: features per frame."""
        return sum(self.block_sizes.values())

    def block_slice(self, block: str) -> slice:
        """Columns of ``block`` in a ``[shape=(t, d)]`` frame matrix."""
        start = 0
        for name, size in self.block_sizes.items():
            if name == block:
                return slice(start, start + size)
            start += size
        raise KeyError(f"block {block!r} is not in this config ({self.blocks})")

    @property
    def n_plain(self) -> int:
        """Frame features that get every functional: all but the ``voice``, ``whisper`` and ``level`` blocks (the
        first columns)."""
        sizes = self.block_sizes
        return self.n_features - sizes.get("voice", 0) - sizes.get("whisper", 0) - sizes.get("level", 0)

    @property
    def n_stats(self) -> int:
        """Length of a window's stats vector: every functional of the plain frame features, then the ``voice``
        block's :data:`VOICE_FUNCTIONALS`, the ``whisper`` block's :data:`WHISPER_FUNCTIONALS`, then the ``level``
        block's single value (the window's input level in dBFS)."""
        sizes = self.block_sizes
        return (len(self.functionals) * self.n_plain + len(VOICE_FUNCTIONALS) * sizes.get("voice", 0)
                + len(WHISPER_FUNCTIONALS) * sizes.get("whisper", 0) + sizes.get("level", 0))

    def stats_columns(self, block: str) -> np.ndarray:
        """Indices of ``block``'s functionals in a window's stats vector ``[shape=(n_stats,)]`` (every
        functional of every one of its frame features; the ``voice`` block's means)."""
        if block == "level":
            raise KeyError("the level block is one column, the last of the stats vector, not functionals")
        cols = self.block_slice(block)
        d = self.n_plain
        if block == "voice":
            start = len(self.functionals) * d
            return np.arange(start, start + len(VOICE_FUNCTIONALS) * (cols.stop - cols.start))
        if block == "whisper":
            start = len(self.functionals) * d + len(VOICE_FUNCTIONALS) * self.block_sizes.get("voice", 0)
            return np.arange(start, start + len(WHISPER_FUNCTIONALS) * (cols.stop - cols.start))
        return np.concatenate([np.arange(cols.start, cols.stop) + i * d for i in range(len(self.functionals))])

    @property
    def window_frames(self) -> int:
        """T: frames in one model window."""
        return 1 + int(round(self.window_s * self.sample_rate)) // self.hop_length

    # -- (de)serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["blocks"] = list(self.blocks)
        d["functionals"] = list(self.functionals)
        d["centred_blocks"] = list(self.centred_blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown feature settings {sorted(unknown)}")
        d = dict(d)
        d["blocks"] = tuple(d.get("blocks", _FIRST_BLOCKS))  # the level block came with level_db
        d["functionals"] = tuple(d.get("functionals", BASIC_FUNCTIONALS))
        d["centred_blocks"] = tuple(d.get("centred_blocks", ()))  # bundles written before it centred no block
        d.setdefault("level_db", None)  # bundles written before level normalisation analysed the raw level
        d.setdefault("speech_step", cls.speech_step)  # only used with the speech block, which came with it
        d.setdefault("trim_noise", False)  # bundles written before it trimmed at trim_db below the peak only
        d.setdefault("remove_dc", False)  # bundles written before it analysed a DC offset with the speech
        d.setdefault("remove_hum", False)  # ... and mains hum
        d.setdefault("whisper_compute", "float32")  # bundles written before int8 ran the encoder in float32
        d.setdefault("whisper_model", "tiny.en")  # ... and before base, all of tiny.en's layers
        d.setdefault("whisper_layers", None)
        return cls(**d)

    def digest(self) -> str:
        """Short hash of the settings that change cached frame features (all but utterance_norm). Computed once
        per config (it is frozen): every cache lookup asks for it."""
        known = self.__dict__.get("_digest")
        if known is None:
            known = self._digest_of_settings()
            object.__setattr__(self, "_digest", known)  # not a field: equality, to_dict and replace ignore it
        return known

    def _digest_of_settings(self) -> str:
        keys = ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "n_mfcc", "fmin", "fmax",
                "blocks", "trim_db", "window_s", "hop_s", "level_db")
        keys += ("speech_step",) if "speech" in self.blocks else ()  # digests of older configs unchanged
        d = self.to_dict()
        if "voice" in self.blocks:  # the encoder's weights decide the block's numbers
            keys += ("voice_encoder",)
            d["voice_encoder"] = voice.MODEL_SHA256[:16]
            keys += ("voice_layout",) if self.voice_layout != "cover" else ()  # the block's first digests unchanged
        if "whisper" in self.blocks:
            keys += ("whisper_encoder",)
            d["whisper_encoder"] = whisper.encoder(self.whisper_model).sha256[:16]
            keys += ("whisper_compute",) if self.whisper_compute != "float32" else ()  # the block's first digests
            if self.whisper_model != "tiny.en" or self.whisper_layers is not None:  # tiny.en's digests unchanged
                keys += ("whisper_layers",)
        keys += ("trim_noise",) if self.trim_noise else ()  # digests of configs without it unchanged
        keys += ("trim_noise_min_s",) if self.trim_noise_min_s is not None else ()
        keys += ("trim_talker_db", "trim_talker_s") if self.trim_talker_db is not None else ()
        keys += ("denoise",) if self.denoise else ()
        keys += ("remove_dc",) if self.remove_dc else ()
        keys += ("remove_hum",) if self.remove_hum else ()
        payload = json.dumps({k: d[k] for k in keys}, sort_keys=True)
        return hashlib.sha1(payload.encode()).hexdigest()[:12]


def _filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Mel ``[shape=(n_mels, 1 + n_fft // 2)]`` and chroma ``[shape=(12, 1 + n_fft // 2)]`` filter banks."""
    return (dsp.mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax),
            dsp.chroma_filters(sr=sr, n_fft=n_fft))


@functools.cache
def single_thread_blas() -> None:
    """Run numpy's BLAS on one thread in this process (once; process-wide).

    The feature matrices are tiny (64 x 257 by 257 x 300): a multi-threaded OpenBLAS spends far more
    waking and spinning its threads than multiplying, 10-200x more on a busy two-core machine.
    Results are the same (each output element is one thread's dot product either way).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _block_pool() -> ThreadPoolExecutor | None:
    """Threads that compute the ``voice`` and ``whisper`` blocks beside the others in :func:`extract` (ONNX Runtime,
    CTranslate2 and numpy release the GIL): a prediction's latency, not its numbers, changes. None — run in line — on a single core and in worker
    processes (training's feature pool and batch prediction already keep every core busy with one clip each)."""
    global _pool
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if cores < 2 or multiprocessing.parent_process() is not None:
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="ser-voice")
        return _pool


#: :func:`trim_bounds` with ``trim_noise``: each end's noise level is the median frame power of its first
#: :data:`END_NOISE_S` seconds, used where it is at least :data:`END_NOISE_GAP_DB` below the loudest frame and steady
#: (its 90th and 10th percentiles within :data:`END_NOISE_SPREAD_DB`: not a speech onset or a reverberant tail);
#: speech starts (ends) at the first (last) :data:`END_NOISE_RUN` frames in a row more than
#: :data:`END_NOISE_MARGIN_DB` above it.
END_NOISE_S = 0.15
END_NOISE_GAP_DB = 15.0
END_NOISE_SPREAD_DB = 10.0
END_NOISE_MARGIN_DB = 6.0
END_NOISE_RUN = 5
_TRIM_FRAME, _TRIM_HOP = 512, 128


def _speech_onset(power: np.ndarray, base: float, peak: float, sr: int, min_s: float | None = None) -> int | None:
    """Index of the frame where speech starts in frame powers ``power [shape=(f,)]``: the first frame above
    ``base`` (the peak rule), or, where the first :data:`END_NOISE_S` seconds hold steady noise well below the
    ``peak``, the first of :data:`END_NOISE_RUN` frames in a row above that noise + :data:`END_NOISE_MARGIN_DB` —
    unless that stretch of noise is shorter than ``min_s`` seconds (then it was speech: the peak rule). None if no
    frame qualifies."""
    def by_peak() -> int | None:
        above = np.flatnonzero(power > base)
        return int(above[0]) if above.size else None

    k = max(1, int(END_NOISE_S * sr / _TRIM_HOP))
    lo, noise, hi = (float(v) for v in np.percentile(power[:k], [10, 50, 90]))
    thr = max(base, noise * 10.0 ** (END_NOISE_MARGIN_DB / 10.0))
    steady = hi <= lo * 10.0 ** (END_NOISE_SPREAD_DB / 10.0)
    if not steady or noise >= peak * 10.0 ** (-END_NOISE_GAP_DB / 10.0) or thr <= base:
        return by_peak()
    runs = np.convolve((power > thr).astype(np.int32), np.ones(END_NOISE_RUN, np.int32), "valid")
    start = np.flatnonzero(runs == END_NOISE_RUN)
    if not start.size:
        return None
    if min_s is not None and start[0] * _TRIM_HOP < min_s * sr:
        return by_peak()
    return int(start[0])


def trim_bounds(y: np.ndarray, cfg: FeatureConfig) -> tuple[int, int]:
    """Sample range ``(start, end)`` left after dropping leading/trailing silence.

    Silence is frames quieter than ``cfg.trim_db`` below the loudest frame (the rule of
    ``librosa.effects.trim``, in plain numpy: librosa's version JIT-compiles on first use and costs
    ~3 s of cold start in every process). With ``cfg.trim_noise`` (the default) an end that holds steady noise
    (a fan, hum, other talkers 20 dB below the speech, which sit within ``trim_db`` of the peak) is trimmed up to
    where the speech rises above that noise (:func:`_speech_onset`); with ``cfg.trim_noise_min_s`` only where that
    noise lasts at least so long, so a clip already cut to its speech loses none of its soft onset or decay (trimming
    such a clip again changes less). Never trims a clip below 0.25 s.
    """
    frame, hop = _TRIM_FRAME, _TRIM_HOP
    if cfg.trim_db is None or y.size < frame:
        return 0, y.size
    frames = np.lib.stride_tricks.sliding_window_view(y, frame)[::hop]
    power = np.einsum("ij,ij->i", frames, frames) / frame
    peak = float(power.max())
    base = peak * 10.0 ** (-cfg.trim_db / 10.0)
    if cfg.trim_noise:
        first = _speech_onset(power, base, peak, cfg.sample_rate, cfg.trim_noise_min_s)
        last = _speech_onset(power[::-1], base, peak, cfg.sample_rate, cfg.trim_noise_min_s)
        if first is not None and last is not None:
            start, end = first * hop, min(y.size, (len(power) - 1 - last) * hop + frame)
            if end - start >= int(0.25 * cfg.sample_rate):
                return _talker_bounds(power, start, end, cfg)
    loud = np.flatnonzero(power > base)
    if loud.size == 0:
        return 0, y.size
    start, end = int(loud[0]) * hop, min(y.size, int(loud[-1]) * hop + frame)
    if end - start < int(0.25 * cfg.sample_rate):
        return 0, y.size
    return _talker_bounds(power, start, end, cfg)


def _talker_bounds(power: np.ndarray, start: int, end: int, cfg: FeatureConfig) -> tuple[int, int]:
    """``(start, end)`` (samples) narrowed to the talker with ``cfg.trim_talker_db``: ``power [shape=(f,)]`` are the
    clip's trimming frames; the talker's speech is the frames within ``trim_talker_db`` of the 95th percentile of
    ``power`` between ``start`` and ``end``, and each end keeps at most ``cfg.trim_talker_s`` beyond it (a soft onset,
    a decay). What lies further out is quieter than the talker throughout: another voice, babble or noise that
    ``trim_db`` below the peak keeps. Unchanged when that would leave less than 0.25 s."""
    if cfg.trim_talker_db is None:
        return start, end
    frame, hop = _TRIM_FRAME, _TRIM_HOP
    first, last = start // hop, max(start // hop, (end - frame) // hop)
    p = power[first : last + 1]
    strong = np.flatnonzero(p >= np.percentile(p, _LEVEL_PERCENTILE) * 10.0 ** (-cfg.trim_talker_db / 10.0))
    ext = int(round(cfg.trim_talker_s * cfg.sample_rate))
    a = max(start, (first + int(strong[0])) * hop - ext)
    b = min(end, (first + int(strong[-1])) * hop + frame + ext)
    return (a, b) if b - a >= int(0.25 * cfg.sample_rate) else (start, end)


def clean(y: np.ndarray, cfg: FeatureConfig, *, found: hum.Found = "find") -> np.ndarray:
    """``y [shape=(n,)]`` float32 less what is no speech, before anything else looks at it: its mean (a DC offset,
    ``cfg.remove_dc``) and mains hum (``cfg.remove_hum``, :func:`ser.hum.remove_hum`); ``y`` itself when neither is
    on. Both would fill the pauses, so trimming, the level and the low bands would take them for speech. ``found``:
    the hum :func:`ser.hum.find_hum` found in ``y`` without its mean when the caller looked already (None: none)."""
    if cfg.remove_dc:
        y = remove_dc(y)
    if cfg.remove_hum:
        y = hum.remove_hum(y, sr=cfg.sample_rate, hum=found)
    return y


def trim(y: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``y`` without leading/trailing silence (see :func:`trim_bounds`)."""
    start, end = trim_bounds(y, cfg)
    return y[start:end]


#: Frame length (samples at 16 kHz: 20 ms) and percentile of frame power that define a clip's level.
_LEVEL_FRAME = 320
_LEVEL_PERCENTILE = 95.0


def level(y: np.ndarray) -> float:
    """Speech level of ``y [shape=(n,)]`` in dBFS: the 95th percentile of 20 ms frame power.

    A percentile of the loud frames (not the whole-clip RMS) so that pauses and the length of
    silence around the speech do not move it; scaling ``y`` by g moves it by exactly 20 log10 g.
    """
    n = y.size // _LEVEL_FRAME * _LEVEL_FRAME
    x = (y[:n] if n else y).astype(np.float64)
    power = (x.reshape(-1, _LEVEL_FRAME) ** 2).mean(axis=1) if n else np.array([np.mean(x**2)])
    return float(10.0 * np.log10(max(np.percentile(power, _LEVEL_PERCENTILE), 1e-20)))


def normalise_level(y: np.ndarray, target_db: float | None) -> np.ndarray:
    """``y`` scaled so that :func:`level` is ``target_db`` (no-op for ``None`` or digital silence).

    This makes every feature independent of input gain by construction: a microphone's AGC, a
    louder voice or a hotter corpus (EMO-DB is recorded ~17 dB above RAVDESS) change nothing
    that the model sees, apart from clipping and the noise floor. Returns float32.
    """
    if target_db is None or y.size == 0:
        return y
    return _scaled(y, target_db, level(y))


def _scaled(y: np.ndarray, target_db: float, current: float) -> np.ndarray:
    """``y`` scaled from ``current`` dBFS (its :func:`level`) to ``target_db``; float32."""
    if current <= -190.0:
        return y
    return (y * np.float32(10.0 ** ((target_db - current) / 20.0))).astype(np.float32, copy=False)


def spectrogram(y: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Magnitude STFT ``[shape=(1 + n_fft/2, t)]`` float32 (centred frames, periodic Hann window)."""
    return dsp.stft_magnitude(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length)


# The blocks computed from one power spectrogram ``P = S**2 [shape=(1 + n_fft/2, t)]``: the only
# implementation, shared by :func:`extract` (the model's numbers) and :func:`display_maps` (the app's views).


def _log_mel(P: np.ndarray, mel_fb: np.ndarray) -> np.ndarray:
    """Log-mel ``[shape=(n_mels, t)]`` in dB, floored 80 dB below its maximum."""
    logmel = 10.0 * np.log10(np.maximum(mel_fb @ P, 1e-10))
    return np.maximum(logmel, logmel.max() - 80.0)


def _mfcc(logmel: np.ndarray, n_mfcc: int) -> np.ndarray:
    """MFCCs ``[shape=(n_mfcc, t)]``: orthonormal DCT-II of the log-mel bands."""
    return scipy.fft.dct(logmel, type=2, axis=0, norm="ortho")[:n_mfcc]


def _chroma(P: np.ndarray, chroma_fb: np.ndarray) -> np.ndarray:
    """Chroma ``[shape=(12, t)]``, each frame scaled to a maximum of 1."""
    c = chroma_fb @ P
    return c / np.maximum(c.max(axis=0, keepdims=True), 1e-10)


def display_maps(y: np.ndarray | None, cfg: FeatureConfig, *, S: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Time-frequency maps of a signal for display, all from ONE STFT, with :func:`extract`'s numbers.

    ``y [shape=(n,)]`` is analysed as given (no trimming, no level normalisation; less its mean with
    ``cfg.remove_dc``, as the model hears it); pass its magnitude
    STFT ``S`` (:func:`spectrogram` under ``cfg``) instead of ``y`` to reuse one. Returns float32
    ``{"stft": S [shape=(1 + n_fft/2, t)], "mel": [shape=(n_mels, t)] dB, "chroma": [shape=(12, t)] in
    [0, 1], "mfcc": [shape=(n_mfcc, t)]}``, the mel/chroma/mfcc blocks of ``extract(y, cfg, trimmed=True)``
    when ``cfg.level_db`` is None.
    """
    single_thread_blas()
    if S is None:
        if y is None:
            raise ValueError("display_maps needs a signal y or its spectrogram S")
        y = np.asarray(y, dtype=np.float32)
        S = spectrogram(remove_dc(y) if cfg.remove_dc else y, cfg)
    P = S**2
    mel_fb, chroma_fb = _filters(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    logmel = _log_mel(P, mel_fb)
    maps = {"stft": S, "mel": logmel, "chroma": _chroma(P, chroma_fb), "mfcc": _mfcc(logmel, cfg.n_mfcc)}
    return {k: np.asarray(v, dtype=np.float32) for k, v in maps.items()}


def extract(y: np.ndarray, cfg: FeatureConfig, *, trimmed: bool = False) -> np.ndarray:
    """Frame features of a mono signal at ``cfg.sample_rate``.

    Parameters: ``y`` ``np.ndarray [shape=(n,)]`` float32 (less its mean first with ``cfg.remove_dc``); ``trimmed``
    says silence was already trimmed, and hum removed (:func:`clean`; a signal that is not trimmed is cleaned here).
    Returns ``np.ndarray [shape=(t, cfg.n_features)]`` float32, blocks stacked in ``cfg.blocks`` order.
    """
    single_thread_blas()
    if not trimmed:
        y = trim(clean(y, cfg), cfg)
    elif cfg.remove_dc:
        y = remove_dc(y)
    input_level = level(y) if cfg.level_db is not None else 0.0
    if cfg.level_db is not None and y.size:
        y = _scaled(y, cfg.level_db, input_level)  # normalise_level without measuring the level twice
    if cfg.denoise == "signal":
        y = denoise.suppress_signal(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length)
    pool = _block_pool() if {"voice", "whisper"} & set(cfg.blocks) else None
    voice_job: Future | None = None
    whisper_job: Future | None = None
    if pool is not None:  # the encoders (most of a window's work) beside the other blocks
        n_frames = 1 + y.size // cfg.hop_length  # spectrogram()'s centred frames
        if "whisper" in cfg.blocks:
            whisper_job = pool.submit(whisper.frames, y, n_frames, hop_length=cfg.hop_length,
                                      compute=cfg.whisper_compute, model=cfg.whisper_model, layers=cfg.whisper_layers)
        if "voice" in cfg.blocks:
            voice_job = pool.submit(voice.frames, y, n_frames, hop_length=cfg.hop_length, layout=cfg.voice_layout)
    S = spectrogram(y, cfg)
    P = S**2
    if cfg.denoise == "spectral" and S.shape[1]:
        g = denoise.gain(P)
        S, P = S * np.sqrt(g), P * g
    mel_fb, chroma_fb = _filters(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    logmel = _log_mel(P, mel_fb)
    out: list[np.ndarray] = []
    mfcc = None
    for block in cfg.blocks:
        if block == "mfcc":
            mfcc = _mfcc(logmel, cfg.n_mfcc)
            out.append(mfcc)
        elif block == "delta":
            out.append(dsp.delta(mfcc, order=1, width=9))
        elif block == "delta2":
            out.append(dsp.delta(mfcc, order=2, width=9))
        elif block == "chroma":
            out.append(_chroma(P, chroma_fb))
        elif block == "contrast":
            out.append(dsp.spectral_contrast(S, sr=cfg.sample_rate, n_fft=cfg.n_fft, fmin=_CONTRAST_FMIN,
                                             n_bands=_CONTRAST_BANDS))
        elif block == "mel":
            out.append(logmel)
        elif block == "energy":
            out.append(10.0 * np.log10(np.maximum(P.mean(axis=0, keepdims=True), 1e-10)))
        elif block == "speech":
            out.append(speech.frames(y, S.shape[1], hop_length=cfg.hop_length, step=cfg.speech_step))
        elif block == "prosody":
            out.append(prosody.frames(y, S.shape[1], sr=cfg.sample_rate, hop_length=cfg.hop_length))
        elif block == "voice":
            out.append(voice_job.result() if voice_job is not None else
                       voice.frames(y, S.shape[1], hop_length=cfg.hop_length, layout=cfg.voice_layout))
        elif block == "whisper":
            out.append(whisper_job.result() if whisper_job is not None else
                       whisper.frames(y, S.shape[1], hop_length=cfg.hop_length, compute=cfg.whisper_compute,
                                      model=cfg.whisper_model, layers=cfg.whisper_layers))
        elif block == "level":  # the level normalise_level removed: only speaker adaptation may use it
            out.append(np.full((1, S.shape[1]), input_level, dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(out, axis=0).T, dtype=np.float32)


#: Blocks averaged into per-emotion profiles (eda.json ``per_emotion``), those of the config only.
PROFILE_BLOCKS = ("mel", "chroma", "mfcc", "contrast")


def per_emotion_profiles(frames_by_emotion: Mapping[str, Sequence[np.ndarray]], cfg: FeatureConfig, *,
                         blocks: Sequence[str] = PROFILE_BLOCKS) -> dict[str, dict[str, list[float]]]:
    """Mean frame of each emotion's ``[shape=(t, cfg.n_features)]`` frame matrices, per block, in eda.json's format.

    ``frames_by_emotion``: ``{emotion: [frames, ...]}`` (every window of every clip; each frame weighs the
    same). Returns ``{emotion: {block: [mean of each column, rounded to 4 decimals]}}`` for the ``blocks``
    that ``cfg`` has (e.g. ``{"mel": [64] dB, "chroma": [12], "mfcc": [20], "contrast": [7]}``), in the
    order of ``frames_by_emotion``; emotions without frames are left out.
    """
    out: dict[str, dict[str, list[float]]] = {}
    for emo, frames in frames_by_emotion.items():
        if not any(len(f) for f in frames):
            continue
        means = np.concatenate(list(frames)).mean(axis=0)
        out[emo] = {b: [round(float(v), 4) for v in means[cfg.block_slice(b)]] for b in blocks if b in cfg.blocks}
    return out


def segment_bounds(n_samples: int, cfg: FeatureConfig) -> list[tuple[int, int]]:
    """Sample ranges ``[(start, end), ...]`` of the model windows covering a clip.

    A clip no longer than ``1.25 * window_s`` is one window; a longer one gets windows of
    ``window_s`` every ``hop_s``, the last aligned to the end.
    """
    win = int(round(cfg.window_s * cfg.sample_rate))
    hop = int(round(cfg.hop_s * cfg.sample_rate))
    if n_samples <= int(1.25 * win):
        return [(0, n_samples)]
    starts = list(range(0, n_samples - win + 1, hop))
    if starts[-1] + win < n_samples:
        starts.append(n_samples - win)
    return [(s, s + win) for s in starts]


_PERCENTILES = (1, 10, 25, 50, 75, 90, 99)


def _percentiles(f: np.ndarray, qs: tuple[int, ...]) -> np.ndarray:
    """``np.percentile(f, qs, axis=0)`` (method "linear", the same numbers) for ``f [shape=(t, d)]`` float64
    → ``[shape=(len(qs), d)]``: one sort per column instead of numpy's partition per call, 8x faster."""
    s = np.sort(f, axis=0)
    n = len(s)
    if n == 0 or np.isnan(s[-1]).any():  # numpy's own NaN and empty-input rules
        return np.percentile(f, qs, axis=0)
    virtual = (n - 1) * (np.asarray(qs, dtype=np.float64) / 100)
    lo = np.floor(virtual)
    gamma = (virtual - lo)[:, None]
    lo = lo.astype(np.intp)
    a, b = s[lo], s[np.minimum(lo + 1, n - 1)]
    diff = b - a
    out = a + diff * gamma  # numpy's _lerp: from the nearer end
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def stats(frames: np.ndarray, functionals: tuple[str, ...] = FUNCTIONALS) -> np.ndarray:
    """Utterance functionals of ``[shape=(t, d)]`` frames → ``[shape=(len(functionals) * d,)]`` float32.

    Per feature: mean, std, percentiles (p1 … p99), range (p99 - p1), iqr, skewness, excess kurtosis,
    mean and std of the frame-to-frame difference, and the linear slope over normalised time [-1, 1].
    """
    f = np.asarray(frames, dtype=np.float64)
    mu = f.mean(axis=0)
    sd = f.std(axis=0)
    pct = dict(zip(_PERCENTILES, _percentiles(f, _PERCENTILES), strict=True))
    z = (f - mu) / np.maximum(sd, 1e-8)
    z2 = z * z  # products, not z**3 / z**4: numpy's power() calls libm pow per element, 40x slower
    d = np.diff(f, axis=0) if len(f) > 1 else np.zeros_like(f)
    t = np.linspace(-1.0, 1.0, len(f))[:, None]
    out = {
        "mean": mu,
        "std": sd,
        "range": pct[99] - pct[1],
        "iqr": pct[75] - pct[25],
        "skew": (z2 * z).mean(axis=0),
        "kurtosis": (z2 * z2).mean(axis=0) - 3.0,
        "delta_mean": np.abs(d).mean(axis=0),
        "delta_std": d.std(axis=0),
        "slope": (t * (f - mu)).sum(axis=0) / max(float((t**2).sum()), 1e-8),
    }
    out.update({f"p{q}": v for q, v in pct.items()})
    return np.concatenate([out[name] for name in functionals]).astype(np.float32)


def normalise(frames: np.ndarray) -> np.ndarray:
    """Per-utterance mean/variance normalisation of ``[shape=(t, d)]`` frames."""
    mu = frames.mean(axis=0, keepdims=True)
    sd = frames.std(axis=0, keepdims=True)
    return ((frames - mu) / np.maximum(sd, 1e-3)).astype(np.float32)


def input_shape(cfg: FeatureConfig, kind: str) -> tuple[int, ...]:
    """Shape (no batch axis) of the ``model_input`` batch of ``kind`` under ``cfg``."""
    level = "level" in cfg.blocks
    shapes = {"stats": (cfg.n_stats,), "sequence": (cfg.window_frames, cfg.n_features - level),
              "logmel": (cfg.window_frames, cfg.n_mels)}
    if kind not in shapes:
        raise ValueError(f"unknown input_kind {kind!r}; known: {', '.join(shapes)}")
    return shapes[kind]


#: Fewest frames :func:`loud_frames` keeps (0.2 s); a window with fewer loud frames keeps all of them.
MIN_LOUD_FRAMES = 20


def loud_frames(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The frames ``[shape=(t', d)]`` of ``frames [shape=(t, cfg.n_features)]`` whose ``energy`` is within
    ``cfg.stats_floor_db`` dB of the window's loud frames (its 95th percentile): the talker's own speech, not the
    noise or other voices that fill the pauses and the ends a noisy clip's trimming keeps. Energy is measured
    after level normalisation, so the choice does not move with input gain. All frames when the setting is off
    or fewer than :data:`MIN_LOUD_FRAMES` would stay."""
    if cfg.stats_floor_db is None or len(frames) <= MIN_LOUD_FRAMES:
        return frames
    e = frames[:, cfg.block_slice("energy")][:, 0]
    keep = e >= np.percentile(e, _LEVEL_PERCENTILE) - cfg.stats_floor_db  # the loud frames, as in level()
    return frames[keep] if int(keep.sum()) >= MIN_LOUD_FRAMES else frames


#: Functionals that move with a feature's offset (the others, spread, shape and slope, do not).
LOCATION_FUNCTIONALS = ("mean", "p1", "p10", "p25", "p50", "p75", "p90", "p99")


def _centre(row: np.ndarray, loud: np.ndarray, cfg: FeatureConfig) -> None:
    """In place: the location functionals of ``cfg.centred_blocks`` in a plain-stats ``row [shape=(len(functionals)
    * n_plain,)]`` as if each feature's mean over ``loud [shape=(t, n_features)]`` had been subtracted from its
    frames (the mean columns exactly 0, so a scaler sees a constant, not rounding noise)."""
    n = cfg.n_plain
    for block in cfg.centred_blocks:
        s = cfg.block_slice(block)
        mu = loud[:, s].astype(np.float64).mean(axis=0)
        for i, f in enumerate(cfg.functionals):
            if f in LOCATION_FUNCTIONALS:
                cols = slice(i * n + s.start, i * n + s.stop)
                row[cols] = 0.0 if f == "mean" else row[cols] - mu


def window_stats(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """One window's stats vector ``[shape=(cfg.n_stats,)]`` from its frames ``[shape=(t, cfg.n_features)]``: every
    functional of the plain features (those of ``cfg.centred_blocks`` as offsets from their window mean), the ``voice``
    block's mean (both over :func:`loud_frames`), the window's input level (``level`` block)."""
    loud = loud_frames(frames, cfg)
    parts = [stats(loud[:, : cfg.n_plain], cfg.functionals)]
    if cfg.centred_blocks and len(loud):
        _centre(parts[0], loud, cfg)
    if "voice" in cfg.blocks:
        v = loud[:, cfg.block_slice("voice")]
        parts.append(v.mean(axis=0) if len(v) else np.zeros(v.shape[1], dtype=np.float32))
    if "whisper" in cfg.blocks:
        w = loud[:, cfg.block_slice("whisper")]
        parts.append(stats(w, WHISPER_FUNCTIONALS) if len(w) else np.zeros(2 * w.shape[1], dtype=np.float32))
    if "level" in cfg.blocks:
        parts.append(np.array([frames[0, -1] if len(frames) else 0.0]))
    return np.concatenate(parts).astype(np.float32)


def model_input(frames_list: list[np.ndarray], cfg: FeatureConfig, kind: str) -> np.ndarray:
    """Stack per-window frame features into a model batch.

    ``kind``: ``"stats"`` → ``[shape=(n, cfg.n_stats)]`` (:func:`window_stats`: functionals, the ``voice``
    block's means, then the input level when the ``level`` block is on; a window given as its stats row
    ``[shape=(cfg.n_stats,)]`` already, as training keeps its copies, is taken as it is); ``"sequence"`` → ``[shape=(n, T, d)]``
    (every block but ``level``); ``"logmel"`` → ``[shape=(n, T, n_mels)]``. Sequences are cropped (centre) or zero-padded to
    T = ``cfg.window_frames``; zero frames are masked by recurrent models.
    """
    level = "level" in cfg.blocks
    if kind == "stats":
        return np.stack([f if f.ndim == 1 else window_stats(f, cfg) for f in frames_list]).astype(np.float32)
    T = cfg.window_frames
    if kind == "sequence":
        cols, d = slice(0, cfg.n_features - level), cfg.n_features - level
    elif kind == "logmel":
        cols, d = cfg.block_slice("mel"), cfg.n_mels
    else:
        raise ValueError(f"unknown model input kind {kind!r}")
    batch = np.zeros((len(frames_list), T, d), dtype=np.float32)
    for i, f in enumerate(frames_list):
        f = f[:, cols]
        if cfg.utterance_norm:
            f = normalise(f)
        if len(f) > T:
            off = (len(f) - T) // 2
            f = f[off : off + T]
        batch[i, : len(f)] = f
    return batch


# -- on-disk feature cache ---------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$SER_CACHE_DIR`` or ``~/.cache/ser/features``."""
    env = os.environ.get("SER_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "ser" / "features"


def file_digest(path: str | Path) -> str:
    """sha1 of a file's bytes (the cache key is content, not name or mtime)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def config_parts(cfg: FeatureConfig) -> list[FeatureConfig]:
    """The configs whose frames make up ``cfg``'s in the cache: ``[cfg]``, or with a :data:`CACHED_APART` block,
    ``cfg`` without those blocks, then each of them alone (the same trimming, level and windows, so the same frames
    per window)."""
    return list(_config_parts(cfg))


@functools.lru_cache(maxsize=64)
def _config_parts(cfg: FeatureConfig) -> tuple[FeatureConfig, ...]:
    # the same part objects for equal configs, so each part's digest is computed once (every cache lookup asks for it:
    # a sixth of the time of reading a cached training run)
    apart = [b for b in CACHED_APART if b in cfg.blocks]
    if not apart:
        return (cfg,)
    rest = tuple(b for b in cfg.blocks if b not in apart)
    parts = [dataclasses.replace(cfg, blocks=rest)] if rest else []
    return tuple(parts + [dataclasses.replace(cfg, blocks=(b,), stats_floor_db=None) for b in apart])


def _columns(cfg: FeatureConfig, blocks: Sequence[str]) -> np.ndarray:
    """Column indices of ``blocks`` in ``cfg``'s ``[shape=(t, d)]`` frames, in ``blocks`` order."""
    return np.concatenate([np.arange(cfg.block_slice(b).start, cfg.block_slice(b).stop) for b in blocks])


def join_parts(cfg: FeatureConfig, parts: Sequence[FeatureConfig],
               frames: Sequence[list[np.ndarray]]) -> list[np.ndarray]:
    """Per-window frames of ``cfg`` ``[shape=(t_i, cfg.n_features)]`` from those of its :func:`config_parts`
    (``frames[k]``: part k's per-window list)."""
    if len({len(f) for f in frames}) != 1:
        raise ValueError(f"the parts of a clip's features have different windows: {[len(f) for f in frames]}")
    out = []
    for windows in zip(*frames, strict=True):
        if len({len(w) for w in windows}) != 1:
            raise ValueError(f"the parts of a window's features have different frames: {[len(w) for w in windows]}")
        x = np.empty((len(windows[0]), cfg.n_features), dtype=np.float32)
        for part, w in zip(parts, windows, strict=True):
            x[:, _columns(cfg, part.blocks)] = w
        out.append(x)
    return out


class FeatureCache:
    """Frame features on disk, keyed by file content + feature config + augmentation tag.

    Files are written to a temp name then renamed, so a killed run never leaves a torn entry. A config with a
    :data:`CACHED_APART` block keeps each of its :func:`config_parts` in an entry of its own.
    """

    def __init__(self, root: str | Path | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, content: str, cfg: FeatureConfig, tag: str) -> Path:
        return self.root / cfg.digest() / content[:2] / f"{content}{('-' + tag) if tag else ''}.npz"

    def get(self, content: str, cfg: FeatureConfig, tag: str = "") -> list[np.ndarray] | None:
        """Cached per-window frames of a clip, or None (a config of several parts: None unless every part is)."""
        if not self.enabled:
            return None
        parts = config_parts(cfg)
        got = [self._get(content, p, tag) for p in parts]
        if any(g is None for g in got):
            self.misses += 1
            return None
        self.hits += 1
        return got[0] if len(parts) == 1 else join_parts(cfg, parts, got)  # type: ignore[arg-type]

    def get_parts(self, content: str, cfg: FeatureConfig, tag: str = "") -> list[list[np.ndarray] | None]:
        """Each of :func:`config_parts` ``(cfg)``'s cached per-window frames, or None where a part is not cached."""
        return [self._get(content, p, tag) if self.enabled else None for p in config_parts(cfg)]

    def _get(self, content: str, cfg: FeatureConfig, tag: str) -> list[np.ndarray] | None:
        p = self._path(content, cfg, tag)
        try:
            with np.load(p) as z:
                frames, lengths = z["frames"], z["lengths"]
        except (OSError, ValueError, KeyError):
            return None
        return np.split(frames, np.cumsum(lengths)[:-1])

    def put(self, content: str, cfg: FeatureConfig, tag: str, frames: list[np.ndarray]) -> None:
        """Store a clip's per-window frames ``[shape=(t_i, cfg.n_features)]`` (temp file + rename; one entry per
        part of a config of several)."""
        if not self.enabled:
            return
        parts = config_parts(cfg)
        if len(parts) == 1:
            self._put(content, cfg, tag, frames)
            return
        for part in parts:
            cols = _columns(cfg, part.blocks)
            self._put(content, part, tag, [f[:, cols] for f in frames])

    def put_part(self, content: str, part: FeatureConfig, tag: str, frames: list[np.ndarray]) -> None:
        """Store one of :func:`config_parts`' per-window frames ``[shape=(t_i, part.n_features)]``."""
        if self.enabled:
            self._put(content, part, tag, frames)

    def _put(self, content: str, cfg: FeatureConfig, tag: str, frames: list[np.ndarray]) -> None:
        p = self._path(content, cfg, tag)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, frames=np.concatenate(frames).astype(np.float32),
                         lengths=np.array([len(x) for x in frames], dtype=np.int64))
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def clip_windows(y: np.ndarray, cfg: FeatureConfig, *,
                 found: hum.Found = "find") -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """Trim a clip, cut it into model windows and extract each window's frame features.

    Returns ``(frames, spans)``: a list of ``[shape=(t_i, d)]`` arrays and each window's
    ``(start_s, end_s)`` in seconds on the untrimmed clip's time axis. ``found``: see :func:`clean`.
    """
    y = clean(y, cfg, found=found)  # before trimming: an offset or hum would make silence as loud as speech
    offset, stop = trim_bounds(y, cfg)
    y = y[offset:stop]
    frames, spans = [], []
    sr = cfg.sample_rate
    for start, end in segment_bounds(y.size, cfg):
        frames.append(extract(y[start:end], cfg, trimmed=True))
        spans.append(((offset + start) / sr, (offset + end) / sr))
    return frames, spans
