"""`shopctl forecast` end to end on a seeded event store, the stored forecasts, and `monitor run` scoring them."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from forecast_fixtures import START, WEEKDAY, seeded_events
from typer.testing import CliRunner

from console.cli.main import app
from engine.events import commit_events
from engine.store.db import open_store
from engine.store.forecasts import forecast_points, list_forecast_runs
from engine.workspace import Workspace, init_workspace

runner = CliRunner()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace, _ = init_workspace(tmp_path / "shop")
    commit_events(workspace, seeded_events(0, 111), "history")
    return workspace


def _forecast(ws: Workspace, *args: str) -> dict:
    result = runner.invoke(app, ["forecast", "-w", str(ws.root), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_forecast_by_category_backtests_and_stores(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "forecast.csv"
    payload = _forecast(ws, "--metric", "orders", "--by", "category", "--horizon", "2w", "--output", str(out))
    last = START + timedelta(days=111)
    assert payload["as_of"] == last.isoformat() and payload["series"] == ["books", "toys"]
    assert len(payload["forecasts"]) == 2 * 14
    first = payload["forecasts"][0]
    assert first["date"] == (last + timedelta(days=1)).isoformat()
    assert 0 <= first["lower"] <= first["value"] <= first["upper"]
    books_week = sum(p["value"] for p in payload["forecasts"] if p["series"] == "books")
    # 14 days of books at 20 a day times the weekday factors (mean 1.071)
    assert books_week == pytest.approx(20 * WEEKDAY.mean() * 14, rel=0.15)
    for series in ("books", "toys"):
        rows = [row for row in payload["backtest"] if row["series"] == series]
        assert {row["model"] for row in rows} == {"seasonal_naive", "ets", "theta", "ets_theta"}
        assert sum(row["chosen"] for row in rows) == 1 and all(row["windows"] == 4 for row in rows)
        chosen = next(row for row in rows if row["chosen"])
        assert chosen["mae"] == min(row["mae"] for row in rows)
        assert chosen["relative_mae"] < 1.0 and chosen["mase"] > 0
    written = pl.read_csv(out)
    assert written.height == 28 and written.columns == ["series", "date", "model", "value", "lower", "upper"]
    store = open_store(ws)
    runs = list_forecast_runs(store)
    assert len(runs) == 1 and runs[0]["by_column"] == "category" and runs[0]["horizon_days"] == 14
    points = forecast_points(store, runs[0]["id"])
    # Running it again replaces the same run: one run, the same points
    again = _forecast(ws, "--metric", "orders", "--by", "category", "--horizon", "2w")
    assert again["run_id"] == payload["run_id"] and len(list_forecast_runs(store)) == 1
    assert forecast_points(store, runs[0]["id"]) == points


def test_revenue_units_and_sessions_totals(ws: Workspace) -> None:
    day = (START + timedelta(days=110)).isoformat()
    frame = seeded_events(0, 111)
    on_day = frame.filter(pl.col("event_time").dt.date() <= date.fromisoformat(day))
    purchases = on_day.filter(pl.col("event_type") == "purchase")
    for metric in ("revenue", "units", "sessions"):
        payload = _forecast(ws, "--metric", metric, "--as-of", day, "--horizon", "7")
        assert payload["series"] == ["total"] and payload["as_of"] == day
        assert len(payload["forecasts"]) == 7
    # the series behind it: revenue is price x quantity of purchases, one value per day
    from engine.events import scan_events
    from engine.forecast.series import daily_series

    series = daily_series(scan_events(ws), "revenue", None, None, date.fromisoformat(day))[0]
    assert series.values.sum() == pytest.approx((purchases["price"] * purchases["quantity"]).sum())
    assert series.values.size == 111


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--horizon", "0"], "--horizon '0'"),
        (["--metric", "margin"], "--metric 'margin': unknown metric"),
        (["--by", "colour"], "--by 'colour'"),
        (["--as-of", "2020-01-01"], "no events on or before"),
        (["--as-of", "yesterday"], "expected a day as YYYY-MM-DD"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    ws: Workspace, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "f.csv"
    result = runner.invoke(app, ["forecast", "-w", str(ws.root), *args, "--output", str(out)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists() and list_forecast_runs(open_store(ws)) == []


def test_empty_store_is_an_input_error(tmp_path: Path) -> None:
    workspace, _ = init_workspace(tmp_path / "empty")
    result = runner.invoke(app, ["forecast", "-w", str(workspace.root)])
    assert result.exit_code == 2 and "event store is empty" in result.stderr


def _monitor(ws: Workspace) -> dict:
    result = runner.invoke(app, ["monitor", "run", "-w", str(ws.root), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_monitor_scores_forecasts_and_alerts_when_a_series_leaves_its_band(ws: Workspace) -> None:
    before = _monitor(ws)
    assert "forecast" not in {check["name"] for check in before["checks"]}  # nothing stored: skipped cleanly
    _forecast(ws, "--by", "category")
    # A week of actuals lands in which books sells nothing: outside its interval every day
    commit_events(ws, seeded_events(112, 118, silent=frozenset({"books"})), "week")
    run = _monitor(ws)
    assert set(run) == set(before)
    check = next(check for check in run["checks"] if check["name"] == "forecast")
    rows = {(row["metric"], row["scope"]): row for row in check["metrics"]}
    books = rows[("outside_days:orders", "series:category=books")]
    assert books["value"] == 7 and books["status"] == "warning"
    assert books["detail"]["scored_days"] == 7 and books["detail"]["actual"] == 0
    toys = rows[("outside_days:orders", "series:category=toys")]
    assert toys["value"] < 3
    mae = rows[("forecast_mae:orders", "series:category=books")]
    assert mae["status"] == "warning" and mae["value"] > 1.5 * mae["upper"]
    alerts = [alert for alert in run["alerts"] if alert["rule"] == "forecast-interval"]
    assert [alert["scope"] for alert in alerts] == ["series:category=books"]
