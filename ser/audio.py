"""Audio I/O: one convention everywhere — mono float32 in [-1, 1] at the model's sample rate.

``load`` reads wav/flac/ogg (and mp3 where libsndfile can) with soundfile, and anything else
(webm, m4a, mp3 elsewhere) with PyAV. Resampling uses soxr, streamed block by block so that a long
48 kHz file is never held in memory at its original rate.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

#: The sample rate every model in this package works at (Hz).
SAMPLE_RATE = 16_000
#: Shortest clip (seconds) that can be analysed: a few analysis frames.
MIN_DURATION = 0.25
#: Peak amplitude below which a clip counts as digital silence (about -60 dBFS).
SILENCE_PEAK = 1e-3

_BLOCK_FRAMES = 1 << 18  # frames per read block (about 5 s at 48 kHz)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"file not found: {path}")
    if path.is_dir():
        raise AudioError(f"expected an audio file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"file is empty (0 bytes): {path}")


def _mono(block: np.ndarray) -> np.ndarray:
    """``[shape=(n,) or (n, ch)]`` → ``[shape=(n,)]`` float32 (channel average)."""
    if block.ndim == 2:
        block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
    return np.ascontiguousarray(block, dtype=np.float32)


def _iter_soundfile(source, sr_out: int) -> Iterator[np.ndarray]:
    with sf.SoundFile(source) as f:
        sr_in = f.samplerate
        stream = None if sr_in == sr_out else soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32")
        while True:
            block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
            last = len(block) < _BLOCK_FRAMES
            mono = _mono(block)
            yield mono if stream is None else stream.resample_chunk(mono, last=last)
            if last:
                return


def _iter_pyav(source, sr_out: int) -> Iterator[np.ndarray]:
    import av  # PyAV: webm/opus, m4a/aac, mp3 ...

    try:
        container = av.open(source)
    except Exception as exc:  # av raises many error types; FFmpeg's own reason is in strerror
        raise AudioError(getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}") from None
    with container:
        if not container.streams.audio:
            raise AudioError("the file has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr_out)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)


def iter_blocks(source: str | Path | bytes, *, sr: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Decode ``source`` (path or encoded bytes) block by block.

    Yields ``np.ndarray [shape=(n,), dtype=float32]`` mono blocks at ``sr`` Hz, so a long file is
    resampled with bounded memory. Raises :class:`AudioError` for anything that is not audio.
    """
    if isinstance(source, bytes | bytearray):
        if len(source) == 0:
            raise AudioError("file is empty (0 bytes)")
        opener = lambda: io.BytesIO(source)  # noqa: E731
        name = "uploaded data"
    else:
        path = Path(source)
        _check_path(path)
        opener = lambda: str(path)  # noqa: E731
        name = str(path)
    try:
        sf.info(opener())
        use_soundfile = True
    except (sf.LibsndfileError, RuntimeError, TypeError):
        use_soundfile = False
    if use_soundfile:
        try:
            yield from _iter_soundfile(opener(), sr)
            return
        except sf.LibsndfileError as exc:
            raise AudioError(f"corrupt audio data in {name}: {exc}") from None
    try:
        yield from _iter_pyav(opener(), sr)
    except AudioError as exc:
        raise AudioError(f"{name} is not a readable audio file (wav, flac, ogg, mp3, webm, m4a): {exc}") from None
    except Exception as exc:  # decoding errors deep inside FFmpeg
        raise AudioError(f"cannot decode {name}: {getattr(exc, 'strerror', None) or exc}") from None


def load(source: str | Path | bytes, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Load a whole file as ``np.ndarray [shape=(n,), dtype=float32]``, mono at ``sr`` Hz.

    Any channel count, sample rate and PCM/float encoding is accepted; raises :class:`AudioError`
    for a missing, empty, corrupt or non-audio file, or one with no samples.
    """
    blocks = [b for b in iter_blocks(source, sr=sr) if b.size]
    if not blocks:
        raise AudioError(f"the audio holds no samples: {source if not isinstance(source, bytes) else 'upload'}")
    y = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    return check_signal(y, sr=sr, min_duration=0.0, allow_silence=True)


def check_signal(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    allow_silence: bool = False,
) -> np.ndarray:
    """Validate a signal and return it as contiguous mono float32 ``[shape=(n,)]``.

    Raises :class:`AudioError` for NaN/inf samples, fewer than ``min_duration`` seconds, or
    (unless ``allow_silence``) digital silence. A 2-D ``(n, ch)`` array is averaged to mono.
    """
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[0] < y.shape[1] and y.shape[0] <= 8:  # (ch, n) layout
            y = y.T
        y = _mono(y)
    elif y.ndim != 1:
        raise AudioError(f"expected a 1-D signal or (samples, channels), got shape {y.shape}")
    if np.issubdtype(y.dtype, np.integer):
        y = y.astype(np.float32) / float(np.iinfo(y.dtype).max)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.size == 0:
        raise AudioError("the audio holds no samples (0 samples)")
    if not np.isfinite(y).all():
        raise AudioError("the signal contains NaN or infinite samples")
    duration = y.size / sr
    if duration < min_duration:
        raise AudioError(
            f"the clip is too short: {duration * 1000:.0f} ms (at least {min_duration * 1000:.0f} ms is needed)"
        )
    if not allow_silence and float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError("the clip is silent (peak below -60 dBFS): there is no speech to analyse")
    return y


def resample(y: np.ndarray, *, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """Resample ``y [shape=(n,)]`` from ``sr_in`` to ``sr_out`` Hz (soxr HQ); float32 out."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    if sr_in == sr_out:
        return y
    if sr_in <= 0:
        raise AudioError(f"invalid sample rate: {sr_in}")
    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def duration(path: str | Path) -> float:
    """Duration of an audio file in seconds, read from its header when possible."""
    path = Path(path)
    _check_path(path)
    try:
        info = sf.info(str(path))
        return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError):
        return sum(b.size for b in iter_blocks(path)) / SAMPLE_RATE


def info(source: str | Path | bytes) -> dict:
    """Best-effort facts from a file's header: ``{"samplerate": int | None}``; never raises.

    The original rate matters after resampling: an 8 kHz file loaded at 16 kHz is still narrowband.
    """
    try:
        src = io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source)
        return {"samplerate": int(sf.info(src).samplerate)}
    except Exception:  # noqa: BLE001 - not readable by libsndfile: ask PyAV
        pass
    try:
        import av

        src = io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source)
        with av.open(src) as container:
            stream = next(s for s in container.streams if s.type == "audio")
            return {"samplerate": int(stream.rate or stream.codec_context.sample_rate)}
    except Exception:  # noqa: BLE001
        return {"samplerate": None}
