"""One ingest, end to end: read and map every file, quarantine bad rows, hash ids, derive sessions, then
commit under the ingest lock (quarantine file, event partitions + manifest, log line)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from engine.errors import InputError
from engine.events import (
    DERIVED_SESSION,
    INGEST_LOCK,
    conform,
    discard_events,
    new_ingest_id,
    publish_events,
    stage_events_locked,
)
from engine.ingest.history import clean_staged, commit_ingest, read_ingests, stage_ingest
from engine.ingest.mapping import MappedFile, map_file
from engine.ingest.options import IngestOptions, IngestPlan, resolve_plan
from engine.ingest.privacy import hash_key
from engine.ingest.quarantine import clean_orphans, combine, reason_counts, write_quarantine
from engine.ingest.sessionize import assign_sessions, previous_sessions
from engine.locks import workspace_lock
from engine.workspace import Workspace

Progress = Callable[[str], None]


@dataclass
class IngestResult:
    """What one ingest did; rows_read == rows_stored + rows_quarantined + rows_duplicate."""

    ingest_id: str
    rows_read: int
    rows_stored: int
    rows_quarantined: int
    rows_duplicate: int
    quarantine_file: str | None
    quarantine_reasons: dict[str, int]
    partitions: list[str]
    files: list[dict[str, Any]]
    preset: str
    started: str
    finished: str
    seconds: float
    orphans_removed: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _file_report(mapped: MappedFile) -> dict[str, Any]:
    source = mapped.source
    return {
        "path": str(source.path),
        "format": source.format,
        "compressed": source.compressed,
        "delimiter": source.delimiter,
        "has_header": source.has_header,
        "rows_read": mapped.rows_read,
        "rows_quarantined": mapped.quarantine.height,
        "columns": {canonical: names for canonical, names in mapped.columns_used.items()},
        "missing_dimensions": mapped.missing_dimensions,
    }


def _map_all(paths: list[Path], plan: IngestPlan, key: bytes | None, progress: Progress) -> list[MappedFile]:
    mapped_files = []
    for path in paths:
        progress(f"reading {path}")
        mapped_files.append(map_file(path, plan, key))
    return mapped_files


def ingest_files(
    ws: Workspace,
    paths: Iterable[Path | str],
    options: IngestOptions | None = None,
    *,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest event files into the workspace's store; all-or-nothing across files and partitions."""
    report = progress or (lambda _message: None)
    started_clock = time.perf_counter()
    started = datetime.now(UTC)
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(path) for path in paths]
    if not paths:
        raise InputError("no input files given; pass one or more event files, e.g. shopctl ingest events.csv")
    plan = resolve_plan(ws.settings.schema, options, now=started)
    key = hash_key(ws.settings.privacy)
    mapped_files = _map_all(paths, plan, key, report)
    dimensions = list(dict.fromkeys(name for mapped in mapped_files for name in mapped.events.columns))
    events = pl.concat(
        [conform(mapped.events, dimensions) for mapped in mapped_files], how="vertical"
    ).collect()
    for mapped in mapped_files:
        mapped.events = mapped.events.clear()  # the per-file frames are in `events` now; free them
    report(f"deriving sessions for {events.height:,} rows")
    previous = previous_sessions(ws, events, plan.session_gap_minutes)
    # Mark the rows whose session id is about to be derived: their dedupe identity is the source row.
    events = events.with_columns(pl.col("session_id").is_null().alias(DERIVED_SESSION))
    events = assign_sessions(events, plan.session_gap_minutes, previous)
    quarantine = combine([mapped.quarantine for mapped in mapped_files])
    rows_read = sum(mapped.rows_read for mapped in mapped_files)
    ingest_id = new_ingest_id()
    warnings = [
        f"{mapped.source.path}: no column for dimension {', '.join(mapped.missing_dimensions)} (left empty)"
        for mapped in mapped_files
        if mapped.missing_dimensions
    ]
    report("committing")
    with workspace_lock(ws, INGEST_LOCK, purpose=f"ingest {ingest_id}"):
        clean_orphans(ws, {str(record.get("id")) for record in read_ingests(ws)})
        clean_staged(ws)
        # All-or-nothing: every write that needs disk space (parts, quarantine file, the log staged beside
        # its final name) happens before the manifest commits; a failure removes what this ingest wrote.
        staged = stage_events_locked(ws, events, ingest_id)
        quarantine_path: Path | None = None
        staged_log: Path | None = None
        try:
            quarantine_path = write_quarantine(ws, quarantine, ingest_id)
            committed = staged.counts
            finished = datetime.now(UTC)
            result = IngestResult(
                ingest_id=ingest_id,
                rows_read=rows_read,
                rows_stored=committed["rows_stored"],
                rows_quarantined=quarantine.height,
                rows_duplicate=committed["rows_duplicate"],
                quarantine_file=str(quarantine_path) if quarantine_path else None,
                quarantine_reasons=reason_counts(quarantine),
                partitions=committed["partitions"],
                files=[_file_report(mapped) for mapped in mapped_files],
                preset=plan.preset_name,
                started=started.isoformat(timespec="seconds"),
                finished=finished.isoformat(timespec="seconds"),
                seconds=round(time.perf_counter() - started_clock, 3),
                orphans_removed=committed["orphans_removed"],
                warnings=warnings,
            )
            staged_log = stage_ingest(ws, _log_record(result))
            publish_events(ws, staged)
        except BaseException:
            discard_events(staged)
            for path in (quarantine_path, staged_log):
                if path is not None:
                    path.unlink(missing_ok=True)
            raise
        commit_ingest(ws, staged_log)
    return result


def _log_record(result: IngestResult) -> dict[str, Any]:
    return {
        "id": result.ingest_id,
        "files": [entry["path"] for entry in result.files],
        "preset": result.preset,
        "rows_read": result.rows_read,
        "rows_stored": result.rows_stored,
        "rows_quarantined": result.rows_quarantined,
        "rows_duplicate": result.rows_duplicate,
        "quarantine_rate": round(result.rows_quarantined / result.rows_read, 6) if result.rows_read else 0.0,
        "quarantine_file": result.quarantine_file,
        "quarantine_reasons": result.quarantine_reasons,
        "partitions": result.partitions,
        "started": result.started,
        "finished": result.finished,
        "seconds": result.seconds,
    }
