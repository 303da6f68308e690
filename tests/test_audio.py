"""Audio loading: one convention (mono float32 at 16 kHz) from any file; clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from support import STEREO_48K, requires_data, speechlike

from ser import audio
from ser.errors import AudioError


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
