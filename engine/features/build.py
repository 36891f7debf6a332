"""`build_features`: write the session and user tables of a workspace to data/features/, atomically.

As-of semantics: the tables are what was knowable at `as_of` (events strictly before it; a date means its
midnight UTC). The default is the midnight after the last event, so everything ingested is used.
The session table is written window by window (engine.features.windows) to bound memory.
The user table's cutoff is `as_of - horizon_days`, so its labels are complete and a trainer gets labelled rows.
When that leaves under a week of history, the horizon is shortened to half the span (recorded in the meta).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from engine.errors import InputError
from engine.events import event_span
from engine.features.sessions import session_spec
from engine.features.users import as_utc_datetime, user_features, user_spec
from engine.features.windows import write_session_table
from engine.infra.atomic import atomic_write_json, atomic_write_with
from engine.workspace import Workspace

SESSIONS_FILE = "sessions.parquet"
USERS_FILE = "users.parquet"
# Days of history the user table needs before its cutoff; with less, the horizon is shortened.
MIN_HISTORY_DAYS = 7


def meta_path(table_path: Path) -> Path:
    """The `.meta.json` beside a feature table (sessions.parquet -> sessions.meta.json)."""
    return table_path.with_suffix(".meta.json")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def midnight_after(moment: datetime) -> datetime:
    """The midnight that ends moment's day (the default as-of of a build: every event so far)."""
    return datetime(moment.year, moment.month, moment.day, tzinfo=moment.tzinfo) + timedelta(days=1)


def plan_cutoff(first_event: datetime, as_of: datetime, horizon_days: int) -> tuple[datetime, int, bool]:
    """The session table is written window by window (engine.features.windows) to bound memory.
    The user table's cutoff and horizon: as_of minus the horizon, shortened when the data is too short."""
    cutoff = as_of - timedelta(days=horizon_days)
    if cutoff - first_event >= timedelta(days=MIN_HISTORY_DAYS):
        return cutoff, horizon_days, False
    first_day = datetime(first_event.year, first_event.month, first_event.day, tzinfo=first_event.tzinfo)
    span_days = max((as_of - first_day).days, 0)
    shortened = max(span_days // 2, 1)
    return as_of - timedelta(days=shortened), shortened, True


def _sink(frame: pl.LazyFrame) -> Any:
    return lambda path: frame.sink_parquet(path, compression="zstd", statistics=True)


def build_features(ws: Workspace, as_of: date | datetime | str | None = None) -> dict[str, Any]:
    """Build data/features/sessions.parquet and users.parquet (+ .meta.json each) from the event store."""
    started = time.perf_counter()
    dimensions = list(ws.settings.schema.dimensions)
    horizon_days = int(ws.settings.features.horizon_days)
    events, event_count, first_event, last_event = event_span(ws)
    moment = midnight_after(last_event) if as_of is None else as_utc_datetime(as_of, "--as-of")
    if moment <= first_event:
        raise InputError(
            f"--as-of {_iso(moment)} is before the first event ({_iso(first_event)}); pick a later date or omit it"
        )
    known = events.filter(pl.col("event_time") < moment)
    cutoff, horizon_used, shortened = plan_cutoff(first_event, moment, horizon_days)

    ws.features_dir.mkdir(parents=True, exist_ok=True)
    sessions_path = ws.features_dir / SESSIONS_FILE
    users_path = ws.features_dir / USERS_FILE
    total_events = event_count if moment > last_event else known.select(pl.len()).collect().item()
    write_session_table(
        known,
        dimensions,
        first_event,
        moment,
        sessions_path,
        total_events=total_events,
        events_per_window=ws.settings.features.window_events,
    )
    atomic_write_with(users_path, _sink(user_features(known, cutoff, horizon_used, dimensions)))

    session_summary = (
        pl.scan_parquet(sessions_path)
        .select(pl.len().alias("rows"), pl.col("converted").mean().alias("rate"))
        .collect()
    )
    user_summary = (
        pl.scan_parquet(users_path)
        .select(pl.len().alias("rows"), pl.col("repurchased").mean().alias("rate"))
        .collect()
    )
    common = {
        "as_of": _iso(moment),
        "first_event": _iso(first_event),
        "last_event": _iso(min(last_event, moment)),
        "built_at": _iso(datetime.now(moment.tzinfo)),
    }
    sessions_meta = common | {
        "table": "sessions",
        "rows": int(session_summary["rows"].item()),
        "conversion_rate": session_summary["rate"].item(),
        "spec": session_spec(dimensions).to_dict(),
    }
    users_meta = common | {
        "table": "users",
        "cutoff": _iso(cutoff),
        "horizon_days": horizon_used,
        "configured_horizon_days": horizon_days,
        "horizon_shortened": shortened,
        "rows": int(user_summary["rows"].item()),
        "repurchase_rate": user_summary["rate"].item(),
        "spec": user_spec(dimensions, "binary").to_dict(),
    }
    atomic_write_json(meta_path(sessions_path), sessions_meta)
    atomic_write_json(meta_path(users_path), users_meta)
    from engine.features.orders import write_order_table  # the order-risk table (engine/features/orders.py)

    orders = write_order_table(ws, known, dimensions, common)
    return {
        "as_of": common["as_of"],
        "events": int(total_events),
        "sessions": {"path": str(sessions_path), "meta": str(meta_path(sessions_path))} | sessions_meta,
        "users": {"path": str(users_path), "meta": str(meta_path(users_path))} | users_meta,
        "orders": orders,
        "seconds": round(time.perf_counter() - started, 3),
    }
