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

:func:`batch_rows` predicts a list of encoded files into such a frame (the app's Batch page), bad files
included; :func:`blank_text` and :func:`frame_csv` prepare it for showing and downloading.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SERError
from .fileio import atomic_path

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    import pyarrow as pa

    from .predict import Prediction, Predictor

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


def batch_rows(predictor: Predictor, files: Sequence[tuple[str, bytes]],
               progress: Callable[[int, int, str], object] | None = None, *,
               one_speaker: bool = False) -> pd.DataFrame:
    """Predict each ``(name, encoded bytes)``: one :func:`row` per file, as a :func:`frame` (bad files never
    stop the batch: their reason is in ``error``, their prediction cells are empty). ``progress(i, n,
    name)`` is called after each file.

    ``one_speaker``: the files are one speaker's, in this order: one running voice profile goes through
    the batch, each file adapted to the files before it (the first one is not), and ``unadapted_label``
    gives the general model's answer. Needs a model that can adapt.
    """
    profile = predictor.new_profile("batch") if one_speaker else None
    rows = []
    n = len(files)
    for i, (name, data) in enumerate(files):
        try:
            rows.append(row(predictor.predict_file(data, name=name, profile=profile), predictor.labels, file=name))
        except SERError as err:
            rows.append(error_row(name, err, predictor.labels))
        if progress is not None:
            progress(i + 1, n, name)
    return frame(rows, predictor.labels)


#: Text columns of a results table that read better empty than "None".
TEXT_COLUMNS = ("file", "label", "error", "warnings", "unadapted_label")


def blank_text(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of a results frame whose missing text cells (:data:`TEXT_COLUMNS`) are ``""`` instead of
    ``None``/NaN (for showing it); missing numbers stay missing."""
    out = df.copy()
    for c in TEXT_COLUMNS:
        if c in out.columns:
            out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str)
    return out


def frame_csv(df: pd.DataFrame) -> bytes:
    """A results frame as UTF-8 CSV bytes with a header and no index (what the Batch page downloads)."""
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


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


__all__ = ["HEAD", "TAIL", "TEXT_COLUMNS", "arrow_schema", "arrow_table", "batch_rows", "blank_text", "columns",
           "csv_text", "error_row", "error_text", "frame", "frame_csv", "prob_column", "result_row", "row",
           "write_parquet"]
