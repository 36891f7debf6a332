"""`shopctl forecast`: daily series from the event store, a backtested model per series, forecasts stored.

Everything the user can get wrong (metric, split column, horizon, as-of day, output suffix, an empty window) is
checked before any work is written; the output file and the store are each written in one atomic step.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from engine.clock import now_text
from engine.errors import InputError
from engine.forecast.backtest import MIN_DAYS, backtest
from engine.forecast.models import make_model
from engine.forecast.series import (
    check_by,
    check_metric,
    daily_series,
    last_complete_day,
    newest_event_time,
)
from engine.infra.atomic import atomic_write_with
from engine.store.db import open_store
from engine.store.forecasts import save_forecast
from engine.workspace import Workspace

LEVEL = 0.95
WINDOWS = 4
MAX_SERIES = 25  # the largest groups by volume; a split by product would otherwise make thousands
OUTPUT_FORMATS = (".csv", ".parquet", ".jsonl")


def _parse_day(text: str | date | None, source: str) -> date | None:
    if text is None or isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise InputError(f"{source} {text!r}: expected a day as YYYY-MM-DD") from None


def _check_output(output: str | Path | None) -> Path | None:
    if output is None:
        return None
    path = Path(output)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise InputError(f"--output {path}: unknown file type; end the name in {', '.join(OUTPUT_FORMATS)}")
    if not path.parent.exists():
        raise InputError(f"--output {path}: folder {path.parent} does not exist; create it first")
    return path


def _write_output(path: Path, points: list[dict[str, Any]]) -> None:
    frame = pl.DataFrame(
        points,
        schema={
            "series": pl.String,
            "date": pl.String,
            "model": pl.String,
            "value": pl.Float64,
            "lower": pl.Float64,
            "upper": pl.Float64,
        },
    )
    suffix = path.suffix.lower()

    def write(tmp: Path) -> None:
        if suffix == ".parquet":
            frame.write_parquet(tmp)
        elif suffix == ".jsonl":
            frame.write_ndjson(tmp)
        else:
            frame.write_csv(tmp)

    atomic_write_with(path, write, suffix=suffix)


def forecast_series(
    values: np.ndarray, first_day: date, horizon: int, windows: int = WINDOWS, level: float = LEVEL
) -> tuple[list[dict[str, Any]], Any]:
    """Backtest, pick, refit on the whole series, forecast; (points without the series name, BacktestResult)."""
    result = backtest(values, horizon, windows, level)
    model = make_model(result.chosen).fit(values)
    forecast = model.predict(horizon, level)
    start = first_day + timedelta(days=values.size)
    points = [
        {
            "date": (start + timedelta(days=step)).isoformat(),
            "model": result.chosen,
            # Demand is never negative: a band reaching below zero is cut at zero.
            "value": max(float(forecast.value[step]), 0.0),
            "lower": max(float(forecast.lower[step]), 0.0),
            "upper": max(float(forecast.upper[step]), 0.0),
        }
        for step in range(horizon)
    ]
    return points, result


def run_forecast(
    ws: Workspace,
    *,
    metric: str = "orders",
    by: str | None = None,
    horizon: int = 28,
    as_of: str | date | None = None,
    output: str | Path | None = None,
    windows: int = WINDOWS,
    who: str = "cli",
    save: bool = True,
) -> dict[str, Any]:
    """Forecast metric per series for `horizon` days after the as-of day; the `shopctl forecast --json` payload."""
    from engine.events import scan_events

    check_metric(metric)
    if horizon < 1:
        raise InputError(f"--horizon {horizon}: must be at least one day, e.g. 28d")
    as_of_day = _parse_day(as_of, "--as-of")
    output_path = _check_output(output)
    events = scan_events(ws)
    by_column = check_by(events, by)
    newest = newest_event_time(events)
    if newest is None:
        raise InputError(f"{ws.root}: the event store is empty; ingest events first (shopctl ingest FILE)")
    last = as_of_day or last_complete_day(newest)
    series_list = daily_series(events, metric, by_column, None, last)
    if not series_list:
        raise InputError(
            f"--as-of {last.isoformat()}: no events on or before that day (the data starts later); "
            "pass a later --as-of"
        )
    series_list.sort(key=lambda item: (-float(item.values.sum()), item.name))
    dropped = [item.name for item in series_list[MAX_SERIES:]]
    series_list = series_list[:MAX_SERIES]
    points: list[dict[str, Any]] = []
    backtest_rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for item in series_list:
        if not item.values.any():
            skipped.append({"series": item.name, "reason": f"no {metric} in its history"})
            continue
        if item.values.size < MIN_DAYS:
            skipped.append(
                {
                    "series": item.name,
                    "reason": f"{item.values.size} days of history; at least {MIN_DAYS} needed",
                }
            )
            continue
        series_points, result = forecast_series(item.values, item.first, horizon, windows)
        points += [{"series": item.name, **point} for point in series_points]
        backtest_rows += result.to_rows(item.name)
    if not points:
        raise InputError(
            f"--as-of {last.isoformat()}: every series has fewer than {MIN_DAYS} days of events; "
            "pass a later --as-of or ingest more history"
        )
    payload: dict[str, Any] = {
        "metric": metric,
        "by": by_column,
        "as_of": last.isoformat(),
        "horizon_days": horizon,
        "level": LEVEL,
        "windows": windows,
        "series": [item.name for item in series_list if item.name not in {s["series"] for s in skipped}],
        "skipped": skipped,
        "dropped_series": dropped,
        "forecasts": points,
        "backtest": backtest_rows,
        "run_id": None,
        "output": None,
    }
    if output_path is not None:
        _write_output(output_path, points)
        payload["output"] = str(output_path)
    if save:
        payload["run_id"] = save_forecast(
            open_store(ws),
            metric=metric,
            by_column=by_column or "",
            as_of=last.isoformat(),
            horizon_days=horizon,
            level=LEVEL,
            created=now_text(),
            created_by=who,
            backtest=backtest_rows,
            points=[{**point, "day": point["date"]} for point in points],
        )
    return payload
