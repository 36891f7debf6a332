"""The canonical event store: date-partitioned Parquet files committed by one atomic manifest.

Layout: `data/events/date=YYYY-MM-DD/part-<ingest_id>.parquet` plus `data/events/_manifest.json`, which lists
every committed file. The manifest is replaced atomically as the single commit point, so a crash mid-ingest
leaves unlisted files (orphans) that readers never see and the next commit removes.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from engine.config import EVENT_TYPES  # noqa: F401 - re-exported: the canonical event types
from engine.errors import InputError, StoreError
from engine.event_columns import EVENT_COLUMNS
from engine.infra.atomic import atomic_write_json, atomic_write_with, remove_temps
from engine.infra.locks import workspace_lock
from engine.workspace import Workspace

_NOT_STRING: dict[str, pl.DataType] = {
    "event_time": pl.Datetime("us", "UTC"),
    "price": pl.Float64(),
    "quantity": pl.Int64(),
}
EVENT_SCHEMA: dict[str, pl.DataType] = {name: _NOT_STRING.get(name, pl.String()) for name in EVENT_COLUMNS}

MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = 1
INGEST_LOCK = "ingest"


def event_schema(dimensions: Iterable[str]) -> dict[str, pl.DataType]:
    """The canonical columns followed by one String column per dimension, in order."""
    schema = dict(EVENT_SCHEMA)
    for name in dimensions:
        if name not in schema:
            schema[name] = pl.String()
    return schema


def conform(frame: pl.DataFrame | pl.LazyFrame, dimensions: Iterable[str]) -> pl.LazyFrame:
    """Select the canonical columns and dimensions with their canonical types, adding absent ones as null."""
    lazy = frame.lazy()
    present = set(lazy.collect_schema().names())
    columns = [
        (pl.col(name).cast(dtype) if name in present else pl.lit(None, dtype=dtype)).alias(name)
        for name, dtype in event_schema(dimensions).items()
    ]
    return lazy.select(columns)


def manifest_path(ws: Workspace) -> Path:
    """Where the event store's commit point lives."""
    return ws.events_dir / MANIFEST_NAME


def read_manifest(ws: Workspace) -> dict[str, Any]:
    """The committed manifest ({"version", "files": [{"path", "date", "rows", "ingest_id"}], "updated"})."""
    path = manifest_path(ws)
    if not path.exists():
        return {"version": MANIFEST_VERSION, "files": [], "updated": None}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise StoreError(
            f"{path}: event manifest unreadable ({error}); restore it from a backup or re-ingest into a new workspace"
        ) from None
    manifest.setdefault("files", [])
    return manifest


def committed_files(ws: Workspace, dates: Iterable[str] | None = None) -> list[Path]:
    """Absolute paths of the manifest-listed part files, optionally only those of the given dates."""
    wanted = set(dates) if dates is not None else None
    return [
        ws.events_dir / entry["path"]
        for entry in read_manifest(ws)["files"]
        if wanted is None or entry["date"] in wanted
    ]


def scan_files(files: list[Path], dimensions: list[str]) -> pl.LazyFrame:
    """Scan the given part files in the canonical schema plus dimensions (use scan_events for the store)."""
    if not files:
        return pl.LazyFrame(schema=event_schema(dimensions))
    # One scan over all parts: columns a part lacks (a dimension added later) come back as null.
    return pl.scan_parquet(
        files, schema=event_schema(dimensions), missing_columns="insert", extra_columns="ignore"
    )


def scan_events(ws: Workspace) -> pl.LazyFrame:
    """Every committed event in the canonical schema plus the configured dimensions (absent ones are null)."""
    dimensions = list(ws.settings.schema.dimensions)
    files = committed_files(ws)
    missing = [path for path in files if not path.exists()]
    if missing:
        raise StoreError(
            f"{missing[0]}: listed in {manifest_path(ws)} but missing ({len(missing)} part file(s) in all); "
            "restore the data/events folder from a backup"
        )
    return scan_files(files, dimensions)


