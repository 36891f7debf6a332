"""What one ingest learns about each input file while it streams through it: counts, the columns it used, a
sample of the times it could not parse, and the notes (encoding, duplicate columns, time layout) it prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.ingest.mapping import MappedFile
from engine.ingest.options import IngestPlan
from engine.ingest.readers import SourceFile
from engine.ingest.timeparse import suggest_time_format

UNPARSED_SAMPLE = 500  # unparsed event_time values kept per file for the --time-format hint (it reads 500)
UNPARSED_REASON = "unparseable event_time"


@dataclass
class FileReport:
    """One input file's running totals, added to batch by batch."""

    source: SourceFile
    rows_read: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    columns_used: dict[str, list[str]] = field(default_factory=dict)
    missing_dimensions: list[str] = field(default_factory=list)
    unparsed_rows: int = 0
    unparsed_sample: list[Any] = field(default_factory=list)

    def add(self, mapped: MappedFile) -> None:
        """Count one mapped batch (and keep the first unparsed times of the file)."""
        if not self.columns_used:
            self.columns_used = mapped.columns_used
            self.missing_dimensions = mapped.missing_dimensions
        self.rows_read += mapped.rows_read
        quarantine = mapped.quarantine
        self.rows_quarantined += quarantine.height
        if quarantine.is_empty() or "_reason" not in quarantine.columns:
            return
        for reason, count in quarantine.group_by("_reason").len().iter_rows():
            self.reasons[reason] = self.reasons.get(reason, 0) + int(count)
        columns = self.columns_used.get("event_time") or []
        unparsed = quarantine.filter(pl.col("_reason") == UNPARSED_REASON)
        self.unparsed_rows += unparsed.height
        room = UNPARSED_SAMPLE - len(self.unparsed_sample)
        if room > 0 and columns and columns[0] in unparsed.columns:
            self.unparsed_sample += unparsed[columns[0]].head(room).to_list()

    def to_dict(self) -> dict[str, Any]:
        """The file's entry of the ingest result's `files`."""
        source = self.source
        return {
            "path": source.shown,
            "format": source.format,
            "encoding": source.encoding,
            "replaced_rows": source.replaced.get("rows", 0),
            "compressed": source.compressed,
            "delimiter": source.delimiter,
            "has_header": source.has_header,
            "rows_read": self.rows_read,
            "rows_quarantined": self.rows_quarantined,
            "columns": {canonical: names for canonical, names in self.columns_used.items()},
            "missing_dimensions": self.missing_dimensions,
        }


def merged_reasons(files: list[FileReport]) -> dict[str, int]:
    """Quarantined rows per reason over all files, most frequent first."""
    totals: dict[str, int] = {}
    for file in files:
        for reason, count in file.reasons.items():
            totals[reason] = totals.get(reason, 0) + count
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def source_warnings(file: FileReport, plan: IngestPlan) -> list[str]:
    """What the reader had to guess about a file, one line each: encoding, duplicate columns, time layout."""
    source = file.source
    found = encoding_warnings(source)
    for name, count in source.duplicate_columns.items():
        found.append(
            f"{source.shown}: the header names column {name!r} {count} times; the first one is read, the others "
            "are ignored (rename them in the export to keep them)"
        )
    if source.guessed_columns:
        found.append(
            f"{source.shown}: no header row; columns read as {', '.join(source.guessed_columns)} from their values "
            "(add a header line, e.g. customer_id date quantity amount, to name them yourself)"
        )
    hint = _time_format_hint(file, plan)
    if hint:
        found.append(hint)
    return found


def _time_format_hint(file: FileReport, plan: IngestPlan) -> str | None:
    """When event_time values did not parse, the layout they are in and the --time-format that reads them."""
    if plan.time_format or not file.unparsed_rows or not file.unparsed_sample:
        return None
    sample = pl.Series(file.unparsed_sample, dtype=pl.String)
    suggestion = suggest_time_format(sample)
    example = sample.drop_nulls().head(1).to_list()
    where = f"{file.source.shown}: {file.unparsed_rows:,} row(s) quarantined with an event_time like {example[0]!r}"
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
