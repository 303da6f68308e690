"""Tests of ser.download against a local HTTP server (never the internet)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import socket
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser import download as dl
from ser.corpora import scan
from ser.download import CORPORA, MARKER, CorpusSource, download_corpus
from ser.errors import DownloadError, SERError

ZIP_NAME = CORPORA["ravdess"].filename
CLIP_NAMES = ["03-01-01-01-01-01-01.wav", "03-01-05-02-01-02-01.wav", "03-01-08-01-02-01-01.wav"]


def wav_bytes(seconds: float = 0.2, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def ravdess_zip() -> bytes:
    """A small stand-in for Audio_Speech_Actors_01-24.zip: three clips in Actor_01/."""
    return make_zip({f"Actor_01/{name}": wav_bytes() for name in CLIP_NAMES})


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


MARKER_PATH = f"ravdess/{MARKER}"
CLIP_PATHS = [f"ravdess/Actor_01/{name}" for name in CLIP_NAMES]


class FileServer:
    """A tiny in-memory HTTP server with optional Range support, dropped connections and errors."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.support_range = True
        self.drops = 0  # how many responses to cut off half-way
        self.status: int | None = None  # answer every request with this error status
        self.bad_offset = 0  # how many 206 answers to send from the wrong offset (one byte early)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                if server.status:
                    self.send_error(server.status)
                    return
                body = server.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", rng or "")
                if m and server.support_range:
                    start = int(m.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    if server.bad_offset > 0:
                        server.bad_offset -= 1
                        start -= 1
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(chunk)))
                if server.support_range:
                    self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.drops > 0:
                    server.drops -= 1
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str = ZIP_NAME) -> str:
        return f"{self.base}/{name}"


