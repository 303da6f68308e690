"""Batch inference on Ray Data: score an archive of audio files on this machine's cores or on a Ray cluster.

    ser predict DIR_OR_GLOB... --engine ray --out results.parquet [--address ADDR] [--workers N] [--resume]

The pipeline, as Ray's batch-inference guide lays it out:

1. **listing** — one read task of a small custom datasource walks the inputs lazily (:func:`iter_audio_files`:
   folders recursively, glob patterns, plain files) and emits blocks of paths, so the driver never holds the
   archive's file list;
2. **scoring** — ``map_batches`` with a stateful callable class: each worker (a Ray actor, one CPU) loads the
   bundle once into one :class:`~ser.predict.Predictor` and reads and predicts its files itself
   (``predict_file``: long recordings are streamed window by window); a file that cannot be analysed
   becomes an error row and never stops the job;
3. **output** — rows in the schema of :mod:`ser.results` reach the driver as they finish and are committed
   to a hidden parts folder beside the output (``.NAME.parts/``) every few thousand rows, then merged into
   one Parquet file written atomically (temp file + rename). ``resume`` skips every file already in the
   output or in the parts an interrupted run left, and the merge keeps the old rows.

Ray (``pip install 'ser[ray]'``) is imported only when a job runs. Paths (audio and model bundle) must be
readable at the same path on every node of a cluster (a shared filesystem).
"""

from __future__ import annotations

import glob
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import results
from .errors import SERError
from .fileio import atomic_path