def event_span(ws: Workspace) -> tuple[pl.LazyFrame, int, datetime, datetime]:
    """scan_events(ws), how many events it holds, the first and the last event time; InputError when empty."""
    events = scan_events(ws)
    span = events.select(
        pl.len().alias("rows"),
        pl.col("event_time").min().alias("first"),
        pl.col("event_time").max().alias("last"),
    ).collect()
    if span["rows"].item() == 0:
        raise InputError(
            f"{ws.events_dir}: no events yet; run `shopctl ingest FILE` (or `shopctl demo`) first"
        )
    return events, int(span["rows"].item()), span["first"].item(), span["last"].item()


def new_ingest_id() -> str:
    """A sortable, unique id for one ingest: UTC time plus random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(3).hex()


def clean_orphans(ws: Workspace) -> list[Path]:
    """Delete part files and temp files the manifest does not list (left by a crash); caller holds the lock."""
    if not ws.events_dir.exists():
        return []
    listed = {str(path) for path in committed_files(ws)}
    removed: list[Path] = []
    for folder in ws.events_dir.glob("date=*"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and str(path) not in listed:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
        with contextlib.suppress(OSError):
            folder.rmdir()  # only succeeds when empty
    removed += remove_temps(ws.events_dir, MANIFEST_NAME)
    return removed


# Stored beside the canonical columns (readers' scans ignore it): True where ingest derived the session id
# from the inactivity gap because the source row had none. The dedupe identity of such a row leaves its
# session id out, so a re-ingest whose derived ids come out differently (they depend on what the store
# already holds) still recognises the row.
DERIVED_SESSION = "_session_derived"


def identity_exprs(columns: Iterable[str]) -> list[pl.Expr]:
    """Expressions for the columns that say whether two events are the same source row: every canonical and
    dimension column, with a derived session id replaced by null (the source row had none)."""
    names = [name for name in columns if name != DERIVED_SESSION]
    if DERIVED_SESSION not in columns:
        return [pl.col(name) for name in names]
    derived = pl.col(DERIVED_SESSION).fill_null(False)
    return [
        pl.when(derived).then(pl.lit(None, dtype=pl.String)).otherwise(pl.col(name)).alias(name)
        if name == "session_id"
        else pl.col(name)
        for name in names
    ]


def identity(frame: pl.DataFrame) -> pl.DataFrame:
    """The identity columns of frame (see identity_exprs)."""
    return frame.select(identity_exprs(frame.columns))


def identity_hash(columns: Iterable[str]) -> pl.Expr:
    """The 64-bit hash of a row's identity (equal identities hash equal; a hit is confirmed exactly)."""
    return pl.struct(identity_exprs(list(columns))).hash(seed=0)


def _row_hashes(frame: pl.DataFrame) -> pl.Series:
    return frame.select(pl.struct(pl.all()).hash(seed=0)).to_series()


def drop_exact_duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    """frame without rows whose identity repeats (the first one stays); only rows whose 64-bit identity hash
    repeats are compared exactly, which avoids building a hash table of every full row."""
    keys = identity(frame)
    hashes = _row_hashes(keys)
    candidates = hashes.is_duplicated()
    if not candidates.any():
        return frame
    first = keys.filter(candidates).select(pl.struct(pl.all()).is_first_distinct()).to_series()
    keep = candidates.not_()
    keep = keep.scatter(candidates.arg_true(), first)
    return frame.filter(keep)


