"""Audio loading: one convention (mono float32 at 16 kHz) from any file; clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from support import STEREO_48K, requires_data, speechlike

from ser import audio
from ser.errors import AudioError
from ser.testing import png_bytes


@pytest.mark.parametrize(
    ("sr", "subtype", "channels"),
    [(8000, "PCM_16", 1), (22050, "PCM_24", 1), (44100, "FLOAT", 2), (48000, "PCM_16", 2), (16000, "PCM_32", 1)],
)
def test_load_any_rate_depth_and_channels(tmp_path, sr, subtype, channels):
    y = speechlike(1.0, sr=sr)
    data = np.stack([y] * channels, axis=1) if channels > 1 else y
    path = tmp_path / f"x_{sr}_{subtype}.wav"
    sf.write(path, data, sr, subtype=subtype)
    out = audio.load(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - audio.SAMPLE_RATE) <= 2
    assert np.abs(out).max() == pytest.approx(np.abs(y).max(), rel=0.05)


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_load_compressed_formats(tmp_path, fmt):
    path = tmp_path / f"x.{fmt}"
    sf.write(path, speechlike(1.0), 16000, format=fmt.upper())
    assert abs(audio.load(path).size - 16000) < 400


def test_load_bytes_and_webm_via_pyav(tmp_path):
    import av

    y = speechlike(1.0, sr=48000)
    path = tmp_path / "x.webm"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libopus", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray((y * 32767).astype(np.int16)[None, :], format="s16", layout="mono")
        frame.sample_rate = 48000
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    out = audio.load(path.read_bytes())
    assert out.dtype == np.float32 and abs(out.size - 16000) < 1600


@requires_data
def test_load_48k_stereo_original():
    info = sf.info(STEREO_48K)
    assert info.channels == 2 and info.samplerate == 48000
    y = audio.load(STEREO_48K)
    assert y.ndim == 1 and abs(y.size - round(info.frames / 3)) <= 2


def test_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        audio.load(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        audio.load(empty)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 20)
    with pytest.raises(AudioError):
        audio.load(text)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        audio.load(zero)


def test_check_signal():
    with pytest.raises(AudioError, match="NaN"):
        audio.check_signal(np.array([0.1, np.nan] * 8000, dtype=np.float32))
    with pytest.raises(AudioError, match="too short"):
        audio.check_signal(speechlike(0.05))
    with pytest.raises(AudioError, match="silent"):
        audio.check_signal(np.zeros(16000, dtype=np.float32))
    stereo = np.stack([speechlike(1.0), speechlike(1.0)], axis=1)
    assert audio.check_signal(stereo).shape == (16000,)
    pcm = (speechlike(1.0) * 32767).astype(np.int16)
    assert audio.check_signal(pcm).dtype == np.float32


def test_one_pcm_scaling_rule_as_librosa():
    """Integer PCM → float is int16 / 32768 (int32 / 2**31) everywhere: librosa's ``buf_to_float`` numbers."""
    librosa = pytest.importorskip("librosa")
    i16 = np.array([32767, -32768, 16384, -1, 0, 12345], dtype=np.int16)
    i32 = np.random.default_rng(0).integers(-(2**31), 2**31, 1000).astype(np.int32)
    np.testing.assert_array_equal(audio.pcm_to_float(i16), librosa.util.buf_to_float(i16, n_bytes=2))
    np.testing.assert_array_equal(audio.pcm_to_float(i32), librosa.util.buf_to_float(i32, n_bytes=4))
    assert audio.pcm_to_float(i16).dtype == np.float32 and audio.pcm_to_float(i16.reshape(2, 3)).shape == (2, 3)
    np.testing.assert_array_equal(audio.pcm_to_float(np.array([0, 128, 255], np.uint8)), [-1.0, 0.0, 127 / 128])
    y = speechlike(1.0)
    np.testing.assert_array_equal(audio.pcm_to_float(y), y)  # float input: untouched
    # check_signal and the live path's frame conversion use the same rule (mono and stereo alike)
    pcm = (speechlike(1.0) * 32767).astype(np.int16)
    np.testing.assert_array_equal(audio.check_signal(pcm), pcm / np.float32(32768))
    np.testing.assert_array_equal(audio.pcm_to_mono(pcm), audio.check_signal(pcm))
    stereo = np.stack([pcm, pcm], axis=1)
    np.testing.assert_array_equal(audio.check_signal(stereo), audio.check_signal(pcm))
    np.testing.assert_array_equal(audio.pcm_to_mono(stereo, channels=2), audio.check_signal(pcm))


