"""One ingest, end to end, streaming: read and map each file batch by batch (quarantine, hashed ids), spill the
rows to scratch Parquet by event date (rows needing a derived session by user bucket first), then dedupe and
stage one date at a time and commit once, under the ingest lock held for the whole run (quarantine file, event
partitions + manifest, log line). Memory is bounded by a batch and a date (or date slice), not the input.
"""

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
    EVENT_SCHEMA,
    INGEST_LOCK,
    EventStager,
    StagedEvents,
    conform,
    discard_events,
    new_ingest_id,
    publish_events,
)
from engine.infra.faults import fault_point
from engine.infra.locks import workspace_lock
from engine.ingest.days import DayRows
from engine.ingest.history import (
    LAST_INGEST_KEY,
    clean_staged,
    commit_ingest,
    read_ingests,
    recover_log,
    stage_ingest,
)
from engine.ingest.mapping import map_frame
from engine.ingest.options import IngestOptions, IngestPlan, resolve_plan
from engine.ingest.privacy import hash_key
from engine.ingest.quarantine import clean_orphans, write_quarantine
from engine.ingest.readers import display_path, open_source
from engine.ingest.report import FileReport, merged_reasons, source_warnings
from engine.ingest.sessionize import assign_sessions, previous_sessions, session_bucket
from engine.ingest.spill import Spill, clean_spills
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


RowsProgress = Callable[[int, float], None]  # (rows read so far, rows read per second)

# Rows needing a derived session are spilled into user buckets of about this many rows (from the input size,
# estimated before reading): one bucket is sessionized at a time.
BUCKET_ROWS = 1_000_000
MAX_BUCKETS = 256
BYTES_PER_ROW_ESTIMATE = 16  # low on purpose (a Parquet REES46 row is ~32 bytes): too many buckets is cheap


