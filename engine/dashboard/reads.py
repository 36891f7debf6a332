"""Bounded, indexed reads of the metrics table shared by every loader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from engine.dashboard.model import (
    KpiRow,
    Point,
    parse_time,
)
from engine.store.db import Store
from engine.store.metrics import latest_window_end, series_rows, window_rows
from engine.workspace import Workspace


def resolve_now(now: datetime | None) -> datetime:
    """The pinned moment (tests, screenshots) as aware UTC, else the current time."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def parse_detail(text: str | None) -> dict[str, Any]:
    """A detail_json column as a dict ({} when empty or unreadable)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@contextmanager
def reader(ws: Workspace) -> Iterator[Store]:
    """A store connection for one load, closed after (loads run in short-lived worker threads)."""
    store = Store(ws.store_path)
    try:
        yield store
    finally:
        store.close()


def _latest_per_window(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the newest row (highest id) per window_end, in time order: a re-run replaces a window."""
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = newest.get(row["window_end"])
        if kept is None or row["id"] > kept["id"]:
            newest[row["window_end"]] = row
    return [newest[key] for key in sorted(newest)]


def read_series(
    store: Store, metric: str, scope: str, since: datetime, kind: str | None = None
) -> tuple[Point, ...]:
    """One metric's points since a moment, through the metrics_series index; a re-run window counts once."""
    rows = _latest_per_window(series_rows(store, metric, scope, since.isoformat(), kind))
    return tuple(Point(parse_time(r["window_end"]), r["value"], r["lower"], r["upper"]) for r in rows)  # type: ignore[arg-type]


def latest_window(store: Store, metric: str, scope_like: str = "%") -> str | None:
    return latest_window_end(store, metric, scope_like)


def rows_at(store: Store, metric_like: str, scope_like: str, window_end: str) -> list[dict[str, Any]]:
    """The newest row per (metric, scope, model, kind) in one window."""
    rows = window_rows(store, metric_like, scope_like, window_end)
    newest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        newest[(row["metric"], row["scope"], row["model"], row["kind"])] = row
    return list(newest.values())


def _baseline(row: dict[str, Any]) -> float | None:
    detail = parse_detail(row.get("detail_json"))
    value = detail.get("baseline")
    if isinstance(value, dict):
        value = value.get("value")
    return float(value) if isinstance(value, int | float) else None


def _anomaly(row: dict[str, Any]) -> bool:
    detail = parse_detail(row.get("detail_json"))
    if row["status"] == "skipped":
        return False
    flags = detail.get("anomaly", detail.get("anomalies"))
    if isinstance(flags, bool | str):  # True, or the side of the band: "low" / "high"
        return bool(flags)
    if isinstance(flags, list | dict):
        return bool(flags)
    return row["status"] in ("warning", "critical")


def kpi_row(row: dict[str, Any], sessions: float | None = None) -> KpiRow:
    return KpiRow(
        row["metric"],
        row["scope"],
        row["value"],
        _baseline(row),
        row["lower"],
        row["upper"],
        row["status"],
        _anomaly(row),
        sessions,
    )


def as_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
