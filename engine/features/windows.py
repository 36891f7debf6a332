"""Write the session table window by window, so peak memory follows one window of events, not the whole log.

Each window holds about EVENTS_PER_WINDOW events (whole days) and aggregates the sessions that start inside it,
reading MARGIN (6 hours) more events after its end so a session crossing the edge is seen whole (only a session
running on for more than 6 hours after the edge, in practice a bot, would be cut). The keys of sessions still
open at the edge pass to the next window, which leaves them out: every session is written once, by the window
it started in. The users' history (engine.features.history.UserHistory) is carried from window to window the
same way, and each finished window streams straight into the final Parquet file: no intermediate files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from engine.features.history import UserHistory, purchase_rows
from engine.features.sessions import event_columns, session_aggregates, session_columns, session_features
from engine.infra.frame_writer import sink_frames
from engine.infra.prefetch import read_ahead

EVENTS_PER_WINDOW = 700_000  # peak memory follows this (about 500 bytes an event at 10 M events)
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


def window_days_for(
    first_event: datetime, end: datetime, total_events: int, events_per_window: int = EVENTS_PER_WINDOW
) -> int:
    """Whole days per window so one window holds about `events_per_window` events."""
    span_days = max((end - first_event).total_seconds() / 86_400, 1.0)
    # Rounded before the floor so that exactly 3 windows' worth of days is 3, not 2.999999.
    days = math.floor(round(events_per_window * span_days / max(total_events, 1), 6))
    return int(min(max(days, 1), MAX_WINDOW_DAYS))


def session_table_windows(
    events: pl.LazyFrame, dimensions: list[str], first_event: datetime, end: datetime, window_days: int
) -> Iterator[pl.DataFrame]:
    """The session table of events before `end`, one window's sessions at a time, in time order.

    The next window's events are read and aggregated on a worker thread while this one's history is added and
    written (polars releases the GIL): the history step is mostly single-threaded, so the second core would
    otherwise idle through it. At most two windows are in memory.
    """
    columns = session_columns(dimensions)
    events = event_columns(events.filter(pl.col("event_time") < end), dimensions)
    time = pl.col("event_time")
    start_time = pl.col("session_start")

    def aggregate(start: datetime, stop: datetime) -> tuple[datetime, pl.DataFrame, pl.DataFrame]:
        chunk = events.filter((time >= start) & (time < stop + MARGIN)).collect(engine="streaming")
        aggregates = session_aggregates(chunk, dimensions).collect(engine="streaming")
        return stop, aggregates, purchase_rows(chunk.lazy().filter(time < stop)).collect()

    history = UserHistory()
    open_keys = pl.Series("_key", [], dtype=pl.UInt64)
    windows = _windows(first_event, end, window_days)
    for stop, aggregates, purchases in read_ahead(aggregate(start, stop) for start, stop in windows):
        # A session begun in an earlier window is that window's; one starting after `stop` is the next one's.
        begun = aggregates.filter((start_time < stop) & ~pl.col("_key").is_in(open_keys.implode()))
        open_keys = aggregates.filter((start_time < stop) & (pl.col("_last_event") >= stop))["_key"]
        del aggregates
        yield history.add(begun, purchases, open_keys).select(columns)


def write_session_table(
    events: pl.LazyFrame,
    dimensions: Iterable[str],
    first_event: datetime,
    end: datetime,
    target: Path,
    *,
    total_events: int | None = None,
    window_days: int | None = None,
    events_per_window: int = EVENTS_PER_WINDOW,
) -> None:
    """Write the session table of events before `end` to `target` (atomically), one time window at a time."""
    dimensions = list(dimensions)
    if window_days is None:
        if total_events is None:
            total_events = events.filter(pl.col("event_time") < end).select(pl.len()).collect().item()
        window_days = window_days_for(first_event, end, total_events, events_per_window)
    schema = session_features(events.clear(), dimensions).collect_schema()
    frames = session_table_windows(events, dimensions, first_event, end, window_days)
    target.parent.mkdir(parents=True, exist_ok=True)
    sink_frames(frames, schema, target)
