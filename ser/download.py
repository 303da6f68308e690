"""Download the freely downloadable corpora from their public homes, resumably and verified.

:func:`download_corpus` fetches the archive into ``DEST/.partial/<file>.part``, checks its size and
checksum when known, and unpacks it into ``DEST/<name>/`` through a temporary folder renamed into
place, so a failure never leaves a half-written corpus behind. The unpacked layout is kept as
distributed; :func:`ser.corpora.scan` reads it recursively.

``pooch`` (librosa's downloader, already installed with it) computes the checksum
(:func:`pooch.file_hash`). What stays hand-written, because pooch 1.9 lacks it (measured against a
local server):

- the transfer (``urllib``): pooch cannot resume; ``pooch.retrieve`` deletes its temporary file on
  any failure and starts the next try from byte 0 (a lost connection costs all of RAVDESS's 200 MB),
  and ``HTTPDownloader`` does not tell 206 from 200, so a ``Range`` request that the server ignores
  would append the whole body to the part file;
- retries with back-off: pooch retries only in ``Pooch.fetch``, from byte 0, with unsettable sleeps;
- one-line :class:`~ser.errors.DownloadError` messages (offline, HTTP status, checksum, archive):
  pooch lets ``requests``/``ValueError`` exceptions through;
- unpacking (``zipfile``): ``pooch.Unzip`` is the same ``ZipFile.extractall`` call plus a log line
  to stderr that ``--quiet`` cannot silence, and it quietly rewrites ``../`` member names where
  this module refuses the archive.

TESS, CREMA-D and SAVEE are not plain archive downloads (a Dataverse form, Git LFS and a
registration form); :data:`MANUAL_CORPORA` says where to get them by hand.

Set ``SER_DOWNLOAD_BASE_URL`` to fetch the same archives from a mirror (``<base>/<filename>``).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from types import EllipsisType

from ser.corpus_facts import CORPUS_FACTS, Archive, CorpusFacts
from ser.errors import DownloadError

__all__ = ["CORPORA", "MANUAL_CORPORA", "CorpusSource", "download_corpus"]

log = logging.getLogger(__name__)

#: Environment variable naming a mirror that serves the archives as ``<base>/<filename>``.
BASE_URL_ENV = "SER_DOWNLOAD_BASE_URL"

#: Marker written into a corpus folder once it is completely unpacked.
MARKER = ".ser-download.json"

_CHUNK = 1 << 16
_USER_AGENT = "ser-corpus-downloader/0.1 (+python urllib)"
#: Seconds to wait before retry ``n`` is ``_BACKOFF_S * 2**(n-1)`` (tests set it to 0).
_BACKOFF_S = 1.0


@dataclass(frozen=True)
class CorpusSource:
    """Where a corpus archive lives and how to check it (``size`` in bytes; ``None`` = unknown)."""

    name: str
    url: str
    filename: str
    size: int | None
    md5: str | None
    sha256: str | None
    licence: str
    citation: str
    homepage: str

    @property
    def checksum(self) -> str | None:
        """``"sha256:<hex>"`` or ``"md5:<hex>"`` (the strongest known), or ``None``."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        return None


def _source(facts: CorpusFacts, archive: Archive) -> CorpusSource:
    return CorpusSource(name=facts.name, url=archive.url, filename=archive.filename, size=archive.size,
                        md5=archive.md5, sha256=archive.sha256, licence=facts.licence, citation=facts.citation,
                        homepage=facts.homepage)


#: Corpora with a public archive (:data:`ser.corpus_facts.CORPUS_FACTS` holds the URLs and checksums).
CORPORA: dict[str, CorpusSource] = {
    name: _source(f, f.archive) for name, f in CORPUS_FACTS.items() if f.archive is not None
}

#: Corpora that :func:`ser.corpora.scan` reads but that must be obtained by hand.
MANUAL_CORPORA: dict[str, str] = {name: f.homepage for name, f in CORPUS_FACTS.items() if f.archive is None}


class _BadArchive(DownloadError):
    """The downloaded file is not a usable archive (so it is deleted, not kept for resuming)."""


class _Transient(Exception):
    """A failure worth retrying (timeout, reset connection, short body, HTTP 5xx/429)."""


def _say(message: str, progress: bool) -> None:
    log.info(message)
    if progress:
        print(message, file=sys.stderr)


