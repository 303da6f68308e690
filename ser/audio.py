"""Audio in: one convention everywhere — mono float32 in [-1, 1] at the model's sample rate.

Files: ``load`` reads wav/flac/ogg (and mp3 where libsndfile can) with soundfile, and anything else
(webm, m4a, mp3 elsewhere) with PyAV. Resampling uses soxr, streamed block by block so that a long
48 kHz file is never held in memory at its original rate. :func:`info` also says when a WAV is cut short
(:func:`truncation`), and libmpg123's stderr chatter about files that are not MP3s is silenced.

Buffers and streams: :func:`pcm_to_float` is the package's one integer-PCM scaling rule (int16 / 32768,
as ``librosa.util.buf_to_float``); :func:`pcm_to_mono`, :func:`frame_to_array` and :func:`to_mono` turn
numpy PCM or an ``av.AudioFrame`` (what WebRTC delivers: usually 20 ms of interleaved int16 stereo at
48 kHz) into mono float32; :class:`StreamResampler` converts a stream of such frames to the model rate
with one continuous ``soxr.ResampleStream`` (no clicks at frame boundaries), :func:`convert` a whole
buffer at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _error(reason: str, message: str | None = None) -> AudioError:
    """An :class:`AudioError` whose ``message`` names the file and whose ``reason`` attribute does not
    (for callers that name the file themselves: ``error: FILE: REASON``, a table's ``error`` cell)."""
    err = AudioError(message or reason)
    err.reason = reason
    return err


def _check_path(path: Path) -> None:
    if not path.exists():
        raise _error("file not found", f"file not found: {path}")
    if path.is_dir():
        raise _error("expected an audio file, got a folder", f"expected an audio file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise _error("file is empty (0 bytes)", f"file is empty (0 bytes): {path}")


#: Leading bytes of the containers libsndfile parses itself (no MPEG probe, so nothing written to stderr).
_NATIVE_MAGIC = ((b"RIFF", b"WAVE"), (b"RIFX", b"WAVE"), (b"RF64", b"WAVE"), (b"FORM", b"AIFF"), (b"FORM", b"AIFC"),
                 (b"fLaC", None), (b"OggS", None))
_QUIET_LOCK = threading.Lock()
_quiet_depth = 0
_saved_stderr: int | None = None


def _head(source: str | Path | bytes, n: int = 12) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source[:n])
    try:
        with open(source, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _may_chatter(head: bytes) -> bool:
    """Whether libsndfile may hand these bytes to libmpg123, which writes "Note: Illegal Audio-MPEG-Header
    ..." lines to the C-level stderr for anything that is not an MP3 (and for damaged MP3s)."""
    return not any(head[:4] == a and (b is None or head[8:12] == b) for a, b in _NATIVE_MAGIC)


@contextlib.contextmanager
def _quiet_c_stderr(active: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null while inside (C libraries' chatter; Python's own stderr is
    flushed first). Reference-counted under a lock, so concurrent decodes in several threads nest correctly
    and the real stderr comes back when the last one leaves; a no-op when ``active`` is false or fd 2 is closed.
    """
    global _quiet_depth, _saved_stderr
    if not active:
        yield
        return
    with _QUIET_LOCK:
        if _quiet_depth == 0:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            try:
                saved = os.dup(2)
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
                _saved_stderr = saved
            except OSError:
                _saved_stderr = None
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _saved_stderr is not None:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)
                _saved_stderr = None


def _mono(block: np.ndarray) -> np.ndarray:
    """``[shape=(n,) or (n, ch)]`` → ``[shape=(n,)]`` float32 (channel average)."""
    if block.ndim == 2:
        block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
    return np.ascontiguousarray(block, dtype=np.float32)


def _iter_soundfile(source, sr_out: int, *, quiet: bool = False) -> Iterator[np.ndarray]:
    with _quiet_c_stderr(quiet):
        f = sf.SoundFile(source)
    with f:
        sr_in = f.samplerate
        quiet = quiet and f.format == "MPEG"  # only libmpg123 talks while decoding
        stream = None if sr_in == sr_out else soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32")
        while True:
            with _quiet_c_stderr(quiet):
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
    quiet = _may_chatter(_head(source))
    try:
        with _quiet_c_stderr(quiet):
            sf.info(opener())
        use_soundfile = True
    except (sf.LibsndfileError, RuntimeError, TypeError):
        use_soundfile = False
    if use_soundfile:
        try:
            yield from _iter_soundfile(opener(), sr, quiet=quiet)
            return
        except sf.LibsndfileError as exc:
            raise _error(f"corrupt audio data: {exc}", f"corrupt audio data in {name}: {exc}") from None
    try:
        yield from _iter_pyav(opener(), sr)
    except AudioError as exc:
        reason = f"not a readable audio file (wav, flac, ogg, mp3, webm, m4a): {exc}"
        raise _error(reason, f"{name} is {reason}") from None
    except Exception as exc:  # decoding errors deep inside FFmpeg
        why = getattr(exc, "strerror", None) or exc
        raise _error(f"cannot decode the audio: {why}", f"cannot decode {name}: {why}") from None


def load(source: str | Path | bytes, *, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Load a whole file as ``np.ndarray [shape=(n,), dtype=float32]``, mono at ``sr`` Hz.

    Any channel count, sample rate and PCM/float encoding is accepted; raises :class:`AudioError`
    for a missing, empty, corrupt or non-audio file, or one with no samples.
    """
    blocks = [b for b in iter_blocks(source, sr=sr) if b.size]
    if not blocks:
        name = source if not isinstance(source, bytes | bytearray) else "upload"
        raise _error("the audio holds no samples", f"the audio holds no samples: {name}")
    y = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    return check_signal(y, sr=sr, min_duration=0.0, allow_silence=True)


def remove_dc(y: np.ndarray) -> np.ndarray:
    """``y [shape=(n,)]`` less its mean (float32): a DC offset (a cheap microphone's or converter's, or one left by
    editing) is no sound, but it fills every frame with power, so trimming, the level and the spectra would take it
    for speech. A constant offset of 0.02 full scale turned three in four RAVDESS clips "sad" before features removed
    it (``FeatureConfig.remove_dc``)."""
    if y.size == 0:
        return y
    return (y - np.float32(np.mean(y, dtype=np.float64))).astype(np.float32, copy=False)


def peak(y: np.ndarray) -> float:
    """Peak of ``y [shape=(n,)]`` around its mean (full scale 1.0): a DC offset alone is silence, not sound."""
    return float(np.max(np.abs(remove_dc(y)))) if y.size else 0.0


def check_signal(
    y: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    allow_silence: bool = False,
) -> np.ndarray:
    """Validate a signal and return it as contiguous mono float32 ``[shape=(n,)]``.

    Raises :class:`AudioError` for NaN/inf samples, fewer than ``min_duration`` seconds, or
    (unless ``allow_silence``) digital silence (a DC offset alone is silence too: :func:`peak`). A 2-D ``(n, ch)`` array is averaged to mono; integer
    PCM is scaled by :func:`pcm_to_float` (int16 / 32768).
    """
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):  # before the channel average, which would leave it unscaled
        y = pcm_to_float(y)
    if y.ndim == 2:
        if y.shape[0] < y.shape[1] and y.shape[0] <= 8:  # (ch, n) layout
            y = y.T
        y = _mono(y)
    elif y.ndim != 1:
        raise AudioError(f"expected a 1-D signal or (samples, channels), got shape {y.shape}")
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
    if not allow_silence and peak(y) < SILENCE_PEAK:
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


# -- PCM buffers and streamed frames --------------------------------------------------------------


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """PCM of any numpy dtype → float32 in [-1, 1], same shape; the package's one integer scaling rule.

    Signed integers are divided by their full-scale magnitude (int16 / 32768, int32 / 2**31): exactly the
    numbers of ``librosa.util.buf_to_float`` (and of libsndfile and FFmpeg reading such files), which
    ``tests/test_audio.py`` checks. librosa is not called here: importing it pulls in numba (about 2 s),
    and this module is on the prediction path, which deliberately avoids librosa. Unsigned 8-bit PCM
    (offset binary) is centred: ``(x - 128) / 128``. Float input is only cast.
    """
    pcm = np.asarray(pcm)
    if pcm.dtype == np.uint8:
        return (pcm.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(pcm.dtype, np.integer):
        return pcm.astype(np.float32) / float(-np.iinfo(pcm.dtype).min)
    return pcm.astype(np.float32, copy=False)


def pcm_to_mono(pcm: np.ndarray, channels: int = 1) -> np.ndarray:
    """Interleaved or 2-D PCM → mono float32 ``[shape=(n,)]`` in [-1, 1] (channels averaged).

    ``pcm`` is either 1-D interleaved ``[shape=(n * channels,)]`` (``L R L R ...``), packed
    ``[shape=(1, n * channels)]`` (what ``av.AudioFrame.to_ndarray`` gives for packed formats such
    as ``s16``), or ``[shape=(n, channels)]``. Integer PCM is scaled by :func:`pcm_to_float`.
    """
    pcm = np.asarray(pcm)
    channels = int(channels)
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if pcm.ndim == 2 and pcm.shape[0] == 1 and channels > 1:  # packed (1, n * ch)
        pcm = pcm.reshape(-1)
    if pcm.ndim == 1:
        if pcm.size % channels:
            raise ValueError(f"{pcm.size} interleaved samples do not divide into {channels} channels")
        pcm = pcm.reshape(-1, channels)
    elif pcm.ndim != 2:
        raise ValueError(f"expected 1-D interleaved or 2-D (n, channels) PCM, got shape {pcm.shape}")
    return _mono(pcm_to_float(pcm))


def frame_to_array(frame: Any) -> tuple[np.ndarray, int]:
    """An ``av.AudioFrame`` → ``(samples [shape=(n, channels)] float32 in [-1, 1], sample_rate Hz)``.

    Handles packed (``s16``: ``to_ndarray`` is ``(1, n * channels)``) and planar (``fltp``, ``s16p``:
    ``(channels, n)``) layouts.
    """
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    arr = arr.T if frame.format.is_planar else arr.reshape(-1, channels)
    return np.ascontiguousarray(pcm_to_float(arr)), int(frame.sample_rate)


def to_mono(frame_or_pcm: Any, *, sr: int | None = None, channels: int = 1) -> tuple[np.ndarray, int]:
    """An ``av.AudioFrame`` or numpy PCM → ``(mono float32 [shape=(n,)], sample_rate Hz)``.

    For numpy input ``sr`` is required and ``channels`` says how a 1-D buffer is interleaved.
    """
    if isinstance(frame_or_pcm, np.ndarray):
        if sr is None:
            raise ValueError("sr is required for numpy PCM")
        return pcm_to_mono(frame_or_pcm, channels), int(sr)
    samples, rate = frame_to_array(frame_or_pcm)
    return pcm_to_mono(samples, samples.shape[1]), rate


def convert(frame_or_pcm: Any, *, sr: int | None = None, channels: int = 1, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    """One-shot conversion of a whole buffer to mono float32 ``[shape=(m,)]`` at ``sr_out`` Hz.

    Uses :func:`resample`; right for a complete clip, wrong for a stream of short frames (each call
    restarts the filter, leaving a click at every boundary): use :class:`StreamResampler`.
    """
    y, rate = to_mono(frame_or_pcm, sr=sr, channels=channels)
    return resample(y, sr_in=rate, sr_out=sr_out)


class StreamResampler:
    """Frames of any rate/channel layout → one continuous mono float32 stream at ``sr_out`` Hz.

    One ``soxr.ResampleStream`` (HQ) is kept across calls, so the output of consecutive frames is the
    same signal a one-shot resample of the whole recording gives (no boundary clicks), delayed by the
    filter's latency (about 12 ms at 48 → 16 kHz; :meth:`flush` returns the held-back tail). If the
    input rate changes mid-stream, the old stream is flushed and a new one started. Not
    thread-safe: one producer per instance.
    """

    def __init__(self, sr_out: int = SAMPLE_RATE, *, quality: str = "HQ") -> None:
        self.sr_out = int(sr_out)
        self.quality = quality
        self.sr_in: int | None = None
        self._stream: soxr.ResampleStream | None = None

    def __call__(self, frame_or_pcm: Any, *, sr: int | None = None, channels: int = 1) -> np.ndarray:
        """Convert one frame; returns ``[shape=(m,)]`` float32 (``m`` ≈ n · sr_out / sr_in; may be 0)."""
        y, rate = to_mono(frame_or_pcm, sr=sr, channels=channels)
        head = np.zeros(0, dtype=np.float32)
        if rate != self.sr_in:
            head = self.flush()
            self.sr_in = rate
            self._stream = None if rate == self.sr_out else soxr.ResampleStream(
                rate, self.sr_out, 1, dtype="float32", quality=self.quality
            )
        out = y if self._stream is None else self._stream.resample_chunk(y)
        return np.concatenate([head, out]) if head.size else np.asarray(out, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """End the current stream: the samples still inside the filter, ``[shape=(m,)]`` float32."""
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return np.asarray(tail, dtype=np.float32)

    def reset(self) -> None:
        """Forget the stream (drops anything held in the filter)."""
        self.sr_in = None
        self._stream = None


# -- file facts ----------------------------------------------------------------------------------


def duration(path: str | Path) -> float:
    """Duration of an audio file in seconds, read from its header when possible."""
    path = Path(path)
    _check_path(path)
    try:
        with _quiet_c_stderr(_may_chatter(_head(path))):
            info = sf.info(str(path))
        return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError):
        return sum(b.size for b in iter_blocks(path)) / SAMPLE_RATE


def truncation(source: str | Path | bytes) -> tuple[float, float] | None:
    """``(announced_s, held_s)`` for a WAV (RIFF, RIFX or RF64) whose header announces more audio than the
    file holds (an interrupted recording or copy), else ``None``; never raises.

    libsndfile and FFmpeg quietly read what is there, so this walks the RIFF chunks itself. A data size of 0 or
    0xFFFFFFFF (what streaming writers leave when the length is not known) is not a truncation.
    """
    try:
        if isinstance(source, bytes | bytearray):
            f, size = io.BytesIO(source), len(source)
        else:
            f, size = open(source, "rb"), os.path.getsize(source)  # noqa: SIM115 - closed below
        with f:
            head = f.read(12)
            if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX", b"RF64"):
                return None
            end = ">" if head[:4] == b"RIFX" else "<"
            pos, rate, align, data64 = 12, 0, 0, None
            for _ in range(10_000):
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, n = chunk[:4], struct.unpack(end + "I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(14)
                    rate, align = struct.unpack(end + "I", fmt[4:8])[0], struct.unpack(end + "H", fmt[12:14])[0]
                elif cid == b"ds64":
                    data64 = struct.unpack(end + "Q", f.read(16)[8:16])[0]
                elif cid == b"data":
                    declared = data64 if (head[:4] == b"RF64" and n == 0xFFFFFFFF) else n
                    if declared in (None, 0, 0xFFFFFFFF) or rate <= 0 or align <= 0:
                        return None
                    announced, held = declared // align, max(0, size - pos - 8) // align
                    return (announced / rate, held / rate) if held < announced else None
                pos += 8 + n + (n & 1)
    except Exception:  # noqa: BLE001 - best effort: an unreadable header is load()'s business
        return None
    return None


def info(source: str | Path | bytes) -> dict:
    """Best-effort facts from a file's header, never raises: ``{"samplerate": int | None, "warnings": (str, ...)}``.

    The original rate matters after resampling: an 8 kHz file loaded at 16 kHz is still narrowband. The
    warnings say when the file is cut short (:func:`truncation`).
    """
    cut = truncation(source)
    warnings = () if cut is None else (
        f"truncated file: its header announces {cut[0]:.2f} s of audio but it holds {cut[1]:.2f} s (an interrupted "
        f"recording or copy?); only those {cut[1]:.2f} s were analysed",)
    return {**_samplerate(source), "warnings": warnings}


def _samplerate(source: str | Path | bytes) -> dict:
    try:
        src = io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source)
        with _quiet_c_stderr(_may_chatter(_head(source))):
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
