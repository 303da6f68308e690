"""Helpers for tests, benchmarks and demos (no test framework needed).

* :func:`make_tiny_bundle`: a tiny real bundle built in seconds (random weights, not trained), with the
  features of :func:`tiny_features`;
* :func:`speechlike`, :func:`wav_bytes`: generated speech-like signals and their WAV bytes;
* :func:`round_robin`: a prefix of items spread over groups (speakers, emotions);
* :func:`png_bytes`: a small valid PNG (a picture a user might rename .mp3 by mistake);
* :func:`free_port`, :func:`server_healthy`, :func:`streamlit_server`: a real ``streamlit run app.py`` for the
  browser tests and the load benchmark.

Only numpy is imported up front; Keras and the bundle writer only when a bundle is built.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar

import numpy as np

from .labels import EMOTIONS

T = TypeVar("T")


def tiny_features():
    """The tiny bundle's :class:`~ser.features.FeatureConfig`: the default without the ``speech`` and ``voice``
    blocks.

    Their pre-trained networks cost about a millisecond per 160 ms of audio and 10 ms per window, which the unit
    tests of prediction, streaming, the CLI and the pages would pay thousands of times over (a one-hour file is
    3,600 windows); the blocks themselves are tested in ``tests/test_speech.py`` and ``tests/test_voice.py`` and
    through the shipped model.
    """
    from .features import BLOCKS, FeatureConfig

    return FeatureConfig(blocks=tuple(b for b in BLOCKS if b not in ("speech", "voice", "whisper")))


def round_robin(items: list[T], key: Callable[[T], Hashable], n: int) -> list[T]:
    """Up to ``n`` of ``items``, taking one per ``key(item)`` group in turn (groups sorted, order kept
    within a group), so any prefix covers many groups (speakers, emotions)."""
    groups: dict = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    out: list[T] = []
    while len(out) < n and any(groups.values()):
        for k in sorted(groups):
            if groups[k] and len(out) < n:
                out.append(groups[k].pop(0))
    return out


def speechlike(seconds: float = 2.0, sr: int = 16_000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal ``[shape=(n,)]`` float32 (not silence, not noise);
    ``seconds`` long at ``sr`` Hz with fundamental ``f0`` Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * 3 * t)) ** 2
    y = 0.2 * y * env + 0.005 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def wav_bytes(y: np.ndarray, sr: int = 16_000) -> bytes:
    """``y [shape=(n,)]`` as the bytes of a 16-bit WAV file (what an upload holds)."""
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_tiny_bundle(dest: str | Path, *, model_type: str = "mlp", labels: tuple[str, ...] = EMOTIONS[:8],
                     inputs: np.ndarray | None = None, speakers: np.ndarray | None = None) -> Path:
    """Write an untrained bundle of ``model_type`` to ``dest``; its metrics say it is untrained.

    ``inputs`` ``[shape=(n, cfg.n_stats)]`` (stats models only): real model inputs, e.g. of a few
    clips of each of ``speakers`` ``[shape=(n,)]``, to fit the standardisation and the adaptation
    prior on, so that the random model sees inputs of its own scale (its probabilities are then not
    saturated). Default: random normal "inputs" of random "speakers".
    """
    from .bundle import BundleConfig, write_bundle
    from .features import input_shape
    from .models import MODEL_INPUTS, ModelConfig, build_model

    fcfg = tiny_features()
    kind = MODEL_INPUTS[model_type]
    shape = input_shape(fcfg, kind)
    model = build_model(ModelConfig(model_type=model_type, width=8), input_shape=shape, n_classes=len(labels))
    prior = None
    if model_type in ("mlp", "linear"):
        rng = np.random.default_rng(0)
        if inputs is None:
            x_std, x = rng.normal(size=(8, *shape)), rng.normal(size=(48, *shape))
            speakers = np.arange(48) // 12
        else:
            x_std = x = np.asarray(inputs, dtype=np.float64)
            speakers = np.arange(len(x)) // 12 if speakers is None else np.asarray(speakers)
        if "level" in fcfg.blocks:  # an adaptation prior from the "speakers", so profiles work
            from .adapt import fit_prior

            prior = fit_prior(x, np.arange(len(x)) % len(labels), speakers, tuple(labels),
                              level_index=fcfg.n_stats - 1, digest=fcfg.digest())
            if inputs is not None:  # standardise what the model sees, as training does
                from .adapt import speaker_normalised

                x_std = np.concatenate([prior.normalise(x, None), speaker_normalised(x, speakers, prior)])
        model.get_layer("standardise").adapt(np.asarray(x_std, dtype="float32"))
    k = len(labels)
    confusion = np.eye(k, dtype=int).tolist()
    per_class = {lab: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1} for lab in labels}
    cfg = BundleConfig(
        labels=tuple(labels), model_type=model_type, input_kind=kind, features=fcfg,
        model={"model_type": model_type}, corpora=("synthetic",),
        split={"train": ["synthetic_1"], "val": ["synthetic_2"], "test": ["synthetic_3"]},
        extra={"untrained": True, "licence": "test fixture, no data"},
    )
    history = {"loss": [2.0, 1.9], "accuracy": [0.1, 0.2], "val_loss": [2.1, 2.0], "val_accuracy": [0.1, 0.15]}
    metrics = {"test": {"uar": 1.0, "accuracy": 1.0, "n": k, "labels": list(labels), "confusion": confusion,
                        "per_class": per_class, "per_speaker": {"synthetic_3": 1.0}}}
    eda = {"n_clips": 0, "class_counts": {}, "durations": {}, "per_emotion": {}}
    card = "# Tiny test bundle\n\nRandom weights; for tests only.\n"
    return write_bundle(dest, model=model, config=cfg, history=history, metrics=metrics, eda=eda, card=card,
                        adaptation=prior)


def png_bytes() -> bytes:
    """A small valid 64x64 RGB PNG image."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    pixels = b"".join(b"\x00" + bytes(range(96)) * 2 for _ in range(64))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_healthy(url: str) -> bool:
    """Whether the Streamlit server at ``url`` answers its health check."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def streamlit_server(model_dir: Path, data_dir: Path, log_path: Path, *, root: Path,
                     start_timeout_s: float = 180.0):
    """Context manager: ``streamlit run app.py`` (in ``root``) with ``SER_MODEL_DIR``/``SER_DATA_DIR`` on a free
    localhost port, output to ``log_path``; yields ``(base URL, server pid)``, stops the server's process group
    afterwards. Raises ``RuntimeError`` (with the log's tail) when it exits or is not healthy in time."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time

    @contextlib.contextmanager
    def run():
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "SER_MODEL_DIR": str(model_dir), "SER_DATA_DIR": str(data_dir),
               "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            deadline = time.monotonic() + start_timeout_s
            while not server_healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else \
                        f"not healthy after {start_timeout_s:g} s"
                    raise RuntimeError(f"streamlit {state}:\n{Path(log_path).read_text(errors='replace')[-4000:]}")
                time.sleep(0.3)
            yield url, proc.pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    return run()