def _parse_checksum(checksum: str) -> tuple[str, str]:
    """``"md5:<hex>"``/``"sha256:<hex>"``/bare hex (32 = md5, 64 = sha256) -> (algorithm, hex)."""
    algo, sep, value = checksum.strip().partition(":")
    if not sep:
        value = algo
        algo = {32: "md5", 64: "sha256"}.get(len(value), "")
    algo, value = algo.lower(), value.lower()
    if algo not in ("md5", "sha256") or not value or any(c not in "0123456789abcdef" for c in value):
        raise DownloadError(f"bad checksum {checksum!r}: expected 'md5:<hex>' or 'sha256:<hex>'")
    return algo, value


def _unreachable(err: BaseException) -> bool:
    """True for errors that mean the host cannot be reached at all (offline, DNS, refused)."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.gaierror | ConnectionRefusedError):
        return True
    if isinstance(reason, OSError) and reason.errno in (
        errno.ECONNREFUSED,
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.EADDRNOTAVAIL,
    ):
        return True
    return False


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _fetch(
    url: str, part: Path, *, expected_size: int | None, progress: bool, timeout: float, label: str
) -> bool:
    """One attempt to complete ``part`` from ``url``; returns whether a Range request was honoured.

    Raises :class:`_Transient` for retryable failures, :class:`DownloadError` for final ones,
    and lets ``urllib.error.URLError`` for unreachable hosts through to the caller.
    """
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    if expected_size is not None and have == expected_size:
        return False  # already complete; verified by the caller
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have:
            total = (err.headers.get("Content-Range") or "").rpartition("/")[2]
            if total.isdigit() and int(total) == have:
                return True  # the .part file already holds the whole body
            part.unlink(missing_ok=True)
            raise _Transient("server refused to resume; restarting") from None
        if err.code == 429 or err.code >= 500:
            raise _Transient(f"HTTP {err.code} {err.reason}") from None
        raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if _unreachable(err):
            raise
        raise _Transient(_reason(err)) from None
    except (TimeoutError, ConnectionError, HTTPException) as err:
        raise _Transient(_reason(err)) from None

    with response:
        status = response.status
        resumed = False
        if have and status == 206:
            start = (response.headers.get("Content-Range") or "").removeprefix("bytes ").partition("-")[0]
            if start.strip() != str(have):
                part.unlink(missing_ok=True)
                raise _Transient("server resumed at the wrong offset; restarting")
            resumed = True
            mode, done = "ab", have
        elif status in (200, 206):
            if have:
                log.info("server ignored the Range request; restarting %s from the beginning", label)
            mode, done = "wb", 0
        else:
            raise DownloadError(f"download of {url} failed: unexpected HTTP {status}")
        length = response.headers.get("Content-Length")
        body = int(length) if length and length.isdigit() else None
        total = done + body if body is not None else expected_size
        bar = tqdm(
            total=total,
            initial=done,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            disable=not progress,
            file=sys.stderr,
            leave=False,
        )
        received = 0
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (TimeoutError, ConnectionError, HTTPException, OSError) as err:
                        raise _Transient(_reason(err)) from None
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
        if body is not None and received < body:
            raise _Transient(f"connection closed after {done + received} of {done + body} bytes")
    return resumed


def _download(
    url: str,
    part: Path,
    *,
    expected_size: int | None,
    progress: bool,
    timeout: float,
    retries: int,
    target: Path,
) -> None:
    """Complete ``part`` from ``url`` with retries; unreachable hosts fail at once."""
    host = urllib.parse.urlsplit(url).hostname or url
    attempts = max(0, retries) + 1
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            _fetch(
                url, part, expected_size=expected_size, progress=progress, timeout=timeout, label=part.stem
            )
            return
        except _Transient as err:
            last = str(err)
            if attempt < attempts:
                delay = _BACKOFF_S * 2 ** (attempt - 1)
                _say(
                    f"download interrupted ({last}); retry {attempt}/{attempts - 1} in {delay:g} s", progress
                )
                time.sleep(delay)
        except urllib.error.URLError as err:
            raise DownloadError(
                f"cannot reach {host}: {_reason(err)}; check your internet connection "
                f"or download {url} by hand and unzip it into {target}"
            ) from None
    raise DownloadError(
        f"download of {url} failed after {attempts} attempt{'s' if attempts > 1 else ''}: {last}; "
        f"run the command again to resume, or download it by hand and unzip it into {target}"
    )


def _check_members(archive: zipfile.ZipFile) -> None:
    """Reject members that would land outside the extraction folder."""
    for info in archive.infolist():
        name = info.filename.replace("\\", "/")
        pure = PurePosixPath(name)
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
            raise _BadArchive(
                f"unsafe path in archive: {info.filename!r} (absolute or with '..'); refusing it"
            )


def _extract(archive_path: Path, target: Path, meta: dict[str, object]) -> None:
    """Unpack the zip into ``target`` via a temporary sibling folder and an atomic rename."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise _BadArchive(f"{archive_path.name} is not a valid zip archive ({err})") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".extracting", dir=target.parent))
    try:
        with archive:
            _check_members(archive)
            archive.extractall(tmp)
        (tmp / MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            target.rmdir()  # only an empty folder is ever replaced (checked by the caller)
        os.replace(tmp, target)
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, zlib.error) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _BadArchive(f"{archive_path.name} is a damaged zip archive ({err})") from None
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"cannot unpack {archive_path.name} into {target}: {err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _existing(target: Path) -> str | None:
    """Why ``target`` counts as already holding the corpus, or ``None`` when it is absent/empty."""
    if not target.exists():
        return None
    if not target.is_dir():
        raise DownloadError(f"{target} exists and is not a folder; move it away and try again")
    if (target / MARKER).is_file():
        return "downloaded earlier"
    from ser.corpora import AUDIO_EXTENSIONS

    n_audio = sum(
        1
        for _, _, files in os.walk(target)
        for f in files
        if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS
    )
    if n_audio:
        return f"holds {n_audio} audio files"
    if any(target.iterdir()):
        raise DownloadError(f"{target} exists but holds no audio files; move it away and try again")
    return None


