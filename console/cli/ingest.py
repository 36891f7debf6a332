"""`shopctl ingest` and `shopctl data summary`: thin layers over engine.ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, err, guarded, info, out, workspace_from
from engine.infra.durations import parse_duration
from engine.ingest import PRESETS

data_app = typer.Typer(help="Look at the event store.", no_args_is_help=True)


@guarded
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Event files: CSV, TSV, semicolon, Parquet, JSON Lines; plain or .gz."),
    ],
    preset: Annotated[
        str | None, typer.Option("--preset", help=f"Ready mapping: {', '.join(PRESETS)} (overrides config).")
    ] = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", help="CANONICAL=SOURCE column mapping (repeatable).")
    ] = None,
    event: Annotated[
        list[str] | None, typer.Option("--event", help="SOURCE=CANONICAL event name mapping (repeatable).")
    ] = None,
    dimension: Annotated[
        list[str] | None, typer.Option("--dimension", help="NAME=SOURCE dimension column (repeatable).")
    ] = None,
    time_format: Annotated[
        str | None,
        typer.Option("--time-format", help="iso, epoch_s, epoch_ms, yyyymmdd or a strftime pattern."),
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option("--time-zone", help="IANA zone that naive timestamps are read in.")
    ] = None,
    session_gap: Annotated[
        str | None,
        typer.Option(
            "--session-gap",
            help="Inactivity gap that ends a session: 30, 30m or 1h (a bare number is minutes).",
        ),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option("--delimiter", help="Field delimiter: one character, or tab/comma/semicolon/pipe."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding", help="Text encoding: utf-8, cp1252, latin-1, utf-16 ... (default: detect; config)."
        ),
    ] = None,
    resessionize: Annotated[
        bool | None,
        typer.Option(
            "--resessionize/--keep-sessions",
            help="Derive sessions from the gap even if a session column exists.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load event files into the workspace's event store (bad rows go to quarantine, duplicates are dropped).

    Example: shopctl ingest events.csv.gz --preset retailrocket --json
    """
    from engine.ingest import IngestOptions, ingest_files  # polars: loaded when the command runs
    from engine.ingest.options import parse_pairs

    ws = workspace_from(workspace)
    options = IngestOptions(
        preset=preset,
        columns=parse_pairs(column, "--column"),
        events=parse_pairs(event, "--event"),
        dimensions=parse_pairs(dimension, "--dimension"),
        time_format=time_format,
        time_zone=time_zone,
        session_gap_minutes=None
        if session_gap is None
        else parse_duration(session_gap, source="--session-gap", default_unit="m").total_seconds() / 60,
        delimiter=delimiter,
        encoding=encoding,
        resessionize=resessionize,
    )
    # Progress only on a terminal: scripts and tests get exactly one stderr line when something fails.
    if err.is_terminal:
        with err.status("ingest: starting") as status:

            def on_rows(rows: int, per_second: float) -> None:
                status.update(f"ingest: read {rows:,} rows ({per_second:,.0f} rows/s)")

            result = ingest_files(
                ws, paths, options, progress=lambda step: status.update(f"ingest: {step}"), on_rows=on_rows
            )
        info(
            f"ingest: {result.rows_read:,} rows in {result.seconds:.1f}s "
            f"({result.rows_read / max(result.seconds, 1e-9):,.0f} rows/s)"
        )
    else:
        result = ingest_files(ws, paths, options)
    for warning in result.warnings:
        info(f"note: {warning}")
    payload = result.to_dict()

    def human() -> None:
        out.print(
            f"ingest {result.ingest_id}: read {result.rows_read:,} rows, stored {result.rows_stored:,}, "
            f"quarantined {result.rows_quarantined:,}, duplicates {result.rows_duplicate:,} "
            f"({len(result.partitions)} partition(s), {result.seconds:.1f}s)"
        )
        for reason, count in result.quarantine_reasons.items():
            out.print(f"  quarantined {count:,}: {reason}")
        if result.quarantine_file:
            out.print(f"  quarantine file: {result.quarantine_file}")

    emit(payload, as_json, human)


@data_app.command("summary")
@guarded
def summary(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Summarise the event store: events by type, date range, users, sessions, partitions, quarantine.

    Example: shopctl data summary --json
    """
    from engine.ingest.summary import data_summary

    ws = workspace_from(workspace)
    payload = data_summary(ws)

    def human() -> None:
        out.print(f"events      {payload['events']:,}")
        for event_type, count in payload["events_by_type"].items():
            out.print(f"  {event_type:<17}{count:,}")
        out.print(f"time range  {payload['first_event'] or '-'} .. {payload['last_event'] or '-'} (UTC)")
        out.print(f"users       {payload['users']:,}")
        out.print(f"sessions    {payload['sessions']:,}")
        out.print(f"partitions  {payload['partitions']:,} ({payload['files']:,} files)")
        out.print(f"quarantined {payload['quarantined_rows']:,}")
        for reason, count in payload["quarantined_by_reason"].items():
            out.print(f"  {reason:<25}{count:,}")
        last = payload["last_ingest"]
        if last:
            out.print(
                f"last ingest {last.get('id')} at {last.get('finished')}: "
                f"stored {last.get('rows_stored', 0):,} of {last.get('rows_read', 0):,} rows"
            )
        else:
            out.print("last ingest none yet (shopctl ingest FILE)")

    emit(payload, as_json, human)


def register(app: typer.Typer) -> None:
    """Add `ingest` and the `data` group to the root app."""
    app.command("ingest", rich_help_panel="Data")(ingest)
    app.add_typer(data_app, name="data", rich_help_panel="Data")
