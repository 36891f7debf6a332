"""Stored demand forecasts: a run per (metric, split, as-of day, horizon) with its backtest, and its points.

Saving the same run again replaces it (and its points) in one transaction, so a re-run changes nothing and a
reader never sees a run with half its points.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.store.db import Store

POINT_COLUMNS = ("series", "day", "model", "value", "lower", "upper")


def save_forecast(
    store: Store,
    *,
    metric: str,
    by_column: str,
    as_of: str,
    horizon_days: int,
    level: float,
    created: str,
    created_by: str,
    backtest: Sequence[dict[str, Any]],
    points: Sequence[dict[str, Any]],
) -> int:
    """Insert or replace one forecast run and all its points; returns the run id."""
    with store.transaction() as connection:
        run_id = connection.execute(
            """
            INSERT INTO forecast_runs (metric, by_column, as_of, horizon_days, level, created, created_by,
                                       backtest_json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (metric, by_column, as_of, horizon_days) DO UPDATE SET
                level = excluded.level, created = excluded.created, created_by = excluded.created_by,
                backtest_json = excluded.backtest_json
            RETURNING id
            """,
            (metric, by_column, as_of, horizon_days, level, created, created_by, json.dumps(list(backtest))),
        ).fetchone()[0]
        connection.execute("DELETE FROM forecast_points WHERE run_id = ?", (run_id,))
        connection.executemany(
            f"INSERT INTO forecast_points (run_id, {', '.join(POINT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, *(point[column] for column in POINT_COLUMNS)) for point in points],
        )
    return int(run_id)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["backtest"] = json.loads(row.pop("backtest_json") or "[]")
    return row


def list_forecast_runs(store: Store, *, limit: int = 50) -> list[dict[str, Any]]:
    """Forecast runs, newest as-of day first."""
    rows = store.query(
        "SELECT * FROM forecast_runs ORDER BY as_of DESC, created DESC, id DESC LIMIT ?", (int(limit),)
    )
    return [_decode(row) for row in rows]


def newest_runs(store: Store) -> list[dict[str, Any]]:
    """The newest run of each forecast an operator asked for: one per (metric, split, horizon)."""
    rows = store.query(
        """
        SELECT r.* FROM forecast_runs AS r
        WHERE r.id = (
            SELECT r2.id FROM forecast_runs AS r2
            WHERE r2.metric = r.metric AND r2.by_column = r.by_column AND r2.horizon_days = r.horizon_days
            ORDER BY r2.as_of DESC, r2.created DESC, r2.id DESC LIMIT 1
        )
        ORDER BY r.metric, r.by_column, r.horizon_days
        """
    )
    return [_decode(row) for row in rows]


def runs_in_effect(store: Store, last_actual_day: str) -> list[dict[str, Any]]:
    """Per (metric, split), the newest run whose first forecast day has actuals by last_actual_day."""
    rows = store.query(
        """
        SELECT r.* FROM forecast_runs AS r
        WHERE r.as_of < ?
          AND r.id = (
              SELECT r2.id FROM forecast_runs AS r2
              WHERE r2.metric = r.metric AND r2.by_column = r.by_column AND r2.as_of < ?
              ORDER BY r2.as_of DESC, r2.created DESC, r2.id DESC LIMIT 1
          )
        ORDER BY r.metric, r.by_column
        """,
        (last_actual_day, last_actual_day),
    )
    return [_decode(row) for row in rows]


def forecast_points(store: Store, run_id: int) -> list[dict[str, Any]]:
    """A run's points ordered by series and day."""
    return store.query(
        f"SELECT {', '.join(POINT_COLUMNS)} FROM forecast_points WHERE run_id = ? ORDER BY series, day",
        (int(run_id),),
    )
