"""One small exception hierarchy: every error the package raises on bad input is a ``SERError``.

The CLI prints ``str(err)`` as one line and exits non-zero; the app shows it with ``st.error``.
"""

from __future__ import annotations


class SERError(Exception):
    """Base class of every error this package raises on purpose."""


class AudioError(SERError):
    """An audio file or array cannot be used (missing, empty, not audio, too short, NaN, ...)."""


class CorpusError(SERError):
    """A corpus folder cannot be read or holds no recognisable clips."""


class DownloadError(SERError):
    """A corpus download failed (offline, HTTP error, checksum mismatch, bad archive)."""


class BundleError(SERError):
    """A model bundle folder is missing, incomplete or inconsistent."""


class TrainingError(SERError):
    """Training cannot start or cannot finish (too few speakers, classes, clips)."""
