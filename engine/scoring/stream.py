"""Batch scoring of a file (or stdin) in chunks, so memory stays bounded whatever the file size.

Parquet is read one slice at a time (slices map onto row groups); CSV and JSON Lines are read in batches.
File outputs are written by a polars sink fed from a generator, into a temp file renamed at the end, so a
failed run leaves no half-written output.
"""

from __future__ import annotations

import gzip
import io
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.infra.frame_writer import sink_frames
from engine.infra.prefetch import read_ahead
from engine.scoring import FORMATS
from engine.scoring.model import ScoringModel, load_model
from engine.workspace import Workspace

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
STDIO = "-"
SCORE_COLUMN = "score"
ROW_COLUMN = "row_number"
FLOAT32_MAX = float(np.finfo(np.float32).max)
ON_INVALID = ("null", "missing", "fail")


@dataclass
class _InvalidInputs:
    """Numeric inputs a model cannot take (+-inf, beyond float32's range), found per chunk by one select."""

    columns: list[str]
    policy: str
    rows: int = 0
    by_column: dict[str, int] | None = None

    def apply(
        self, chunk: pl.DataFrame, first_row: int, source: str
    ) -> tuple[pl.DataFrame, np.ndarray | None]:
        """chunk with invalid values nulled (policies null/missing) and the mask of rows whose score is null."""
        if not self.columns:
            return chunk, None
        flags = chunk.select(
            ((pl.col(name).is_infinite() | (pl.col(name).abs() > FLOAT32_MAX)).fill_null(False)).alias(name)
            for name in self.columns
        )
        counts = flags.sum().row(0)
        if not any(counts):
            return chunk, None
        bad = flags.select(pl.any_horizontal(pl.all())).to_series()
        if self.policy == "fail":
            column = next(name for name, count in zip(self.columns, counts, strict=True) if count)
            row = int(flags.get_column(column).arg_true()[0])
            value = chunk.get_column(column)[row]
            raise InputError(
                f"{source}: row {first_row + row + 1}: column {column!r} is {value!r}, not a finite float32 "
                f"({sum(counts)} such value(s) in this chunk); fix the file, or pass --on-invalid null|missing"
            )
        self.by_column = self.by_column or {}
        for name, count in zip(self.columns, counts, strict=True):
            if count:
                self.by_column[name] = self.by_column.get(name, 0) + int(count)
        self.rows += int(bad.sum())
        cleaned = chunk.with_columns(
            pl.when(flags.get_column(name)).then(None).otherwise(pl.col(name)).alias(name)
            for name, count in zip(self.columns, counts, strict=True)
            if count
        )
        return cleaned, (bad.to_numpy() if self.policy == "null" else None)