#: Paths per block the listing emits (and files per ``map_batches`` call): small blocks balance the workers.
BLOCK_ROWS = 64
#: Rows the driver gathers before committing a part file (what an interrupted run can lose at most).
PART_ROWS = 2048
#: Object store of the local Ray a run starts for itself: the job moves only paths and result rows.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
INSTALL_HINT = "pip install 'ser[ray]' (ray[data] and pyarrow)"
_GLOB_CHARS = frozenset("*?[")


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise SERError(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


# -- listing -----------------------------------------------------------------------------------------


def _walk(folder: str) -> Iterator[str]:
    """Audio files under ``folder`` (recursive, sorted per folder; hidden entries and ``__MACOSX`` skipped)."""
    from .corpora import AUDIO_EXTENSIONS

    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                yield os.path.join(dirpath, name)


def iter_audio_files(inputs: Iterable[str | Path]) -> Iterator[str]:
    """The files ``inputs`` name, lazily and each once: a folder gives its audio files (recursively, by
    extension), a glob pattern (``*``, ``?``, ``[``; ``**`` recurses) its matches (folders walked), anything
    else itself as given, existing or not (so a missing file becomes an error row, not a silent gap)."""
    seen: set[str] = set()
    for item in inputs:
        item = str(item)
        if os.path.isdir(item):
            found: Iterable[str] = _walk(item)
        elif _GLOB_CHARS & set(item) and not os.path.exists(item):
            matches = glob.iglob(item, recursive=True)
            found = (f for m in matches for f in (_walk(m) if os.path.isdir(m) else (m,)))
            first = next(found, None)
            found = [item] if first is None else _chain(first, found)  # no match: one "not found" row
        else:
            found = (item,)
        for f in found:
            if f not in seen:
                seen.add(f)
                yield f


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    """``first``, then the rest (what a glob gave after the match that proved it matched something)."""
    yield first
    yield from rest


def _path_blocks(inputs: Sequence[str], skip: frozenset[str], rows: int) -> Iterator[Any]:
    """pyarrow tables of ``rows`` paths each (column ``path``) over the inputs, minus ``skip``."""
    import pyarrow as pa

    batch: list[str] = []
    for f in iter_audio_files(inputs):
        if f in skip:
            continue
        batch.append(f)
        if len(batch) == rows:
            yield pa.table({"path": pa.array(batch, pa.string())})
            batch = []
    if batch:
        yield pa.table({"path": pa.array(batch, pa.string())})


def _path_dataset(ray, inputs: Sequence[str], skip: frozenset[str], rows: int):
    """A Ray Dataset of the input paths, listed lazily by one read task (see the module docstring)."""
    import pyarrow as pa
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class AudioPaths(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:
            meta = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
            return [ReadTask(lambda: _path_blocks(inputs, skip, rows), meta, schema=pa.schema([("path", pa.string())]),
                             per_task_row_limit=per_task_row_limit)]

        def get_name(self) -> str:
            return "AudioPaths"

    # The listing is I/O-light: it takes no CPU from the scoring workers. Ray would coalesce its tiny path
    # tables into blocks of up to 128 MiB (all on one worker) and a repartition step would need a CPU the
    # workers hold, so this dataset (which copies the current DataContext) aims at blocks of about ``rows``
    # paths (~64 bytes each) instead; its result blocks are small as well, which costs nothing here.
    ctx = ray.data.DataContext.get_current()
    before = ctx.target_max_block_size
    ctx.target_max_block_size = rows * 64
    try:
        return ray.data.read_datasource(AudioPaths(), num_cpus=0, override_num_blocks=1)
    finally:
        ctx.target_max_block_size = before


# -- scoring -----------------------------------------------------------------------------------------


class Scorer:
    """The ``map_batches`` callable: one :class:`~ser.predict.Predictor` per worker, built once.

    Called with a pyarrow batch of paths (column ``path``), returns the batch's :mod:`ser.results` rows as a
    pyarrow table of :func:`ser.results.arrow_schema`. No exception leaves it: a file that fails is a row.
    """

    def __init__(self, model: str | None, threshold: float | None, labels: Sequence[str], cwd: str = "") -> None:
        from . import whisper
        from .predict import Predictor

        whisper.use_threads(1)  # Ray runs one scorer per core: an encoder call on 2 threads would oversubscribe them
        self.predictor = Predictor(model, threshold=threshold)
        self.labels = tuple(labels)
        self.cwd = cwd  # the driver's folder: relative inputs are read from there, reported as given
        if tuple(self.predictor.labels) != self.labels:
            raise SERError(f"the bundle on this worker has labels {self.predictor.labels}, the driver's {self.labels}: "
                           "give every node the same model bundle")

    def score(self, path: str) -> dict[str, Any]:
        """The row of one file (never raises)."""
        try:
            return results.row(self.predictor.predict_file(os.path.join(self.cwd, path)), self.labels, file=path)
        except SERError as exc:
            return results.error_row(path, exc, self.labels)
        except Exception as exc:  # noqa: BLE001 - a bad file never stops the job: it says what went wrong
            return results.error_row(path, f"unexpected error: {type(exc).__name__}: {exc}", self.labels)

    def __call__(self, batch):
        return results.arrow_table([self.score(p) for p in batch.column("path").to_pylist()], self.labels)


# -- output --------------------------------------------------------------------------------------------


def parts_dir(out: str | Path) -> Path:
    """The hidden folder beside ``out`` where a run commits its rows before the final merge."""
    out = Path(out)
    return out.parent / f".{out.name}.parts"


def _write_atomic(table, path: Path) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _sources(out: Path, *, resume: bool) -> list[Path]:
    """The Parquet files whose rows the final output keeps: the old output and leftover parts (``resume``)."""
    if not resume:
        return []
    parts = sorted(parts_dir(out).glob("part-*.parquet")) if parts_dir(out).is_dir() else []
    return ([out] if out.exists() else []) + parts


def _done_files(sources: Sequence[Path], labels: Sequence[str]) -> frozenset[str]:
    """Files already scored in ``sources``; checks that their columns are this model's."""
    import pyarrow.parquet as pq

    want = results.columns(labels)
    done: set[str] = set()
    for src in sources:
        try:
            names = pq.read_schema(src).names
            files = pq.read_table(src, columns=["file"]).column("file").to_pylist()
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
            raise SERError(f"cannot resume from {src}: not a readable Parquet file ({exc})") from None
        if names != want:
            raise SERError(f"cannot resume: {src} has other columns than this model's results (another model?); "
                           "write to a new --out")
        done.update(files)
    return frozenset(done)


def _merge(out: Path, sources: Sequence[Path], labels: Sequence[str]) -> int:
    """Stream every row group of ``sources`` into one Parquet file at ``out`` (temp + rename); returns rows."""
    import pyarrow.parquet as pq

    schema = results.arrow_schema(labels)
    seen: set[str] = set()
    n = 0
    with atomic_path(out) as tmp:
        with pq.ParquetWriter(tmp, schema) as writer:
            for src in sources:
                pf = pq.ParquetFile(src)
                for i in range(pf.num_row_groups):
                    table = pf.read_row_group(i).cast(schema)
                    files = table.column("file").to_pylist()
                    keep = [f not in seen for f in files]  # a file scored twice (a resumed part) is kept once
                    seen.update(files)
                    if not all(keep):
                        import pyarrow as pa

                        table = table.filter(pa.array(keep))
                    writer.write_table(table)
                    n += table.num_rows
    return n


@dataclass
class Summary:
    """What a run did: ``rows`` in the output, ``scored`` / ``failed`` this run, ``kept`` from before (resume)."""

    out: Path
    rows: int = 0
    scored: int = 0
    failed: int = 0
    kept: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # the first few (file, reason) of this run


def _init_ray(ray, *, address: str | None, workers: int | None, object_store_memory: int | None) -> bool:
    """Connect to ``address`` or start a local Ray; ``False`` when Ray was already initialised by the caller."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address)
    else:  # "local": a new instance even if another Ray runs here; no runtime_env, so the workers Ray
        # prestarts (with this process's environment) are used at once
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=object_store_memory or LOCAL_OBJECT_STORE_BYTES)
    return True


def predict_to_parquet(inputs: Sequence[str | Path], out: str | Path, *, model: str | Path | None = None,
                       threshold: float | None = None, address: str | None = None, workers: int | None = None,
                       resume: bool = False, object_store_memory: int | None = None,
                       block_rows: int = BLOCK_ROWS, part_rows: int = PART_ROWS, max_errors: int = 10,
                       on_rows: Callable[[int], None] | None = None) -> Summary:
    """Score every audio file ``inputs`` name (folders, globs, files) on Ray and write one Parquet file.

    ``address``: an existing cluster (``auto``, ``HOST:6379``, ``ray://HOST:10001``); default a local Ray
    started for the run with ``workers`` CPUs (default all) and ``object_store_memory`` bytes. A caller that
    has already called ``ray.init`` keeps its Ray (not shut down here). ``workers``: scoring actors (default:
    the cluster's CPU count). ``resume``: skip files already in ``out`` (or in an interrupted run's parts)
    and keep their rows. ``on_rows(n)``: called on the driver as each batch of ``n`` rows comes back.
    Raises :class:`SERError` for a bad bundle, a missing Ray or an output that cannot be resumed; a bad
    audio file is an error row.
    """
    from .predict import Predictor

    ray = _ray()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    inputs = [str(i) for i in inputs]
    driver = Predictor(model, threshold=threshold)  # a broken bundle fails here, once, not in every worker
    labels = tuple(driver.labels)
    model_dir = str(Path(driver.bundle.path).resolve())
    del driver
    parts = parts_dir(out)
    old = _sources(out, resume=resume)
    done = _done_files(old, labels)
    if not resume:
        shutil.rmtree(parts, ignore_errors=True)  # a fresh run: an earlier run's leftovers are not kept
    parts.mkdir(exist_ok=True)
    summary = Summary(out=out)
    new_parts: list[Path] = []
    pending: list[Any] = []
    first_part = 1 + max((int(p.stem[5:]) for p in parts.glob("part-*.parquet") if p.stem[5:].isdigit()), default=-1)

    def commit() -> None:
        if pending:
            import pyarrow as pa

            path = parts / f"part-{first_part + len(new_parts):06d}.parquet"
            _write_atomic(pa.concat_tables(pending), path)
            new_parts.append(path)
            pending.clear()

    started = _init_ray(ray, address=address, workers=workers, object_store_memory=object_store_memory)
    try:
        n_workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ds = _path_dataset(ray, inputs, done, block_rows).map_batches(
            Scorer, fn_constructor_kwargs={"model": model_dir, "threshold": threshold, "labels": labels,
                                           "cwd": os.getcwd()},
            batch_format="pyarrow", batch_size=block_rows, compute=ray.data.ActorPoolStrategy(size=n_workers),
            num_cpus=1)
        with warnings.catch_warnings():  # one read task feeds every worker, in blocks: not a lack of inputs
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
            for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
                pending.append(table)
                summary.scored += table.num_rows
                for f, e in zip(table.column("file").to_pylist(), table.column("error").to_pylist(), strict=True):
                    if e:
                        summary.failed += 1
                        if len(summary.errors) < max_errors:
                            summary.errors.append((f, e))
                if on_rows is not None:
                    on_rows(table.num_rows)
                if sum(t.num_rows for t in pending) >= part_rows:
                    commit()
        commit()
        summary.rows = _merge(out, [*old, *new_parts], labels)
        summary.kept = summary.rows - summary.scored
        shutil.rmtree(parts, ignore_errors=True)
    except BaseException:
        commit()  # what finished is kept for --resume (Ctrl-C, a lost cluster ...)
        raise
    finally:
        if started:
            ray.shutdown()
    return summary


__all__ = ["BLOCK_ROWS", "INSTALL_HINT", "Scorer", "Summary", "iter_audio_files", "parts_dir", "predict_to_parquet"]
