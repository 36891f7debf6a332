"""Write the session table window by window, so peak memory follows one window of events, not the whole log.

Each window holds about EVENTS_PER_WINDOW events (whole days) and aggregates the sessions that start inside it,
reading 6 more hours of events on either side so a session crossing the window edge is seen whole (only a session
longer than 6 hours, in practice a bot, would be cut). The user history then runs once over a narrow table of all
sessions (id, user, start) and is joined onto the window parts while they stream to the final file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from engine.atomic import atomic_write_with
from engine.features.history import add_user_history
from engine.features.sessions import HISTORY_COLUMNS, session_aggregates, session_columns, with_dimensions

EVENTS_PER_WINDOW = 1_000_000  # peak memory follows this: a few hundred MB
MAX_WINDOW_DAYS = 28
MARGIN = timedelta(hours=6)


def _windows(first_event: datetime, end: datetime, window_days: int) -> list[tuple[datetime, datetime]]:
    start = datetime(first_event.year, first_event.month, first_event.day, tzinfo=first_event.tzinfo)
    bounds = []
    while start < end:
        stop = min(start + timedelta(days=window_days), end)
        bounds.append((start, stop))
        start = stop
    return bounds


def window_days_for(first_event: datetime, end: datetime, total_events: int) -> int:
    """Whole days per window so one window holds about EVENTS_PER_WINDOW events."""
    span_days = max((end - first_event).total_seconds() / 86_400, 1.0)
    per_day = max(total_events, 1) / span_days
    return int(min(max(EVENTS_PER_WINDOW // max(per_day, 1.0), 1), MAX_WINDOW_DAYS))


def write_session_table(
    events: pl.LazyFrame,
    dimensions: Iterable[str],
    first_event: datetime,
    end: datetime,
    target: Path,
    *,
    total_events: int | None = None,
    window_days: int | None = None,
) -> None:
    """Write the session table of events before `end` to `target` (atomically), one time window at a time."""
    dimensions = list(dimensions)
    if window_days is None:
        if total_events is None:
            total_events = events.filter(pl.col("event_time") < end).select(pl.len()).collect().item()
        window_days = window_days_for(first_event, end, total_events)
    events = with_dimensions(events.filter(pl.col("event_time") < end), dimensions)
    time = pl.col("event_time")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".sessions-parts-", dir=target.parent) as folder:
        parts: list[Path] = []
        for index, (start, stop) in enumerate(_windows(first_event, end, window_days)):
            chunk = events.filter((time >= start - MARGIN) & (time < stop + MARGIN))
            starts_inside = (pl.col("session_start") >= start) & (pl.col("session_start") < stop)
            part = Path(folder) / f"part-{index:05d}.parquet"
            aggregates = (
                session_aggregates(chunk, dimensions).filter(starts_inside).sort("session_start", "_key")
            )
            aggregates.sink_parquet(part, compression="lz4")
            parts.append(part)
        sessions = pl.scan_parquet(parts)
        narrow = sessions.select("_key", "session_id", "user_id", "session_start")
        # Collected on its own (a narrow frame) so the final join below streams the wide parts to disk.
        history = add_user_history(narrow, events).select("_key", *HISTORY_COLUMNS).collect()
        # Parts are in window order and sorted inside, so keeping the left order writes the table in time order.
        table = sessions.join(history.lazy(), on="_key", how="left", maintain_order="left")
        table = table.select(session_columns(dimensions))
        atomic_write_with(target, lambda path: table.sink_parquet(path, compression="zstd", statistics=True))
