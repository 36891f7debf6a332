"""Derive session ids from an inactivity gap, deterministically, for rows that have none.

A session id is `<key>#<start>`: the user id (or, for anonymous rows, the order id or the row itself) and the
session's first event time in epoch microseconds. It depends only on the data (and on what the store already
holds just before it), so re-ingesting a file gives the same ids and the exact-duplicate check still works.
A user's first session in a batch continues the session of their last stored event when that event is
within the gap, so hourly files from the inbox do not cut sessions at file boundaries.
Anonymous rows (no user and no session id) cannot be linked to each other: rows sharing an order id form one
session, any other anonymous row is a session of its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

import polars as pl

from engine.events import committed_files, scan_files
from engine.workspace import Workspace


def _session_key() -> pl.Expr:
    anonymous_row = pl.concat_str(
        [
            pl.lit("anon:"),
            pl.col("event_time").dt.epoch("us").cast(pl.String),
            pl.lit(":"),
            pl.col("event_name").fill_null(""),
            pl.lit(":"),
            pl.col("product_id").fill_null(""),
        ]
    )
    return (
        pl.when(pl.col("user_id").is_not_null())
        .then(pl.col("user_id"))
        .when(pl.col("order_id").is_not_null())
        .then(pl.lit("order:") + pl.col("order_id"))
        .otherwise(anonymous_row)
    )


def session_bucket(buckets: int) -> pl.Expr:
    """Which of `buckets` groups a row's session key falls in: every row that can share a session with it
    falls in the same one, so each group can be sessionized on its own."""
    return (_session_key().hash(seed=0) % buckets).cast(pl.UInt32)


def previous_sessions(ws: Workspace, events: pl.DataFrame, gap_minutes: float) -> pl.DataFrame:
    """Per user of the rows needing a session: the last stored event before their first new one, if it is
    within the gap (user_id, previous_time, previous_session). Reads only the partitions that can hold it."""
    empty = pl.DataFrame(
        schema={
            "user_id": pl.String,
            "previous_time": events.schema["event_time"],
            "previous_session": pl.String,
        }
    )
    firsts = (
        events.filter(pl.col("session_id").is_null() & pl.col("user_id").is_not_null())
        .group_by("user_id")
        .agg(first_time=pl.col("event_time").min())
    )
    if firsts.height == 0:
        return empty
    gap = timedelta(minutes=gap_minutes)
    low = cast(datetime, firsts["first_time"].min()) - gap
    high = cast(datetime, firsts["first_time"].max())
    days = pl.date_range(low.date(), high.date(), "1d", eager=True)
    dates = days.dt.strftime("%Y-%m-%d").to_list()
    files = committed_files(ws, dates)
    if not files:
        return empty
    return (
        scan_files(files, [])
        .select("user_id", "event_time", "session_id")
        .filter(pl.col("event_time").is_between(low, high, closed="left"))
        .join(firsts.lazy(), on="user_id", how="inner")
        .filter(
            (pl.col("event_time") < pl.col("first_time"))
            & (pl.col("first_time") - pl.col("event_time") <= gap)
        )
        .group_by("user_id")
        .agg(
            previous_time=pl.col("event_time").max(),
            previous_session=pl.col("session_id").sort_by("event_time").last(),
        )
        .collect()
    )


def assign_sessions(
    events: pl.DataFrame, gap_minutes: float, previous: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Fill null session_id from the gap rule (a new session after gap_minutes without an event); a user's
    first session continues `previous` (from previous_sessions) when given."""
    missing = events["session_id"].is_null()
    if not missing.any():
        return events
    everything = bool(missing.all())  # the common case: no session column at all, so no copy is needed
    keep = events.clear() if everything else events.filter(~missing)
    gap = pl.duration(microseconds=int(round(gap_minutes * 60_000_000)))
    todo = (events if everything else events.filter(missing)).with_columns(__key=_session_key())
    # Work on a narrow frame (row, integer code of the key, time) so the sort moves three numbers per row, not
    # every string column; a session starts at a key change or after a gap.
    starts = (
        todo.select(
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"),
            pl.col("__key").cast(pl.Categorical).to_physical().alias("__code"),
            pl.col("event_time"),
        )
        # Two single-column sorts (the second stable) are much faster in polars than one two-column sort.
        .sort("event_time")
        .sort("__code", maintain_order=True)
        .with_columns(
            __new=(
                (pl.col("__code") != pl.col("__code").shift(1))
                | ((pl.col("event_time") - pl.col("event_time").shift(1)) > gap)
            ).fill_null(True)
        )
        .select("__row", __start=pl.when(pl.col("__new")).then(pl.col("event_time")).forward_fill())
        .sort("__row")
    )
    derived = todo.with_columns(
        __start=starts["__start"],
        session_id=pl.concat_str(
            [pl.col("__key"), pl.lit("#"), starts["__start"].dt.epoch("us").cast(pl.String)]
        ),
    )
    if previous is not None and previous.height:
        derived = _continue_previous(derived, previous)
    derived = derived.drop("__key", "__start")
    return pl.concat([keep, derived], how="vertical") if keep.height else derived


def _continue_previous(derived: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Give each user's first new session the id of the stored session it continues."""
    first_sessions = (
        derived.filter(pl.col("user_id").is_not_null())
        .group_by("user_id")
        .agg(pl.col("session_id").sort_by("__start").first().alias("__first_session"))
        .join(previous.select("user_id", "previous_session"), on="user_id", how="inner")
        .select("__first_session", "previous_session")
    )
    return (
        derived.join(first_sessions, left_on="session_id", right_on="__first_session", how="left")
        .with_columns(session_id=pl.coalesce("previous_session", "session_id"))
        .drop("previous_session")
    )