def _user_buckets(paths: list[Path]) -> int:
    size = 0
    for path in paths:
        try:
            size += path.stat().st_size
        except OSError:
            continue  # the reader names the problem
    return max(1, min(MAX_BUCKETS, -(-size // BYTES_PER_ROW_ESTIMATE // BUCKET_ROWS)))


class _SessionRows:
    """Rows needing a derived session: held in memory while few, else spilled by user bucket."""

    def __init__(self, spill: Spill, buckets: int) -> None:
        self.spill = spill
        self.buckets = buckets
        self.held: list[pl.DataFrame] = []
        self.held_rows = 0
        self.spilled = False

    def add(self, frame: pl.DataFrame) -> None:
        self.held.append(frame)
        self.held_rows += frame.height
        if self.spilled or self.held_rows > BUCKET_ROWS:
            self._spill_held()

    def _spill_held(self) -> None:
        for frame in self.held:
            self.spill.add_by("users", frame.with_columns(__bucket=session_bucket(self.buckets)), "__bucket")
        self.held, self.held_rows, self.spilled = [], 0, True

    def sessionize(self, ws: Workspace, gap_minutes: float, days: DayRows, progress: Progress) -> None:
        """Derive the sessions, one bucket at a time (all at once when held), and hand the rows to days."""
        if not self.spilled:
            if self.held:
                events = pl.concat(self.held, how="vertical")
                self.held = []
                progress(f"deriving sessions for {events.height:,} rows")
                days.add(assign_sessions(events, gap_minutes, previous_sessions(ws, events, gap_minutes)))
            return
        for bucket in self.spill.keys("users"):
            events = self.spill.scan("users", bucket).collect()
            progress(f"deriving sessions for {events.height:,} rows (user bucket {bucket})")
            days.spill_all(assign_sessions(events, gap_minutes, previous_sessions(ws, events, gap_minutes)))
            self.spill.remove("users", bucket)


def _read_all(
    paths: list[Path],
    plan: IngestPlan,
    key: bytes | None,
    spill: Spill,
    days: DayRows,
    sessions: _SessionRows,
    progress: Progress,
    on_rows: RowsProgress,
) -> list[FileReport]:
    """Map every batch of every file: quarantined rows are spilled, events held by date (or for sessions)."""
    dimensions = [name for name in plan.dimensions if name not in EVENT_SCHEMA]
    header = plan.preset.header if plan.preset else ()
    reports: list[FileReport] = []
    rows_read = 0
    started = time.perf_counter()
    for path in paths:
        progress(f"reading {display_path(path)}")
        source, batches = open_source(
            path,
            delimiter=plan.delimiter,
            header=header,
            encoding=plan.encoding,
            guess_header=bool(plan.preset and plan.preset.guess_header),
        )
        report = FileReport(source)
        reports.append(report)
        for raw in batches:
            mapped = map_frame(source, raw, plan, key)
            del raw
            report.add(mapped)
            rows_read += mapped.rows_read
            if mapped.quarantine.height:
                spill.add("quarantine", "all", mapped.quarantine)
            # Mark the rows whose session id is about to be derived: their dedupe identity is the source row.
            events = (
                conform(mapped.events, dimensions)
                .with_columns(pl.col("session_id").is_null().alias(DERIVED_SESSION))
                .collect()
            )
            del mapped
            needs = events.get_column(DERIVED_SESSION)
            if needs.any():
                sessions.add(events if needs.all() else events.filter(needs))
                events = events.filter(~needs)
            days.settle(days.add(events) if events.height else set())
            on_rows(rows_read, rows_read / max(time.perf_counter() - started, 1e-9))
            fault_point("ingest.after_batch")
    return reports


def ingest_files(
    ws: Workspace,
    paths: Iterable[Path | str],
    options: IngestOptions | None = None,
    *,
    progress: Progress | None = None,
    on_rows: RowsProgress | None = None,
) -> IngestResult:
    """Ingest event files into the workspace's store; all-or-nothing across files and partitions.

    progress gets a line per step; on_rows gets (rows read, rows/s) after every batch read.
    """
    report = progress or (lambda _message: None)
    started_clock = time.perf_counter()
    started = datetime.now(UTC)
    files_given: list[Path] = (
        [Path(paths)] if isinstance(paths, str | Path) else [Path(path) for path in paths]
    )
    if not files_given:
        raise InputError("no input files given; pass one or more event files, e.g. shopctl ingest events.csv")
    plan = resolve_plan(ws.settings.schema, options, now=started)
    key = hash_key(ws.settings.privacy)
    dimensions = [name for name in plan.dimensions if name not in EVENT_SCHEMA]
    ingest_id = new_ingest_id()
    # The lock is held for the whole run: the store the rows are deduped and sessionized against cannot
    # change under them, and the scratch folder of a killed ingest can be removed safely by the next.
    with workspace_lock(ws, INGEST_LOCK, purpose=f"ingest {ingest_id}"):
        recover_log(ws)
        clean_orphans(ws, {str(record.get("id")) for record in read_ingests(ws)})
        clean_staged(ws)
        clean_spills(ws)
        spill = Spill(ws, ingest_id)
        try:
            stager = EventStager(ws, ingest_id, dimensions)
            days = DayRows(stager, spill, report)
            sessions = _SessionRows(spill, _user_buckets(files_given))
            on_batch = on_rows or (lambda _rows, _rate: None)
            # All-or-nothing: every write that needs disk space (parts, quarantine file, the log staged
            # beside its final name) happens before the manifest commits; a failure removes what this
            # ingest wrote.
            try:
                files = _read_all(files_given, plan, key, spill, days, sessions, report, on_batch)
                sessions.sessionize(ws, plan.session_gap_minutes, days, report)
                days.stage_all()
            except BaseException:
                discard_events(stager.staged)
                raise
            report("committing")
            staged = stager.finish()
            quarantine_path: Path | None = None
            staged_log: Path | None = None
            try:
                quarantine_path = write_quarantine(ws, spill.files("quarantine", "all"), ingest_id)
                result = _result(ws, ingest_id, plan, files, staged, quarantine_path, started, started_clock)
                record = _log_record(result)
                staged_log = stage_ingest(ws, record)
                if staged.manifest is not None:
                    # Write-ahead: the manifest (the commit point) carries its log line, so a crash before the
                    # log is renamed into place is repaired by the next ingest (recover_log) instead of losing
                    # the line and, with it, this ingest's quarantine file.
                    staged.manifest[LAST_INGEST_KEY] = record
                publish_events(ws, staged)
                fault_point("ingest.after_manifest")
            except BaseException:
                discard_events(staged)
                for path in (quarantine_path, staged_log):
                    if path is not None:
                        path.unlink(missing_ok=True)
                raise
        finally:
            spill.close()
        commit_ingest(ws, staged_log)
    return result


def _result(
    ws: Workspace,
    ingest_id: str,
    plan: IngestPlan,
    files: list[FileReport],
    staged: StagedEvents,
    quarantine_path: Path | None,
    started: datetime,
    started_clock: float,
) -> IngestResult:
    committed = staged.counts
    warnings = [
        f"{file.source.shown}: no column for dimension {', '.join(file.missing_dimensions)} (left empty)"
        for file in files
        if file.missing_dimensions
    ] + [warning for file in files for warning in source_warnings(file, plan)]
    return IngestResult(
        ingest_id=ingest_id,
        rows_read=sum(file.rows_read for file in files),
        rows_stored=committed["rows_stored"],
        rows_quarantined=sum(file.rows_quarantined for file in files),
        rows_duplicate=committed["rows_duplicate"],
        quarantine_file=str(quarantine_path) if quarantine_path else None,
        quarantine_reasons=merged_reasons(files),
        partitions=committed["partitions"],
        files=[file.to_dict() for file in files],
        preset=plan.preset_name,
        started=started.isoformat(timespec="seconds"),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started_clock, 3),
        orphans_removed=committed["orphans_removed"],
        warnings=warnings,
    )


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
