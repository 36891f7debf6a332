"""Score stored forecasts against the actuals that have landed since (what `monitor run` adds as `forecast`).

For each (metric, split) the forecast in effect is the newest whose first day has actuals. Per series it gives
two metric rows (check `forecast`, scope `series:<name>`):

- `outside_days:<metric>`: how many days in a row, ending at the last complete day, the actual lay outside the
  forecast's interval (status warning when the last day did). The `forecast-interval` alert rule fires at 3.
- `forecast_mae:<metric>`: the mean absolute error so far, with the backtest's per-window MAE range as its band
  and the backtest MAE as threshold (status warning above 1.5 x the band's top after a full week).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from engine.forecast.series import TOTAL, daily_series, last_complete_day, newest_event_time
from engine.store.db import Store
from engine.store.forecasts import forecast_points, runs_in_effect

MIN_DAYS_FOR_MAE = 7
# A few weeks' MAE is noisier than the backtest's 28-day windows: warn only well above the worst window.
MAE_TOLERANCE = 1.5


def series_scope(by_column: str, series: str) -> str:
    """`series:total` for the shop's total, `series:<column>=<value>` for a split."""
    return f"series:{series}" if not by_column or series == TOTAL else f"series:{by_column}={series}"


def _row(metric: str, scope: str, value: float | None, **fields: Any) -> dict[str, Any]:
    return {
        "check_name": "forecast",
        "metric": metric,
        "scope": scope,
        "model": "",
        "value": value,
        "kind": "realized",
        "lower": fields.get("lower"),
        "upper": fields.get("upper"),
        "threshold": fields.get("threshold"),
        "status": fields.get("status", "ok"),
        "detail": fields.get("detail", {}),
    }


def scored_days(points: list[dict[str, Any]], actuals: dict[str, float]) -> list[dict[str, Any]]:
    """Each forecast day that has an actual: day, actual, value, lower, upper, error, outside."""
    days = []
    for point in points:
        if point["day"] not in actuals:
            continue
        actual = actuals[point["day"]]
        days.append(
            {
                "day": point["day"],
                "actual": actual,
                "value": point["value"],
                "lower": point["lower"],
                "upper": point["upper"],
                "error": actual - point["value"],
                "outside": not (point["lower"] <= actual <= point["upper"]),
            }
        )
    return days


def _series_rows(run: dict[str, Any], series: str, days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    metric, scope = run["metric"], series_scope(run["by_column"], series)
    chosen: dict[str, Any] = next(
        (row for row in run["backtest"] if row["series"] == series and row.get("chosen")),
        {},
    )
    base = {
        "forecast_run": run["id"],
        "as_of": run["as_of"],
        "model": chosen.get("model"),
        "scored_days": len(days),
        "last_day": days[-1]["day"],
    }
    streak = 0
    for day in reversed(days):
        if not day["outside"]:
            break
        streak += 1
    last = days[-1]
    outside_row = _row(
        f"outside_days:{metric}",
        scope,
        float(streak),
        lower=last["lower"],
        upper=last["upper"],
        status="warning" if last["outside"] else "ok",
        detail={
            **base,
            "actual": last["actual"],
            "forecast": last["value"],
            "days_outside": sum(day["outside"] for day in days),
            "coverage": 1 - sum(day["outside"] for day in days) / len(days),
            "level": run["level"],
        },
    )
    mae = sum(abs(day["error"]) for day in days) / len(days)
    band = chosen.get("window_mae") or []
    upper = max(band) if band else None
    judged = upper is not None and len(days) >= MIN_DAYS_FOR_MAE
    mae_row = _row(
        f"forecast_mae:{metric}",
        scope,
        mae,
        lower=min(band) if band else None,
        upper=upper,
        threshold=chosen.get("mae"),
        status=("warning" if mae > MAE_TOLERANCE * upper else "ok") if judged and upper is not None else "ok",
        detail={
            **base,
            "bias": sum(day["error"] for day in days) / len(days),
            "backtest_mae": chosen.get("mae"),
            "ratio_to_backtest": mae / chosen["mae"] if chosen.get("mae") else None,
            "judged": judged,
        },
    )
    return [outside_row, mae_row]


def score_run(
    run: dict[str, Any], points: list[dict[str, Any]], events: pl.LazyFrame, last_day: date
) -> dict[str, list[dict[str, Any]]]:
    """Per series of one stored run, the scored days up to last_day."""
    first = date.fromisoformat(run["as_of"]) + timedelta(days=1)
    last = min(last_day, date.fromisoformat(run["as_of"]) + timedelta(days=int(run["horizon_days"])))
    if last < first:
        return {}
    actual_series = daily_series(events, run["metric"], run["by_column"] or None, first, last)
    by_name = {
        item.name: {
            day.isoformat(): float(value) for day, value in zip(item.days(), item.values, strict=True)
        }
        for item in actual_series
    }
    zeros = {(first + timedelta(days=k)).isoformat(): 0.0 for k in range((last - first).days + 1)}
    scored: dict[str, list[dict[str, Any]]] = {}
    for series in sorted({point["series"] for point in points}):
        own = [point for point in points if point["series"] == series]
        days = scored_days(own, {**zeros, **by_name.get(series, {})})
        if days:
            scored[series] = days
    return scored


def forecast_rows(store: Store, events: pl.LazyFrame, until: datetime | None = None) -> list[dict[str, Any]]:
    """Metric rows scoring every forecast in effect; [] when none is stored or no actuals have landed yet."""
    newest = newest_event_time(events.filter(pl.col("event_time") < until) if until else events)
    if newest is None:
        return []
    last_day = last_complete_day(newest, datetime.now(UTC))
    rows = []
    for run in runs_in_effect(store, (last_day + timedelta(days=1)).isoformat()):
        scored = score_run(run, forecast_points(store, run["id"]), events, last_day)
        for series, days in scored.items():
            rows += _series_rows(run, series, days)
    return rows