@pytest.fixture()
def server(ravdess_zip: bytes, monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    monkeypatch.setattr(dl, "_BACKOFF_S", 0.0)
    monkeypatch.delenv(dl.BASE_URL_ENV, raising=False)
    srv = FileServer()
    srv.files[f"/{ZIP_NAME}"] = ravdess_zip
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def leftovers(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) if dest.exists() else []


def test_download_unpacks_and_scan_finds_clips(
    server: FileServer, ravdess_zip: bytes, tmp_path: Path
) -> None:
    dest = tmp_path / "data"
    folder = download_corpus(
        "ravdess",
        dest,
        url=server.url(),
        expected_size=len(ravdess_zip),
        checksum=md5(ravdess_zip),
        progress=False,
    )
    assert folder == dest / "ravdess"
    assert sorted(p.name for p in (folder / "Actor_01").iterdir()) == CLIP_NAMES
    assert (folder / MARKER).is_file()
    assert not (dest / ".partial").exists()
    assert [p.name for p in dest.iterdir()] == ["ravdess"]  # no temporary folder left
    assert server.requests == [(f"/{ZIP_NAME}", None)]

    result = scan(folder)
    assert len(result.manifest) == 3 and result.skipped == []
    assert result.manifest["speaker"].unique().tolist() == ["ravdess_01"]
    assert result.manifest["duration"].round(3).tolist() == [0.2, 0.2, 0.2]

    # a second call finds the corpus and downloads nothing
    assert download_corpus("ravdess", dest, url=server.url(), progress=False) == folder
    assert len(server.requests) == 1


def _partial(dest: Path, data: bytes) -> Path:
    """An earlier run's ``.part`` file holding ``data``."""
    part = dest / ".partial" / f"{ZIP_NAME}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    return part


def test_resume_with_range_request(server: FileServer, ravdess_zip: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    cut = len(ravdess_zip) // 3
    part = _partial(dest, ravdess_zip[:cut])
    folder = download_corpus("ravdess", dest, url=server.url(), checksum=md5(ravdess_zip), progress=False)
    assert server.requests == [(f"/{ZIP_NAME}", f"bytes={cut}-")]
    assert len(scan(folder).manifest) == 3
    assert not part.exists()


def test_restart_when_server_ignores_range(server: FileServer, ravdess_zip: bytes, tmp_path: Path) -> None:
    server.support_range = False
    dest = tmp_path / "data"
    _partial(dest, b"stale bytes from another attempt")  # would corrupt the file if appended to
    folder = download_corpus("ravdess", dest, url=server.url(), checksum=md5(ravdess_zip), progress=False)
    assert server.requests[0][1] == "bytes=32-"  # asked to resume, got a full 200 answer
    assert len(scan(folder).manifest) == 3


def test_dropped_connection_is_retried_and_resumed(
    server: FileServer, ravdess_zip: bytes, tmp_path: Path
) -> None:
    server.drops = 1
    folder = download_corpus(
        "ravdess", tmp_path / "data", url=server.url(), checksum=md5(ravdess_zip), progress=False
    )
    assert len(server.requests) == 2
    assert server.requests[0][1] is None
    assert server.requests[1][1] == f"bytes={len(ravdess_zip) // 2}-"
    assert len(scan(folder).manifest) == 3


def test_interrupted_download_is_kept_and_resumed_by_the_next_run(
    server: FileServer, ravdess_zip: bytes, tmp_path: Path
) -> None:
    """The case pooch cannot handle: a lost connection keeps the bytes so far for the next run."""
    server.drops = 1
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="failed after 1 attempt: .*run the command again to resume"):
        download_corpus("ravdess", dest, url=server.url(), retries=0, progress=False)
    half = len(ravdess_zip) // 2
    part = dest / ".partial" / f"{ZIP_NAME}.part"
    assert part.read_bytes() == ravdess_zip[:half]
    assert leftovers(dest) == [".partial", f".partial/{ZIP_NAME}.part"]  # no corpus folder yet
    folder = download_corpus("ravdess", dest, url=server.url(), checksum=md5(ravdess_zip), progress=False)
    assert server.requests == [(f"/{ZIP_NAME}", None), (f"/{ZIP_NAME}", f"bytes={half}-")]
    assert len(scan(folder).manifest) == 3
    assert leftovers(dest) == sorted(["ravdess", MARKER_PATH, "ravdess/Actor_01"] + CLIP_PATHS)


def test_resume_at_wrong_offset_restarts(server: FileServer, ravdess_zip: bytes, tmp_path: Path) -> None:
    server.bad_offset = 1
    dest = tmp_path / "data"
    cut = len(ravdess_zip) // 3
    _partial(dest, ravdess_zip[:cut])
    folder = download_corpus("ravdess", dest, url=server.url(), checksum=md5(ravdess_zip), progress=False)
    assert server.requests == [(f"/{ZIP_NAME}", f"bytes={cut}-"), (f"/{ZIP_NAME}", None)]
    assert len(scan(folder).manifest) == 3


def test_part_longer_than_the_file_restarts(server: FileServer, ravdess_zip: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    _partial(dest, ravdess_zip + b"junk")  # the server answers 416 with another total size
    folder = download_corpus("ravdess", dest, url=server.url(), checksum=md5(ravdess_zip), progress=False)
    assert server.requests == [(f"/{ZIP_NAME}", f"bytes={len(ravdess_zip) + 4}-"), (f"/{ZIP_NAME}", None)]
    assert len(scan(folder).manifest) == 3


def test_part_already_complete_is_not_fetched_again(
    server: FileServer, ravdess_zip: bytes, tmp_path: Path
) -> None:
    dest = tmp_path / "data"
    part = _partial(dest, ravdess_zip)
    download_corpus("ravdess", dest, url=server.url(), expected_size=len(ravdess_zip), progress=False)
    assert server.requests == []
    # without a known size the server answers 416 and the part file is taken as complete
    (dest / "ravdess" / MARKER).unlink()
    for clip in (dest / "ravdess" / "Actor_01").iterdir():
        clip.unlink()
    (dest / "ravdess" / "Actor_01").rmdir()
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(ravdess_zip)
    download_corpus("ravdess", dest, url=server.url(), progress=False)
    assert server.requests == [(f"/{ZIP_NAME}", f"bytes={len(ravdess_zip)}-")]
    assert len(scan(dest / "ravdess").manifest) == 3


def test_checksum_mismatch_leaves_nothing(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="md5 checksum mismatch"):
        download_corpus("ravdess", dest, url=server.url(), checksum="md5:" + "0" * 32, progress=False)
    assert leftovers(dest) == []


def test_sha256_checksum(server: FileServer, ravdess_zip: bytes, tmp_path: Path) -> None:
    sha = hashlib.sha256(ravdess_zip).hexdigest()
    folder = download_corpus(
        "ravdess", tmp_path / "a", url=server.url(), checksum=f"SHA256:{sha}", progress=False
    )
    assert len(scan(folder).manifest) == 3
    assert (folder / MARKER).read_text().count(f"SHA256:{sha}") == 1
    # bare hex: 64 digits are taken as sha256, 32 as md5
    with pytest.raises(DownloadError, match=f"sha256 checksum mismatch \\(got {sha}, expected 0{{64}}\\)"):
        download_corpus("ravdess", tmp_path / "b", url=server.url(), checksum="0" * 64, progress=False)
    assert leftovers(tmp_path / "b") == []
    with pytest.raises(DownloadError, match="md5 checksum mismatch"):
        download_corpus("ravdess", tmp_path / "c", url=server.url(), checksum="0" * 32, progress=False)


def test_size_mismatch_leaves_nothing(server: FileServer, ravdess_zip: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match=f"expected {len(ravdess_zip) + 1}"):
        download_corpus("ravdess", dest, url=server.url(), expected_size=len(ravdess_zip) + 1, progress=False)
    assert leftovers(dest) == []


def test_bad_checksum_string(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="bad checksum"):
        download_corpus("ravdess", tmp_path, url=server.url(), checksum="crc32:1234", progress=False)
    assert server.requests == []


@pytest.mark.parametrize("evil", ["../evil.txt", "Actor_01/../../evil.txt", "/abs/evil.txt"])
def test_unsafe_zip_member_is_rejected(server: FileServer, tmp_path: Path, evil: str) -> None:
    server.files[f"/{ZIP_NAME}"] = make_zip({f"Actor_01/{CLIP_NAMES[0]}": wav_bytes(), evil: b"gotcha"})
    dest = tmp_path / "deep" / "data"
    with pytest.raises(DownloadError, match="unsafe path"):
        download_corpus("ravdess", dest, url=server.url(), progress=False)
    assert leftovers(dest) == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_not_a_zip_is_rejected(server: FileServer, tmp_path: Path) -> None:
    server.files[f"/{ZIP_NAME}"] = b"<html>please log in</html>"
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="not a valid zip"):
        download_corpus("ravdess", dest, url=server.url(), progress=False)
    assert leftovers(dest) == []


def test_http_404_fails_at_once(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_corpus("ravdess", tmp_path / "data", url=server.url("missing.zip"), progress=False)
    assert len(server.requests) == 1
    assert leftovers(tmp_path / "data") == []


def test_http_500_is_retried_then_fails(server: FileServer, tmp_path: Path) -> None:
    server.status = 503
    with pytest.raises(DownloadError, match="failed after 3 attempts.*HTTP 503"):
        download_corpus("ravdess", tmp_path / "data", url=server.url(), retries=2, progress=False)
    assert len(server.requests) == 3


def test_connection_refused_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{ZIP_NAME}"
    dest = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        download_corpus("ravdess", dest, url=url, progress=False, timeout=2)
    message = str(info.value)
    assert message.startswith("cannot reach 127.0.0.1:")
    assert "check your internet connection" in message
    assert url in message and str(dest / "ravdess") in message
    assert "\n" not in message
    assert leftovers(dest) == []


def test_offline_dns_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv(dl.BASE_URL_ENV, raising=False)
    with pytest.raises(
        DownloadError, match=r"^cannot reach zenodo\.org: Temporary failure in name resolution"
    ):
        download_corpus("ravdess", tmp_path, progress=False)
    with pytest.raises(DownloadError, match=r"cannot reach emodb\.bilderbar\.info"):
        download_corpus("emodb", tmp_path, progress=False)


def test_unknown_corpus_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unknown corpus 'iemocap': known names are emodb, ravdess"):
        download_corpus("iemocap", tmp_path)
    with pytest.raises(DownloadError, match="by hand from https://github.com/CheyneyComputerScience/CREMA-D"):
        download_corpus("cremad", tmp_path)
    assert issubclass(DownloadError, SERError)


def test_existing_corpus_folder_is_kept(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    dest = tmp_path / "data"
    clip = dest / "ravdess" / "Actor_03" / "03-01-01-01-01-01-03.wav"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(wav_bytes())
    assert download_corpus("ravdess", dest, url=server.url(), progress=True) == dest / "ravdess"
    assert "skipping" in capsys.readouterr().err
    assert server.requests == []
    junk = tmp_path / "other" / "ravdess"
    junk.mkdir(parents=True)
    (junk / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError, match="holds no audio files"):
        download_corpus("ravdess", tmp_path / "other", url=server.url(), progress=False)


def test_progress_bar_and_messages(server: FileServer, ravdess_zip: bytes, tmp_path: Path, capsys) -> None:
    download_corpus("ravdess", tmp_path / "data", url=server.url(), checksum=md5(ravdess_zip), progress=True)
    err = capsys.readouterr().err
    assert "downloading" in err and "unpacked into" in err and "CC BY-NC-SA" in err


def test_quiet_prints_nothing(server: FileServer, ravdess_zip: bytes, tmp_path: Path, capsys) -> None:
    download_corpus("ravdess", tmp_path / "data", url=server.url(), checksum=md5(ravdess_zip), progress=False)
    assert capsys.readouterr() == ("", "")


def test_mirror_from_environment_uses_catalogue_checks(
    server: FileServer, ravdess_zip: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(dl.BASE_URL_ENV, server.base + "/")
    # the mirror's (tiny) file is checked against the real archive's published size
    with pytest.raises(DownloadError, match=f"expected {CORPORA['ravdess'].size}"):
        download_corpus("ravdess", tmp_path / "a", progress=False)
    folder = download_corpus(
        "ravdess", tmp_path / "b", expected_size=None, checksum=md5(ravdess_zip), progress=False
    )
    assert server.requests[-1] == (f"/{ZIP_NAME}", None)
    assert len(scan(folder).manifest) == 3


def test_catalogue() -> None:
    ravdess = CORPORA["ravdess"]
    assert ravdess.url == "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1"
    assert ravdess.filename == "Audio_Speech_Actors_01-24.zip"
    assert ravdess.size == 208_468_073
    assert re.fullmatch(r"[0-9a-f]{32}", ravdess.md5 or "")
    assert ravdess.checksum == f"md5:{ravdess.md5}"
    assert "CC BY-NC-SA 4.0" in ravdess.licence and "Livingstone" in ravdess.citation
    emodb = CORPORA["emodb"]
    assert emodb.url == "http://emodb.bilderbar.info/download/download.zip"
    assert emodb.size is None and emodb.checksum is None
    assert all(isinstance(s, CorpusSource) and s.name == k for k, s in CORPORA.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ravdess.url = "http://example.com"  # type: ignore[misc]
