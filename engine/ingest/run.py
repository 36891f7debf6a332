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
from engine.faults import fault_point
from engine.ingest.history import (
    LAST_INGEST_KEY,
    clean_staged,
    commit_ingest,
    read_ingests,
    recover_log,
    stage_ingest,
)
from engine.ingest.mapping import MappedFile, map_file
from engine.ingest.options import IngestOptions, IngestPlan, resolve_plan
from engine.ingest.privacy import hash_key
from engine.ingest.quarantine import clean_orphans, combine, reason_counts, write_quarantine
from engine.ingest.readers import SourceFile, display_path
from engine.ingest.sessionize import assign_sessions, previous_sessions
from engine.ingest.timeparse import suggest_time_format
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


def source_warnings(mapped: MappedFile, plan: IngestPlan) -> list[str]:
    """What the reader had to guess about a file, one line each: encoding, duplicate columns, time layout."""
    source = mapped.source
    found = encoding_warnings(source)
    for name, count in source.duplicate_columns.items():
        found.append(
            f"{source.shown}: the header names column {name!r} {count} times; the first one is read, the others "
            "are ignored (rename them in the export to keep them)"
        )
    hint = _time_format_hint(mapped, plan)
    if hint:
        found.append(hint)
    return found


def _time_format_hint(mapped: MappedFile, plan: IngestPlan) -> str | None:
    """When event_time values did not parse, the layout they are in and the --time-format that reads them."""
    quarantine = mapped.quarantine
    columns = mapped.columns_used.get("event_time") or []
    if plan.time_format or quarantine.is_empty() or "_reason" not in quarantine.columns or not columns:
        return None
    unparsed = quarantine.filter(pl.col("_reason") == "unparseable event_time")
    if unparsed.is_empty() or columns[0] not in unparsed.columns:
        return None
    suggestion = suggest_time_format(unparsed[columns[0]])
    example = unparsed[columns[0]].drop_nulls().head(1).to_list()
    where = f"{mapped.source.shown}: {unparsed.height:,} row(s) quarantined with an event_time like {example[0]!r}"
    if suggestion is None:
        return f"{where} that is not ISO 8601 or epoch; pass --time-format with its strftime layout"
    layout, ambiguous = suggestion
    if ambiguous:
        return (
            f"{where}; they read as {layout!r} but also month-first or day-first: check, then re-run with "
            f"--time-format '{layout}' (or the other order)"
        )
    return f"{where}; they read as {layout!r}: re-run with --time-format '{layout}' to store them"


def encoding_warnings(source: SourceFile) -> list[str]:
    """What the reader had to guess or replace about a file's text encoding, one line each."""
    found = []
    if source.encoding_detected:
        found.append(
            f"{source.shown}: not UTF-8; read as {source.encoding} (Windows Latin-1); pass --encoding if it is "
            "another one"
        )
    rows = source.replaced.get("rows", 0)
    if rows:
        found.append(
            f"{source.shown}: {rows:,} row(s) held bytes that are not {source.encoding} text, stored as U+FFFD "
            f"(first at line {source.replaced.get('first_line')}); pass --encoding (e.g. cp1252, latin-1) to "
            "read them as written"
        )
    return found


def _file_report(mapped: MappedFile) -> dict[str, Any]:
    source = mapped.source
    return {
        "path": source.shown,
        "format": source.format,
        "encoding": source.encoding,
        "replaced_rows": source.replaced.get("rows", 0),
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
        progress(f"reading {display_path(path)}")
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
        f"{mapped.source.shown}: no column for dimension {', '.join(mapped.missing_dimensions)} (left empty)"
        for mapped in mapped_files
        if mapped.missing_dimensions
    ] + [warning for mapped in mapped_files for warning in source_warnings(mapped, plan)]
    report("committing")
    with workspace_lock(ws, INGEST_LOCK, purpose=f"ingest {ingest_id}"):
        recover_log(ws)
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
            record = _log_record(result)
            staged_log = stage_ingest(ws, record)
            if staged.manifest is not None:
                # Write-ahead: the manifest (the commit point) carries its log line, so a crash before the log
                # is renamed into place is repaired by the next ingest (recover_log) instead of losing the line
                # and, with it, this ingest's quarantine file.
                staged.manifest[LAST_INGEST_KEY] = record
            publish_events(ws, staged)
            fault_point("ingest.after_manifest")
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
