"""Session paths: the most common event-name sequences, the next-step transition matrix, and where sessions end.

Sequences use the raw `event_name` (a shop's own step names show, e.g. RetailRocket's `addtocart`), ordered by
event time within a session, with consecutive repeats collapsed (view, view, cart, view -> view > cart > view):
ten product views in a row are one browsing step, and without the collapse almost every path is unique.
`to="purchase"` keeps the sessions that purchase (canonical `event_type` purchase) and cuts each path at its
first purchase; `to="exit"` (the default) keeps every session's whole path.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from engine.errors import InputError
from engine.events import scan_events
from engine.workspace import Workspace

START = "(start)"
EXIT = "(exit)"
SEPARATOR = " > "
TARGETS = ("exit", "purchase")
RULE = (
    "raw event_name per session in event-time order, consecutive repeats collapsed; "
    "to=purchase cuts each purchasing session at its first purchase"
)


def collapsed_steps(events: pl.LazyFrame, to: str) -> pl.LazyFrame:
    """One row per kept step: session_id, position, event_name (repeats collapsed, cut at the target)."""
    columns = events.select("session_id", "event_time", "event_type", "event_name")
    if to == "purchase":
        # the purchasing sessions only, up to their first purchase: a join on few sessions, then a small sort
        first_purchase = (
            columns.filter(pl.col("event_type") == "purchase")
            .group_by("session_id")
            .agg(pl.col("event_time").min().alias("cut"))
        )
        columns = (
            columns.join(first_purchase, on="session_id")
            .filter(pl.col("event_time") <= pl.col("cut"))
            .drop("cut")
        )
    ordered = columns.sort("session_id", "event_time", pl.col("event_type") == "purchase")
    previous_session = pl.col("session_id").shift(1)
    previous_name = pl.col("event_name").shift(1)
    changed = (
        previous_session.is_null()
        | (pl.col("session_id") != previous_session)
        | (pl.col("event_name").fill_null("") != previous_name.fill_null(""))
    )
    return ordered.filter(changed).select("session_id", pl.col("event_name").fill_null("(unnamed)"))


def paths_report(ws: Workspace, *, top: int = 20, to: str = "exit") -> dict[str, Any]:
    """The `shopctl paths --json` payload: top sequences, transition matrix, end steps (one streaming pass)."""
    if to not in TARGETS:
        raise InputError(f"--to {to!r}: expected one of {', '.join(TARGETS)}")
    if top < 1:
        raise InputError(f"--top {top}: give a positive number of sequences, e.g. --top 20")
    events = scan_events(ws)
    steps = collapsed_steps(events, to).collect(engine="streaming")
    if steps.height == 0:
        detail = "no session reaches a purchase" if to == "purchase" else "the store has no events"
        raise InputError(
            f"{ws.events_dir}: {detail}; ingest events first (`shopctl ingest FILE`) or use --to exit"
        )
    sequences = steps.group_by("session_id", maintain_order=True).agg(
        pl.col("event_name").str.join(SEPARATOR).alias("path"),
        pl.col("event_name").last().alias("last"),
        pl.len().alias("length"),
    )
    sessions = sequences.height
    top_paths = (
        sequences.group_by("path")
        .agg(pl.len().alias("sessions"), pl.col("length").first())
        .sort(["sessions", "path"], descending=[True, False])
        .head(top)
        .with_columns((pl.col("sessions") / sessions).alias("share"))
    )
    step_from = pl.col("event_name")
    session_start = pl.col("session_id") != pl.col("session_id").shift(1)
    session_end = pl.col("session_id") != pl.col("session_id").shift(-1)
    pairs = steps.select(
        pl.when(session_start.fill_null(True))
        .then(pl.lit(START))
        .otherwise(step_from.shift(1))
        .alias("from"),
        step_from.alias("to"),
    )
    exits = steps.filter(session_end.fill_null(True)).select(
        step_from.alias("from"), pl.lit(EXIT if to == "exit" else "(target)").alias("to")
    )
    transitions = (
        pl.concat([pairs, exits])
        .group_by("from", "to")
        .agg(pl.len().alias("count"))
        .with_columns((pl.col("count") / pl.col("count").sum().over("from")).alias("share"))
        .sort(["from", "count", "to"], descending=[False, True, False])
    )
    ends = (
        sequences.group_by("last")
        .agg(pl.len().alias("sessions"))
        .sort(["sessions", "last"], descending=[True, False])
        .with_columns((pl.col("sessions") / sessions).alias("share"))
    )
    return {
        "to": to,
        "rule": RULE,
        "events": int(events.select(pl.len()).collect(engine="streaming").item()),
        "sessions": sessions,
        "distinct_paths": int(sequences["path"].n_unique()),
        "top_paths": top_paths.select("path", "sessions", "share", "length").to_dicts(),
        "transitions": transitions.to_dicts(),
        "ends": ends.rename({"last": "event_name"}).to_dicts(),
    }
