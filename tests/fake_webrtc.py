"""A stand-in for ``streamlit_webrtc.webrtc_streamer`` under ``AppTest`` (import as ``fake_webrtc``).

The real component needs a browser. :class:`FakeWebRtc` is called by the Live page like
``webrtc_streamer(**kwargs)``: it records the arguments and returns a context whose ``state.playing``
the test sets. :meth:`FakeWebRtc.play` then streams real ``av.AudioFrame`` objects through the audio
*sink* the page passed (``sink_audio_track``) exactly as streamlit-webrtc's worker does: ``addTrack``
with an aiortc track, ``start`` on an asyncio loop (here on a thread of its own), ``stop`` when the
track ends. So the page's sink → frame tap → analyzer path runs for real; only the network is missing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError


def voice_frames(y48k: np.ndarray, *, channels: int = 1) -> list[av.AudioFrame]:
    """A 48 kHz mono float signal → 20 ms packed s16 ``av.AudioFrame`` objects (mono or stereo)."""
    pcm = (np.clip(y48k, -1, 1) * 32767).astype(np.int16)
    frames = []
    for i in range(pcm.size // 960):
        chunk = pcm[960 * i : 960 * (i + 1)]
        data = np.repeat(chunk, channels) if channels > 1 else chunk
        f = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="stereo" if channels > 1 else "mono")
        f.sample_rate = 48_000
        f.pts = 960 * i
        frames.append(f)
    return frames


class FakeAudioTrack(MediaStreamTrack):
    """An aiortc audio track that hands out ``frames`` one by one, ``pace_s`` apart, then ends."""

    kind = "audio"

    def __init__(self, frames: list[av.AudioFrame], pace_s: float) -> None:
        super().__init__()
        self._frames = list(frames)
        self._pace_s = pace_s

    async def recv(self) -> av.AudioFrame:
        if not self._frames:
            self.stop()
            raise MediaStreamError
        await asyncio.sleep(self._pace_s)
        return self._frames.pop(0)


class FakeWebRtc:
    """``webrtc_streamer`` for AppTest: records each call's keyword arguments in :attr:`calls`."""

    def __init__(self) -> None:
        self.state = SimpleNamespace(playing=False, signalling=False)
        self.calls: list[dict] = []
        self._thread: threading.Thread | None = None

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return SimpleNamespace(state=self.state, audio_receiver=None)

    @property
    def sink(self):
        """The audio sink of the page's latest call."""
        return self.calls[-1]["sink_audio_track"]

    def play(self, frames: list[av.AudioFrame], *, pace_s: float = 0.004) -> FakeWebRtc:
        """Stream ``frames`` through :attr:`sink` on a thread (``pace_s`` apart: 0.004 s is 5x real time)."""
        sink = self.sink

        async def main() -> None:
            sink.addTrack(FakeAudioTrack(frames, pace_s))
            sink.start()
            while sink.readyState != "ended":
                await asyncio.sleep(0.01)
            sink.stop()  # as streamlit-webrtc does when the peer's track ends

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="fake-webrtc", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float = 120.0) -> None:
        """Wait until every frame went through the sink."""
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the fake stream did not end within {timeout} s"


def settle(analyzer, timeout: float = 120.0) -> None:
    """Wait until ``analyzer`` has analysed what it received: its newest result ends less than one step
    before the end of the audio (the worker analyses whenever a step of new audio is in), or it has
    stopped. Fails after ``timeout`` seconds (a generous bound for a busy machine, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = analyzer.latest()
        if r is not None and analyzer.stats().audio_s - r.t < analyzer.step_s + 2e-3:  # (times are rounded to ms)
            return
        if not analyzer.running:
            return
        time.sleep(0.05)
    raise AssertionError(f"the analyzer did not catch up within {timeout} s: {analyzer.stats()}")
