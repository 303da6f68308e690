"""Serving the app to a room: HTTPS with a self-signed certificate, the quiet server log, the Dockerfile.

Browsers give the microphone only to a secure context, so a demo served to other machines needs HTTPS.
This runs the README's recipe: ``openssl`` makes a self-signed certificate, ``streamlit run app.py
--server.sslCertFile … --server.sslKeyFile …`` serves it, and ``/_stcore/health`` answers over HTTPS
(certificate not verified, as ``curl -k``). Skipped without ``openssl``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=3, context=context) as r:
        return r.status, r.read().decode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_https_with_a_self_signed_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = _free_port()
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.sslCertFile", str(cert), "--server.sslKeyFile", str(key)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # self-signed: what `curl -k` does
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        answer = None
        while answer is None:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"no HTTPS answer in {START_TIMEOUT_S} s:\n{log.read_text()}"
            with contextlib.suppress(OSError):
                answer = _get(f"https://localhost:{port}/_stcore/health", insecure)
            time.sleep(0.3)
        assert answer == (200, "ok")
        # the certificate is the one we made (a verifying client trusts it once told to)
        trusting = ssl.create_default_context(cafile=str(cert))
        assert _get(f"https://localhost:{port}/_stcore/health", trusting) == (200, "ok")
        with pytest.raises(OSError):  # plain http is not served on the TLS port
            _get(f"http://localhost:{port}/_stcore/health")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    assert f"https://127.0.0.1:{port}" in log.read_text(errors="replace")


def test_server_config_keeps_the_log_quiet():
    """No file watcher (it walked .venv and flooded the log with "Inotify queue overflowed"); no rerun on save."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["fileWatcherType"] == "none" and cfg["server"]["runOnSave"] is False


def test_dockerfile_installs_the_package_and_serves_the_app():
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any("requirements.txt" in ln and "pip install" in ln for ln in lines)
    assert any("pip install" in ln and "--no-deps" in ln for ln in lines)
    assert any(ln.startswith("COPY") and "models" in ln for ln in lines)
    assert any(ln.startswith("EXPOSE 8501") for ln in lines)
    assert "streamlit" in lines[-1] and "app.py" in lines[-1] and lines[-1].startswith(("CMD", "ENTRYPOINT"))
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "data" in ignored  # never bake a virtualenv or corpora into the image


def test_dockerfile_warms_the_shipped_model_up_into_the_image(tmp_path):
    """The image runs :meth:`ser.Predictor.warm_up` as the user that serves it, after the model is copied in; the
    same command on an empty feature cache builds the whisper encoder's graph there and exits 0."""
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines()]
    warm = next(i for i, ln in enumerate(lines) if ln.startswith("RUN") and "warm_up()" in ln)
    assert warm > lines.index("USER ser") > next(i for i, ln in enumerate(lines) if ln.startswith("COPY models/"))
    code = lines[warm].split("python -c ", 1)[1].strip().strip('"')
    env = {**os.environ, "SER_CACHE_DIR": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert list((tmp_path / "whisper-graphs").glob("*.onnx"))
