"""What is in the event store: the payload of `shopctl data summary`."""

from __future__ import annotations

from typing import Any

import polars as pl

from engine.config import EVENT_TYPES
from engine.events import read_manifest, scan_events
from engine.ingest.history import read_ingests
from engine.workspace import Workspace


def data_summary(ws: Workspace) -> dict[str, Any]:
    """Events by type, UTC date range, users, sessions, partitions, quarantined rows by reason, last ingest."""
    manifest = read_manifest(ws)
    events = scan_events(ws)
    totals = events.select(
        pl.len().alias("events"),
        pl.col("event_time").min().alias("first"),
        pl.col("event_time").max().alias("last"),
        pl.col("user_id").drop_nulls().n_unique().alias("users"),
        pl.col("session_id").n_unique().alias("sessions"),
    ).collect()
    by_type_frame = events.group_by("event_type").len().collect()
    counts = {row["event_type"]: int(row["len"]) for row in by_type_frame.iter_rows(named=True)}
    by_type = {event: counts.pop(event, 0) for event in EVENT_TYPES}
    by_type.update(counts)  # a type outside the canonical list would be a bug; show it rather than hide it
    row = totals.row(0, named=True)
    ingests = read_ingests(ws)
    quarantined: dict[str, int] = {}
    for record in ingests:
        for reason, count in (record.get("quarantine_reasons") or {}).items():
            quarantined[reason] = quarantined.get(reason, 0) + int(count)
    dates = sorted({entry["date"] for entry in manifest["files"]})
    return {
        "events": int(row["events"]),
        "events_by_type": by_type,
        "first_event": row["first"].isoformat() if row["first"] is not None else None,
        "last_event": row["last"].isoformat() if row["last"] is not None else None,
        "users": int(row["users"]),
        "sessions": int(row["sessions"]),
        "partitions": len(dates),
        "files": len(manifest["files"]),
        "first_date": dates[0] if dates else None,
        "last_date": dates[-1] if dates else None,
        "quarantined_rows": sum(quarantined.values()),
        "quarantined_by_reason": dict(sorted(quarantined.items(), key=lambda item: (-item[1], item[0]))),
        "ingests": len(ingests),
        "last_ingest": ingests[-1] if ingests else None,
    }