def download_corpus(
    name: str,
    dest: str | Path,
    *,
    url: str | None = None,
    expected_size: int | None | EllipsisType = ...,
    checksum: str | None | EllipsisType = ...,
    progress: bool = True,
    timeout: float = 30,
    retries: int = 3,
) -> Path:
    """Download and unpack corpus ``name`` into ``dest/<name>/``; return that folder.

    ``expected_size`` (bytes) and ``checksum`` (``"md5:<hex>"``/``"sha256:<hex>"``) default to the
    catalogue's values for the catalogue URL (or a ``SER_DOWNLOAD_BASE_URL`` mirror) and to
    unknown (``None``, not checked) when ``url`` is given. An existing, complete corpus folder is
    kept as it is. Every failure raises :class:`~ser.errors.DownloadError` with a one-line message.
    """
    key = name.strip().lower()
    if key not in CORPORA:
        known = ", ".join(sorted(CORPORA))
        hint = (
            f" ({key} must be downloaded by hand from {MANUAL_CORPORA[key]})" if key in MANUAL_CORPORA else ""
        )
        raise DownloadError(f"unknown corpus {name!r}: known names are {known}{hint}")
    source = CORPORA[key]
    if url is None:
        base = os.environ.get(BASE_URL_ENV, "").strip()
        url = f"{base.rstrip('/')}/{source.filename}" if base else source.url
        default_size, default_checksum = source.size, source.checksum
    else:
        default_size, default_checksum = None, None
    size = default_size if expected_size is ... else expected_size
    check = default_checksum if checksum is ... else checksum
    algo_hex = _parse_checksum(check) if check else None

    dest = Path(dest).expanduser()
    target = dest / key
    why = _existing(target)
    if why:
        _say(f"{key}: {target} already {why}; skipping the download", progress)
        return target
    partial_dir = dest / ".partial"
    try:
        partial_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create {partial_dir}: {err.strerror or err}") from None
    part = partial_dir / f"{source.filename}.part"
    if part.exists():
        _say(f"{key}: resuming {part} ({part.stat().st_size} bytes so far)", progress)
    else:
        _say(f"{key}: downloading {url}", progress)

    try:
        _download(
            url, part, expected_size=size, progress=progress, timeout=timeout, retries=retries, target=target
        )
        got = part.stat().st_size
        if size is not None and got != size:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{source.filename}: got {got} bytes, expected {size}; deleted it, try again")
        if algo_hex:
            algo, want = algo_hex
            import pooch  # lazily: importing it takes ~0.15 s

            have = pooch.file_hash(str(part), alg=algo)
            if have != want:
                part.unlink(missing_ok=True)
                raise DownloadError(
                    f"{source.filename}: {algo} checksum mismatch (got {have}, expected {want}); "
                    "deleted it, try again"
                )
        meta = {"corpus": key, "url": url, "filename": source.filename, "bytes": got, "checksum": check}
        try:
            _extract(part, target, meta)
        except _BadArchive as err:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{err}; deleted the download") from None
        part.unlink(missing_ok=True)
    finally:
        # keep a partial download for resuming, but leave no empty file or folder behind
        if part.exists() and part.stat().st_size == 0:
            part.unlink()
        _remove_if_empty(partial_dir)
    _say(f"{key}: unpacked into {target} (licence: {source.licence})", progress)
    return target


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
