"""Monitoring runs and metrics as a time series: write one run's figures, read series back, apply retention.

A figure is identified by (model, check, metric, scope, kind, window): writing it again replaces it, so a
re-run of a window, or a run for a model that repeats the shop-wide KPIs, never duplicates a point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.store.db import Store

METRIC_COLUMNS = (
    "model",
    "check_name",
    "metric",
    "scope",
    "window_start",
    "window_end",
    "value",
    "kind",
    "lower",
    "upper",
    "threshold",
    "status",
    "detail_json",
)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def save_run(
    store: Store,
    *,
    model: str,
    model_version: int | None,
    source: str,
    window_start: str,
    window_end: str,
    started: str,
    finished: str,
    status: str,
    summary: dict[str, Any],
    metrics: Sequence[dict[str, Any]],
) -> int:
    """Insert or replace a run (unique by model, source, window) and its metrics; returns the run id."""
    with store.transaction() as connection:
        run_id = connection.execute(
            """
            INSERT INTO monitor_runs (model, model_version, source, window_start, window_end, started, finished,
                                      status, summary_json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (model, source, window_start, window_end) DO UPDATE SET
                model_version = excluded.model_version, started = excluded.started,
                finished = excluded.finished, status = excluded.status, summary_json = excluded.summary_json
            RETURNING id
            """,
            (
                model,
                model_version,
                source,
                window_start,
                window_end,
                started,
                finished,
                status,
                json.dumps(summary, default=str),
            ),
        ).fetchone()[0]
        for row in metrics:
            key = (
                row.get("model", model),
                row["check_name"],
                row["metric"],
                row["scope"],
                row.get("kind", "realized"),
                window_start,
                window_end,
            )
            connection.execute(
                "DELETE FROM metrics WHERE model = ? AND check_name = ? AND metric = ? AND scope = ? "
                "AND kind = ? AND window_start = ? AND window_end = ?",
                key,
            )
            connection.execute(
                f"INSERT INTO metrics (run_id, {', '.join(METRIC_COLUMNS)}) VALUES (?{', ?' * len(METRIC_COLUMNS)})",
                (
                    run_id,
                    key[0],
                    key[1],
                    key[2],
                    key[3],
                    window_start,
                    window_end,
                    _float(row.get("value")),
                    key[4],
                    _float(row.get("lower")),
                    _float(row.get("upper")),
                    _float(row.get("threshold")),
                    row.get("status", "ok"),
                    json.dumps(row.get("detail") or {}, default=str),
                ),
            )
    return int(run_id)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    if "detail_json" in row:
        row["detail"] = json.loads(row.pop("detail_json") or "{}")
    if "summary_json" in row:
        row["summary"] = json.loads(row.pop("summary_json") or "{}")
    return row


def query_metrics(
    store: Store,
    *,
    metric: str | None = None,
    scope: str | None = None,
    model: str | None = None,
    check_name: str | None = None,
    kind: str | None = None,
    since: str | None = None,
    until: str | None = None,
    window_length_seconds: float | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Metric rows, oldest window first; metric and scope accept globs (conversion_rate, segment:device=*)."""
    clauses: list[str] = []
    parameters: list[str | float] = []
    for column, value in (("metric", metric), ("scope", scope)):
        if value:
            clauses.append(f"{column} GLOB ?")
            parameters.append(value)
    for column, value in (("model", model), ("check_name", check_name), ("kind", kind)):
        if value is not None:
            clauses.append(f"{column} = ?")
            parameters.append(value)
    if since:
        clauses.append("window_end > ?")
        parameters.append(since)
    if until:
        clauses.append("window_end <= ?")
        parameters.append(until)
    if window_length_seconds is not None:
        clauses.append("ABS((julianday(window_end) - julianday(window_start)) * 86400 - ?) < 1")
        parameters.append(window_length_seconds)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "ORDER BY window_end, metric, scope, kind"
    if limit:
        sql = f"SELECT * FROM (SELECT * FROM metrics {where} ORDER BY window_end DESC LIMIT {int(limit)}) {order}"
    else:
        sql = f"SELECT * FROM metrics {where} {order}"
    return [_decode(row) for row in store.query(sql, tuple(parameters))]


def list_runs(store: Store, *, model: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest monitoring runs first (optionally for one model; "" means data/KPI-only runs)."""
    if model is None:
        rows = store.query("SELECT * FROM monitor_runs ORDER BY window_end DESC, id DESC LIMIT ?", (limit,))
    else:
        rows = store.query(
            "SELECT * FROM monitor_runs WHERE model = ? ORDER BY window_end DESC, id DESC LIMIT ?",
            (model, limit),
        )
    return [_decode(row) for row in rows]


def newest_window_end(
    store: Store, *, model: str, source: str, length_seconds: float, not_after: str | None = None
) -> str | None:
    """The latest window end already monitored for this model, source and window length.

    not_after ignores runs whose window ends later (a future window stored by an older version must not make
    every later run a back-fill).
    """
    bound = "" if not_after is None else " AND window_end <= ?"
    rows = store.query(
        "SELECT MAX(window_end) AS newest FROM monitor_runs WHERE model = ? AND source = ? "
        "AND ABS((julianday(window_end) - julianday(window_start)) * 86400 - ?) < 1" + bound,
        (model, source, length_seconds) if not_after is None else (model, source, length_seconds, not_after),
    )
    return rows[0]["newest"] if rows else None


def apply_retention(store: Store, days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete runs, metrics, resolved alerts and deliveries older than days (0 keeps everything)."""
    if days <= 0:
        return {"runs": 0, "metrics": 0, "alerts": 0, "deliveries": 0}
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="seconds")
    with store.transaction() as connection:
        metrics = connection.execute("DELETE FROM metrics WHERE window_end < ?", (cutoff,)).rowcount
        runs = connection.execute("DELETE FROM monitor_runs WHERE window_end < ?", (cutoff,)).rowcount
        deliveries = connection.execute("DELETE FROM deliveries WHERE at < ?", (cutoff,)).rowcount
        alerts = connection.execute(
            "DELETE FROM alerts WHERE state = 'resolved' AND resolved < ?", (cutoff,)
        ).rowcount
    return {"runs": runs, "metrics": metrics, "alerts": alerts, "deliveries": deliveries}


def series_rows(
    store: Store, metric: str, scope: str, since: str, kind: str | None = None
) -> list[dict[str, Any]]:
    """One metric's rows (id, window_end, value, lower, upper) from since on, through the metrics_series index."""
    sql = "SELECT id, window_end, value, lower, upper FROM metrics WHERE metric = ? AND scope = ? AND window_end >= ?"
    parameters: tuple[Any, ...] = (metric, scope, since)
    if kind is not None:
        sql += " AND kind = ?"
        parameters += (kind,)
    return store.query(sql, parameters)


def latest_window_end(store: Store, metric: str, scope_like: str = "%") -> str | None:
    """The newest window_end stored for a metric (scope a LIKE pattern), or None."""
    rows = store.query(
        "SELECT max(window_end) AS end_ FROM metrics WHERE metric = ? AND scope LIKE ?", (metric, scope_like)
    )
    return rows[0]["end_"] if rows else None


def window_rows(store: Store, metric_like: str, scope_like: str, window_end: str) -> list[dict[str, Any]]:
    """Every row of one window whose metric and scope match the LIKE patterns, oldest id first."""
    return store.query(
        "SELECT * FROM metrics WHERE metric LIKE ? AND scope LIKE ? AND window_end = ? ORDER BY id",
        (metric_like, scope_like, window_end),
    )


def monitored_through(store: Store) -> tuple[str | None, str | None]:
    """The newest window end any monitor run covered, and when the last run finished."""
    rows = store.query("SELECT max(window_end) AS through, max(finished) AS finished FROM monitor_runs")
    return (rows[0]["through"], rows[0]["finished"]) if rows else (None, None)
