"""One result schema for every door: a :class:`~ser.predict.Prediction` (or the error a file raised) → one row.

``ser predict --json/--csv/--out``, the app's Batch table and CSV, and the Ray Parquet output
(:mod:`ser.distributed`) all write these rows, so a file is described the same way everywhere:

``file, label, confidence, uncertain, p_<label> (one per bundle label, in the bundle's order), duration,
reliability, adapted, profile_clips, unadapted_label, warnings, error``

Every input file is a row. A failed one has its reason in ``error`` and empty prediction cells (``None``:
an empty CSV cell, JSON ``null``, Parquet null); a good one has ``error == ""``. Units: ``confidence``,
``p_*`` and ``reliability`` in [0, 1]; ``duration`` in seconds; ``profile_clips`` in clips' worth of the
speaker's earlier speech (0 without a profile). ``warnings`` joins the input-quality warnings with ``"; "``.
JSON rows add two nested fields a table cannot hold: ``timeline`` (per-window results of a long clip) and
``unadapted`` (with a speaker profile: the probabilities without it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fileio import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .predict import Prediction

HEAD = ("file", "label", "confidence", "uncertain")
TAIL = ("duration", "reliability", "adapted", "profile_clips", "unadapted_label", "warnings", "error")
#: The cells a failed file leaves empty (everything but ``file``, ``warnings`` and ``error``).
_STRING = {"file", "label", "unadapted_label", "warnings", "error"}
_BOOL = {"uncertain", "adapted"}


def prob_column(label: str) -> str:
    """The column of one label's probability: ``p_<label>``."""
    return f"p_{label}"


def columns(labels: Sequence[str]) -> list[str]:
    """Every column, in order, for a bundle with ``labels``."""
    return [*HEAD, *(prob_column(k) for k in labels), *TAIL]


def error_text(exc: BaseException) -> str:
    """The reason ``exc`` gives, without the file's name (the row, or the CLI line, names the file)."""
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


def row(pred: Prediction, labels: Sequence[str], *, file: str | None = None, nested: bool = False) -> dict[str, Any]:
    """The row of one prediction (``file`` defaults to ``pred.source``); ``nested`` adds the JSON-only
    ``timeline`` and ``unadapted`` fields."""
    unadapted = None
    if pred.unadapted:
        unadapted = max(pred.unadapted, key=pred.unadapted.get)
    out: dict[str, Any] = {
        "file": pred.source if file is None else file,
        "label": pred.label,
        "confidence": float(pred.confidence),
        "uncertain": bool(pred.uncertain),
        **{prob_column(k): float(pred.probabilities[k]) for k in labels},
        "duration": float(pred.duration),
        "reliability": float(pred.reliability),
        "adapted": bool(pred.adapted),
        "profile_clips": float(pred.profile_clips),
        "unadapted_label": unadapted,
        "warnings": "; ".join(pred.warnings),
        "error": "",
    }
    if nested:
        out["timeline"] = [asdict(s) for s in pred.timeline]
        out["unadapted"] = dict(pred.unadapted) if pred.unadapted else None
    return out


def error_row(file: str, exc: BaseException | str, labels: Sequence[str], *, nested: bool = False) -> dict[str, Any]:
    """The row of a file that could not be analysed: its reason in ``error``, every prediction cell ``None``."""
    out: dict[str, Any] = dict.fromkeys(columns(labels))
    out.update(file=str(file), warnings="", error=exc if isinstance(exc, str) else error_text(exc))
    if nested:
        out.update(timeline=[], unadapted=None)
    return out


def result_row(file: str, result: Prediction | BaseException, labels: Sequence[str], *,
               nested: bool = False) -> dict[str, Any]:
    """:func:`row` or :func:`error_row`, whichever ``result`` (what ``Predictor.predict_many`` yields) calls for."""
    if isinstance(result, BaseException):
        return error_row(file, result, labels, nested=nested)
    return row(result, labels, file=file, nested=nested)


def frame(rows: Iterable[dict[str, Any]], labels: Sequence[str]) -> pd.DataFrame:
    """The rows as a DataFrame with exactly :func:`columns` (failed files' cells are NaN/None)."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=columns(labels))


def csv_text(rows: Iterable[dict[str, Any]], labels: Sequence[str]) -> str:
    """The rows as CSV text with a header; ``None`` is an empty cell, floats keep full precision."""
    cols = columns(labels)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    w.writerows([r.get(c) for c in cols] for r in rows)
    return buf.getvalue()


def arrow_schema(labels: Sequence[str]) -> pa.Schema:
    """The Parquet/Arrow schema of the rows (every column nullable: failed files leave cells empty)."""
    import pyarrow as pa

    def kind(c: str) -> pa.DataType:
        return pa.string() if c in _STRING else pa.bool_() if c in _BOOL else pa.float64()

    return pa.schema([pa.field(c, kind(c)) for c in columns(labels)])


def arrow_table(rows: Sequence[dict[str, Any]], labels: Sequence[str]) -> pa.Table:
    """The rows as a pyarrow Table with :func:`arrow_schema` (stable types even when every row failed)."""
    import pyarrow as pa

    schema = arrow_schema(labels)
    return pa.Table.from_pydict({c: [r.get(c) for r in rows] for c in schema.names}, schema=schema)


def write_parquet(rows: Sequence[dict[str, Any]], path: str | Path, labels: Sequence[str]) -> None:
    """Write the rows as one Parquet file, atomically (a temp file beside ``path``, then renamed)."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(arrow_table(rows, labels), tmp)


__all__ = ["HEAD", "TAIL", "arrow_schema", "arrow_table", "columns", "csv_text", "error_row", "error_text",
           "frame", "prob_column", "result_row", "row", "write_parquet"]
