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
UNNAMED = "(unnamed)"
SEPARATOR = " > "
TARGETS = ("exit", "purchase")
RULE = (
    "raw event_name per session in event-time order, consecutive repeats collapsed; "
    "to=purchase cuts each purchasing session at its first purchase"
)


def session_sequences(events: pl.LazyFrame, to: str, codes: dict[str, int]) -> pl.DataFrame:
    """One row per session: its collapsed list of event-name codes (`names`), cut at the first purchase for `to`.

    Sessions are keyed by a 64-bit hash of session_id and names by small integer codes, so the sort of every
    event by (session, time) is a sort of integers (a collision between two of 2 M sessions has odds ~1e-7).
    """
    columns = events.select(
        pl.col("session_id").hash(seed=0).alias("session"),
        "event_time",
        (pl.col("event_type") == "purchase").alias("purchase"),
        pl.col("event_name").fill_null(UNNAMED).replace_strict(codes, return_dtype=pl.UInt32).alias("name"),
    )
    if to == "purchase":
        # the purchasing sessions only, up to their first purchase: a join on few sessions
        first_purchase = (
            columns.filter(pl.col("purchase"))
            .group_by("session")
            .agg(pl.col("event_time").min().alias("cut"))
        )
        columns = (
            columns.join(first_purchase, on="session")
            .filter(pl.col("event_time") <= pl.col("cut"))
            .drop("cut")
        )
    ordered = columns.sort("session", "event_time", "purchase")  # a purchase sorts last in its instant
    changed = pl.col("session").ne_missing(pl.col("session").shift(1)) | pl.col("name").ne_missing(
        pl.col("name").shift(1)
    )
    steps = ordered.filter(changed).select("session", "name").collect(engine="streaming")
    return steps.group_by("session").agg(pl.col("name").alias("names"))


def paths_report(ws: Workspace, *, top: int = 20, to: str = "exit") -> dict[str, Any]:
    """The `shopctl paths --json` payload: top sequences, transition matrix, end steps."""
    if to not in TARGETS:
        raise InputError(f"--to {to!r}: expected one of {', '.join(TARGETS)}")
    if top < 1:
        raise InputError(f"--top {top}: give a positive number of sequences, e.g. --top 20")
    events = scan_events(ws)
    vocabulary = events.select(pl.col("event_name").fill_null(UNNAMED).unique()).collect(engine="streaming")
    names = sorted(vocabulary["event_name"].to_list())
    target = EXIT if to == "exit" else "(target)"
    labels = [*names, START, target]
    codes = {name: code for code, name in enumerate(names)}
    lists = session_sequences(events, to, codes)
    if lists.height == 0:
        detail = "no session reaches a purchase" if to == "purchase" else "the store has no events"
        raise InputError(
            f"{ws.events_dir}: {detail}; ingest events first (`shopctl ingest FILE`) or use --to exit"
        )
    label = pl.Series("labels", labels)

    def spelled(column: pl.Expr) -> pl.Expr:
        return column.replace_strict(list(range(len(labels))), labels, return_dtype=pl.String)

    sessions = lists.height
    counted = (
        lists.group_by("names")
        .agg(pl.len().alias("sessions"))
        .with_columns(pl.col("names").list.len().alias("length"))
    )
    distinct_paths = counted.height
    top_frame = counted.sort(["sessions", "length", "names"], descending=[True, False, False]).head(top)
    top_paths = sorted(
        (
            {
                "path": SEPARATOR.join(label[code] for code in row["names"]),
                "sessions": row["sessions"],
                "share": row["sessions"] / sessions,
                "length": row["length"],
            }
            for row in top_frame.iter_rows(named=True)
        ),
        key=lambda row: (-row["sessions"], row["path"]),
    )
    start_code, target_code = len(names), len(names) + 1
    pairs = lists.select(
        pl.concat_list(pl.lit(start_code, dtype=pl.UInt32), pl.col("names")).alias("from"),
        pl.concat_list(pl.col("names"), pl.lit(target_code, dtype=pl.UInt32)).alias("to"),
    ).explode("from", "to")
    transitions = (
        pairs.group_by("from", "to")
        .agg(pl.len().alias("count"))
        .with_columns((pl.col("count") / pl.col("count").sum().over("from")).alias("share"))
        .with_columns(spelled(pl.col("from")), spelled(pl.col("to")))
        .sort(["from", "count", "to"], descending=[False, True, False])
    )
    ends = (
        lists.group_by(pl.col("names").list.last().alias("last"))
        .agg(pl.len().alias("sessions"))
        .with_columns(
            spelled(pl.col("last")).alias("event_name"), (pl.col("sessions") / sessions).alias("share")
        )
        .sort(["sessions", "event_name"], descending=[True, False])
        .select("event_name", "sessions", "share")
    )
    return {
        "to": to,
        "rule": RULE,
        "events": int(events.select(pl.len()).collect(engine="streaming").item()),
        "sessions": sessions,
        "distinct_paths": distinct_paths,
        "top_paths": top_paths,
        "transitions": transitions.to_dicts(),
        "ends": ends.to_dicts(),
    }