def detect_format(path: str | Path, given: str | None = None) -> str:
    """The format named by --format, else by the file suffix (a trailing .gz is ignored)."""
    if given:
        if given not in FORMATS:
            raise InputError(f"unknown format {given!r}; use one of {', '.join(FORMATS)}")
        return given
    suffixes = [suffix.lower() for suffix in Path(str(path)).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputError(f"{path}: cannot tell the format from the name; pass --format {'|'.join(FORMATS)}")
    return fmt


def _sniff(payload: bytes) -> str:
    if payload[:4] == b"PAR1":
        return "parquet"
    return "jsonl" if payload.lstrip()[:1] == b"{" else "csv"


@dataclass
class _Source:
    """Where the rows come from: its name, format, schema and a chunk iterator."""

    name: str
    fmt: str
    schema: dict[str, pl.DataType]
    chunks: Callable[[list[str]], Iterator[pl.DataFrame]]


def _overrides(model: ScoringModel, columns: list[str]) -> dict[str, pl.DataType]:
    present = set(columns)
    return {
        item.column: (pl.String() if item.is_string else pl.Float64())
        for item in model.inputs
        if item.column in present
    }


def _open_source(model: ScoringModel, path: str, fmt: str | None, chunk_rows: int) -> _Source:
    if path == STDIO:
        payload = sys.stdin.buffer.read()
        if not payload.strip():
            raise InputError("stdin is empty; pipe a Parquet, CSV or JSON Lines file into `shopctl score`")
        return _memory_source(model, "stdin", payload, fmt or _sniff(payload), chunk_rows)
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such file; check the path passed to --input")
    if file.stat().st_size == 0:
        raise InputError(f"{file}: the file is empty; nothing to score")
    try:
        fmt = detect_format(file, fmt)
    except InputError:  # an unusual suffix: the first bytes tell Parquet, JSON Lines and CSV apart
        with open(file, "rb") as handle:
            fmt = _sniff(handle.read(64))
    if file.suffix.lower() == ".gz":
        return _memory_source(model, str(file), gzip.decompress(file.read_bytes()), fmt, chunk_rows)
    if fmt == "parquet":
        lazy = pl.scan_parquet(file)
        schema = dict(_schema(lazy, str(file)))

        def parquet_chunks(columns: list[str]) -> Iterator[pl.DataFrame]:
            total = lazy.select(pl.len()).collect().item()
            for offset in range(0, total, chunk_rows):
                yield lazy.slice(offset, chunk_rows).select(columns).collect()

        return _Source(str(file), fmt, schema, parquet_chunks)
    if fmt == "csv":
        header = _schema(pl.scan_csv(file, infer_schema_length=0), str(file)).names()
        lazy = pl.scan_csv(file, schema_overrides=_overrides(model, header), infer_schema_length=10_000)
    else:
        lazy = pl.scan_ndjson(file, infer_schema_length=10_000)
        lazy = lazy.with_columns(
            pl.col(name).cast(dtype)
            for name, dtype in _overrides(model, _schema(lazy, str(file)).names()).items()
        )
    schema = dict(_schema(lazy, str(file)))

    def batched_chunks(columns: list[str]) -> Iterator[pl.DataFrame]:
        yield from lazy.select(columns).collect_batches(chunk_size=chunk_rows)

    return _Source(str(file), fmt, schema, batched_chunks)


def _memory_source(model: ScoringModel, name: str, payload: bytes, fmt: str, chunk_rows: int) -> _Source:
    buffer = io.BytesIO(payload)
    try:
        if fmt == "parquet":
            frame = pl.read_parquet(buffer)
        elif fmt == "csv":
            header = pl.read_csv(io.BytesIO(payload), n_rows=0, infer_schema_length=0).columns
            frame = pl.read_csv(
                buffer, schema_overrides=_overrides(model, header), infer_schema_length=10_000
            )
        else:
            frame = pl.read_ndjson(buffer, infer_schema_length=10_000)
            frame = frame.with_columns(
                pl.col(column).cast(dtype) for column, dtype in _overrides(model, frame.columns).items()
            )
    except pl.exceptions.PolarsError as error:
        raise InputError(f"{name}: cannot read as {fmt}: {_first_line(error)}") from None

    def memory_chunks(columns: list[str]) -> Iterator[pl.DataFrame]:
        yield from frame.select(columns).iter_slices(chunk_rows)

    return _Source(name, fmt, dict(frame.schema), memory_chunks)


MIN_PART_ROWS = 8_192  # below this, cutting a chunk for parallel scoring costs more than it saves


def split_chunk(chunk: pl.DataFrame, parts: int) -> list[pl.DataFrame]:
    """Cut a chunk into up to `parts` contiguous slices of at least MIN_PART_ROWS rows (zero-copy views)."""
    parts = max(1, min(parts, chunk.height // MIN_PART_ROWS))
    size = -(-chunk.height // parts)
    return [chunk.slice(offset, size) for offset in range(0, chunk.height, size)]


def _schema(lazy: pl.LazyFrame, name: str) -> pl.Schema:
    try:
        return lazy.collect_schema()
    except pl.exceptions.PolarsError as error:
        raise InputError(f"{name}: cannot read: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def score_file(
    workspace: Workspace,
    name: str,
    input: str | Path,  # noqa: A002 - the documented keyword
    output: str | Path,
    fmt: str | None = None,
    version: int | None = None,
    *,
    chunk_rows: int | None = None,
    keep: list[str] | None = None,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_invalid: str | None = None,
) -> dict[str, Any]:
    """Score a Parquet/CSV/JSON Lines file (or "-" for stdin) into output (or "-" for stdout), in chunks.

    on_invalid (default `[scoring] on_invalid`) says what a numeric input of +-inf or beyond float32's range
    does: "null" writes a null score for its row, "missing" scores it as a missing value, "fail" refuses the run.
    """
    started = time.perf_counter()
    if fmt is not None and fmt not in FORMATS:  # before the model loads or stdin is read
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    policy = on_invalid or workspace.settings.scoring.on_invalid
    if policy not in ON_INVALID:
        raise InputError(f"--on-invalid {policy!r}: use one of {', '.join(ON_INVALID)}")
    chunk_rows = int(chunk_rows or workspace.settings.scoring.chunk_rows)
    workers = max(1, int(threads or workspace.settings.scoring.threads))
    # Data parallel: each chunk is cut into `workers` parts run at once on one session with one onnxruntime
    # thread each (onnxruntime releases the GIL). Tree ensembles run 1.3x faster this way than on onnxruntime's
    # own intra-op threads, which synchronise inside the kernel (docs/scoring.md).
    model = load_model(workspace, name, version, threads=1)
    # stdin has no name to read a format from: --format then names the input format too (else it is sniffed).
    source = _open_source(model, str(input), fmt if str(input) == STDIO else None, chunk_rows)
    model.check_schema(source.schema, source.name)
    required = [str(column) for column in model.metadata.get("required_columns") or ()]
    absent = [column for column in required if column not in source.schema]
    if absent:  # e.g. an order-risk score is useless without the order it belongs to
        raise InputError(
            f"{source.name}: no column {', '.join(map(repr, absent))}; model {model.label} keeps it beside "
            "each score (build the table with `shopctl features build`)"
        )
    keep = list(keep) if keep is not None else _id_columns(model, source.schema)
    unknown = [column for column in keep if column not in source.schema]
    if unknown:
        raise InputError(f"{source.name}: no column {', '.join(map(repr, unknown))} to keep; check --keep")
    out_fmt = fmt or (detect_format(output) if str(output) != STDIO else source.fmt)
    needed = list(dict.fromkeys([*keep, *model.feature_names]))
    out_schema: dict[str, Any] = {column: source.schema[column] for column in keep}
    if not keep:
        out_schema[ROW_COLUMN] = pl.Int64
    out_schema.update({SCORE_COLUMN: pl.Float64, "model": pl.String, "model_version": pl.Int32})
    counts = {"rows": 0, "chunks": 0, "nan_scores": 0}
    float_inputs = [
        item.column
        for item in model.inputs
        if not item.is_string and source.schema[item.column] in (pl.Float32, pl.Float64)
    ]
    invalid = _InvalidInputs(float_inputs, policy)
    model_seconds = [0.0]  # time spent building feeds and running the session, to tell model cost from I/O

    def score_part(part: pl.DataFrame) -> np.ndarray:
        return model.run(model.feeds_from_frame(part, source.name))

    def scored_chunks() -> Iterator[pl.DataFrame]:
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shopctl-score") as pool:
                yield from scored_with(pool)
        except pl.exceptions.PolarsError as error:
            raise InputError(f"{source.name}: cannot read: {_first_line(error)}") from None

    def scored_with(pool: ThreadPoolExecutor) -> Iterator[pl.DataFrame]:
        for chunk in read_ahead(source.chunks(needed)):
            if chunk.height == 0:
                continue
            model_started = time.perf_counter()
            features, null_rows = invalid.apply(chunk, counts["rows"], source.name)
            parts = split_chunk(features, workers)
            scores = (
                score_part(features) if len(parts) == 1 else np.concatenate(list(pool.map(score_part, parts)))
            )
            model_seconds[0] += time.perf_counter() - model_started
            nan = np.isnan(scores)
            counts["nan_scores"] += int(nan.sum()) - (
                int((nan & null_rows).sum()) if null_rows is not None else 0
            )
            score_series = pl.Series(SCORE_COLUMN, scores)
            if null_rows is not None or nan.any():
                hidden = nan if null_rows is None else (nan | null_rows)
                score_series = score_series.scatter(np.flatnonzero(hidden), None)
            kept = (
                chunk.select(keep)
                if keep
                else pl.DataFrame(
                    {ROW_COLUMN: pl.int_range(counts["rows"], counts["rows"] + chunk.height, eager=True)}
                )
            )
            yield kept.with_columns(
                score_series,
                pl.lit(model.name, dtype=pl.String).alias("model"),
                pl.lit(model.version, dtype=pl.Int32).alias("model_version"),
            )
            counts["rows"] += chunk.height
            counts["chunks"] += 1
            if progress is not None:
                progress(chunk.height)
        if counts["rows"] == 0:
            raise InputError(f"{source.name}: has no rows; nothing was scored")

    if str(output) == STDIO:
        _write_stdout(scored_chunks(), out_fmt, out_schema)
    else:
        _write_file(scored_chunks(), Path(output), out_fmt, out_schema)
    seconds = time.perf_counter() - started
    return {
        "rows": counts["rows"],
        "seconds": round(seconds, 4),
        "rows_per_second": round(counts["rows"] / seconds) if seconds > 0 else None,
        "model_seconds": round(model_seconds[0], 4),
        "model": model.name,
        "version": model.version,
        "input": source.name,
        "output": "stdout" if str(output) == STDIO else str(output),
        "format": out_fmt,
        "chunks": counts["chunks"],
        "columns": list(out_schema),
        "on_invalid": policy,
        "invalid_rows": invalid.rows,
        "invalid_by_column": invalid.by_column or {},
        "nan_scores": counts["nan_scores"],
        "null_scores": counts["nan_scores"] + (invalid.rows if policy == "null" else 0),
    }


def _id_columns(model: ScoringModel, schema: dict[str, pl.DataType]) -> list[str]:
    ids = model.spec.id_columns if model.spec else ()
    return [column for column in ids if column in schema]


def _write_file(chunks: Iterator[pl.DataFrame], target: Path, fmt: str, schema: dict[str, Any]) -> None:
    if not target.parent.exists():
        raise InputError(f"{target.parent}: no such folder for --output; create it first")
    sink_frames(chunks, schema, target, fmt)


def _write_stdout(chunks: Iterator[pl.DataFrame], fmt: str, schema: dict[str, Any]) -> None:
    stream = sys.stdout.buffer
    if fmt == "parquet":
        frames = list(chunks)
        frame = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        stream.write(buffer.getvalue())
    else:
        for index, frame in enumerate(chunks):
            if fmt == "csv":
                frame.write_csv(stream, include_header=index == 0)
            else:
                frame.write_ndjson(stream)
    stream.flush()