def _wav(y: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize(("subtype", "channels"), [("PCM_16", 1), ("FLOAT", 2)])
def test_truncated_wav_is_noticed(tmp_path, subtype, channels):
    """A WAV whose header announces 3 s but which holds 1 s (a copy cut short): loaded, and flagged."""
    y = speechlike(3.0)
    data = _wav(np.stack([y] * channels, axis=1) if channels > 1 else y, subtype=subtype)
    bytes_per_frame = channels * (2 if subtype == "PCM_16" else 4)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) - 2 * 16000 * bytes_per_frame])  # the last 2 s are gone
    assert audio.truncation(cut) == pytest.approx((3.0, 1.0), abs=1e-3)
    assert audio.truncation(cut.read_bytes()) == pytest.approx((3.0, 1.0), abs=1e-3)  # an upload
    (warning,) = audio.info(cut)["warnings"]
    assert "truncated" in warning and "3.00 s" in warning and "1.00 s" in warning
    assert abs(audio.load(cut).size - 16000) <= 2
    whole = tmp_path / "whole.wav"
    whole.write_bytes(data)
    assert audio.truncation(whole) is None and audio.info(whole)["warnings"] == ()
    assert audio.info(whole)["samplerate"] == 16000


def test_unknown_length_wav_is_not_truncated(tmp_path):
    """Streaming writers leave the data size 0 or 0xFFFFFFFF: not a truncation."""
    import struct

    data = bytearray(_wav(speechlike(1.0)))
    pos = data.index(b"data")
    for size in (0, 0xFFFFFFFF):
        struct.pack_into("<I", data, pos + 4, size)
        assert audio.truncation(bytes(data)) is None
    assert audio.truncation(b"not a wav at all") is None and audio.truncation(tmp_path / "missing.wav") is None




def test_png_renamed_mp3_is_one_clear_error_and_no_decoder_chatter(tmp_path, capfd):
    """libsndfile hands such a file to libmpg123, which writes "Note: Illegal Audio-MPEG-Header ..." to the
    C-level stderr: that is silenced, and the error names the problem (its ``reason`` without the path)."""
    path = tmp_path / "picture.mp3"
    path.write_bytes(png_bytes())
    with pytest.raises(AudioError, match="not a readable audio file") as info:
        audio.load(path)
    assert str(path) in str(info.value) and str(path) not in info.value.reason
    audio.info(path)
    with pytest.raises(AudioError):
        audio.duration(path)
    err = capfd.readouterr().err
    assert "MPEG" not in err and "Note:" not in err, err
    import os
    import sys

    os.write(2, b"fd 2 still works\n")  # the real stderr is back
    print("so does sys.stderr", file=sys.stderr)
    err = capfd.readouterr().err
    assert "fd 2 still works" in err and "so does sys.stderr" in err


def test_quiet_stderr_nests_across_threads(capfd):
    """Concurrent decodes (the app's sessions) nest their redirects: the real stderr comes back at the end."""
    import os
    import threading

    barrier = threading.Barrier(4)

    def decode() -> None:
        with audio._quiet_c_stderr():
            barrier.wait(timeout=30)
            os.write(2, b"swallowed\n")

    threads = [threading.Thread(target=decode) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "swallowed" not in err and "after" in err