def anti_join_exact(new: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Rows of new whose identity matches no stored row (nulls compare equal); exact, hash-prefiltered."""
    new_keys = identity(new)
    stored_keys = identity(stored).select(new_keys.columns)
    new_hashes = _row_hashes(new_keys)
    stored_hashes = _row_hashes(stored_keys)
    maybe = new_hashes.is_in(stored_hashes.implode())
    if not maybe.any():
        return new
    matches = stored_keys.filter(stored_hashes.is_in(new_hashes.implode()))
    seen = (
        new_keys.with_row_index("__row")
        .filter(maybe)
        .join(matches, on=new_keys.columns, how="semi", nulls_equal=True)
        .get_column("__row")
    )
    return new.filter(pl.int_range(new.height, dtype=pl.UInt32, eager=True).is_in(seen.implode()).not_())


def _write_partition(path: Path, part: pl.DataFrame) -> None:
    atomic_write_with(path, lambda tmp: part.write_parquet(tmp, compression="zstd", statistics=True))


def commit_events(ws: Workspace, frame: pl.DataFrame, ingest_id: str) -> dict[str, Any]:
    """Dedupe frame against itself and the store, write one part per event date, then commit the manifest.

    Takes the workspace's ingest lock (WorkspaceBusy when another ingest holds it). Returns
    rows_in, rows_stored, rows_duplicate, partitions (dates written) and orphans_removed.
    """
    with workspace_lock(ws, INGEST_LOCK, purpose=f"ingest {ingest_id}"):
        return commit_events_locked(ws, frame, ingest_id)


def commit_events_locked(ws: Workspace, frame: pl.DataFrame, ingest_id: str) -> dict[str, Any]:
    """commit_events for a caller that already holds the ingest lock."""
    staged = stage_events_locked(ws, frame, ingest_id)
    try:
        publish_events(ws, staged)
    except BaseException:
        discard_events(staged)
        raise
    return staged.counts


@dataclass
class StagedEvents:
    """Part files written but not yet listed: publish_events makes them visible, discard_events removes them."""

    manifest: dict[str, Any] | None  # the manifest to commit; None when every row was a duplicate
    written: list[Path]
    counts: dict[str, Any]


# Rows of one event date deduped at a time; a larger date is split into slices by identity hash (duplicates
# share a hash, so they meet in one slice), which bounds memory whatever one date holds.
DAY_SLICE_ROWS = 500_000


class EventStager:
    """Stage one ingest's events date by date as unlisted parts, deduped exactly against themselves and the
    store (the caller holds the ingest lock); finish() returns what publish_events commits."""

    def __init__(self, ws: Workspace, ingest_id: str, dimensions: list[str]) -> None:
        self.ws = ws
        self.ingest_id = ingest_id
        self.dimensions = dimensions
        self.orphans = clean_orphans(ws)
        self.manifest = read_manifest(ws)
        self.files_by_date: dict[str, list[Path]] = {}
        for entry in self.manifest["files"]:
            self.files_by_date.setdefault(entry["date"], []).append(ws.events_dir / entry["path"])
        self.staged = StagedEvents(manifest=None, written=[], counts={})
        self.entries: list[dict[str, Any]] = []
        self.mine: dict[str, list[Path]] = {}  # this ingest's staged parts by date
        self.rows_in = 0
        self.rows_stored = 0

    def add_day(self, day: str, rows: pl.LazyFrame, count: int) -> None:
        """Stage the rows of one event date (canonical columns, dimensions and the derived-session marker,
        as _with_marker gives them); count is how many rows that is. A date may be added again (more of its
        rows came later): those rows are deduped against its parts staged so far too."""
        slices = max(1, -(-count // DAY_SLICE_ROWS))
        columns = rows.collect_schema().names()
        existing = self.files_by_date.get(day, []) + self.mine.get(day, [])
        try:
            for index in range(slices):
                chosen = pl.lit(True) if slices == 1 else identity_hash(columns) % slices == index
                new = rows.filter(chosen).collect()
                self.rows_in += new.height
                part = drop_exact_duplicates(new)
                if not part.get_column("event_time").is_sorted():  # time-sorted input often is already
                    part = part.sort("event_time", maintain_order=True)
                del new
                if existing and part.height:
                    # Exact-duplicate check against only the partition this date touches, and only its rows
                    # whose identity hash some new row shares (streamed: the partition is never loaded whole).
                    hashes = part.select(identity_hash(columns)).to_series()
                    stored = (
                        _scan_with_marker(existing, self.dimensions)
                        .select(columns)
                        .filter(identity_hash(columns).is_in(hashes.implode()))
                        .collect()
                    )
                    part = anti_join_exact(part, stored)
                    del stored
                if part.height == 0:
                    continue
                mine = self.mine.setdefault(day, [])
                name = (
                    f"part-{self.ingest_id}-{len(mine)}.parquet" if mine else f"part-{self.ingest_id}.parquet"
                )
                relative = f"date={day}/{name}"
                _write_partition(self.ws.events_dir / relative, part)
                self.staged.written.append(self.ws.events_dir / relative)
                mine.append(self.ws.events_dir / relative)
                self.entries.append(
                    {"path": relative, "date": day, "rows": part.height, "ingest_id": self.ingest_id}
                )
                self.rows_stored += part.height
        except BaseException:
            discard_events(self.staged)  # a full disk must not leave gigabytes of unlisted parts behind
            raise

    def finish(self) -> StagedEvents:
        """The staged parts, the manifest that lists them (None when nothing new) and the counts."""
        if self.entries:
            self.staged.manifest = {
                "version": MANIFEST_VERSION,
                "files": [*self.manifest["files"], *self.entries],
                "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        self.staged.counts = {
            "rows_in": self.rows_in,
            "rows_stored": self.rows_stored,
            "rows_duplicate": self.rows_in - self.rows_stored,
            "partitions": list(dict.fromkeys(entry["date"] for entry in self.entries)),
            "orphans_removed": len(self.orphans),
        }
        return self.staged


def event_dimensions(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The dimension columns of an event frame (those beyond the canonical ones and the marker)."""
    names = frame.collect_schema().names()
    return [name for name in names if name not in EVENT_SCHEMA and name != DERIVED_SESSION]


def stage_events_locked(ws: Workspace, frame: pl.DataFrame, ingest_id: str) -> StagedEvents:
    """Dedupe frame against itself and the store and write one unlisted part per event date (caller holds
    the ingest lock); if any write fails, the parts written so far are removed before the error propagates."""
    dimensions = event_dimensions(frame)
    if frame["event_time"].null_count():
        raise ValueError("commit_events: event_time must not be null (ingest quarantines such rows first)")
    stager = EventStager(ws, ingest_id, dimensions)
    marked = _with_marker(frame, dimensions).with_columns(__day=pl.col("event_time").dt.date())
    for (day,), rows in sorted(marked.partition_by("__day", as_dict=True).items()):
        stager.add_day(day.isoformat(), rows.drop("__day").lazy(), rows.height)
    return stager.finish()


def _with_marker(frame: pl.DataFrame, dimensions: list[str]) -> pl.DataFrame:
    """frame in the canonical schema plus dimensions, and the derived-session marker (False when absent)."""
    if DERIVED_SESSION in frame.columns:
        marker = frame.get_column(DERIVED_SESSION).cast(pl.Boolean).fill_null(False)
    else:
        marker = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    return conform(frame, dimensions).collect().with_columns(marker.alias(DERIVED_SESSION))


def _scan_with_marker(files: list[Path], dimensions: list[str]) -> pl.LazyFrame:
    """Stored parts with the derived-session marker (parts written before it existed read as False)."""
    schema = {**event_schema(dimensions), DERIVED_SESSION: pl.Boolean()}
    return pl.scan_parquet(
        files, schema=schema, missing_columns="insert", extra_columns="ignore"
    ).with_columns(pl.col(DERIVED_SESSION).fill_null(False))


def publish_events(ws: Workspace, staged: StagedEvents) -> None:
    """Commit the staged parts by replacing the manifest atomically; on failure the caller discards them."""
    if staged.manifest is not None:
        atomic_write_json(manifest_path(ws), staged.manifest)


def discard_events(staged: StagedEvents) -> None:
    """Remove the staged, never-listed part files (and their date folders when left empty)."""
    for path in staged.written:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only succeeds when empty
    staged.written = []
