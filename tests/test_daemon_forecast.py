"""The daemon's forecast and experiments tasks, and the `skipped` outcome for a task with nothing to do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from forecast_fixtures import START, seeded_events
from test_daemon_support import make_workspace

from engine.events import commit_events
from engine.forecast.run import run_forecast
from engine.scheduling import run_job_now
from engine.store.db import open_store
from engine.store.forecasts import list_forecast_runs, newest_runs, save_forecast
from engine.workspace import Workspace

JOBS = """
[schedule.jobs.forecast]
trigger = "cron"
cron = "15 0 * * *"
[schedule.jobs.experiments]
hours = 6
"""
LAST = 111  # the fixture's last day, after START: the newest complete day


def _workspace(tmp_path: Path, last_day: int = LAST) -> Workspace:
    ws = make_workspace(tmp_path / "shop", JOBS)
    commit_events(ws, seeded_events(0, last_day), "history")
    return ws


def test_with_no_forecast_stored_the_job_is_skipped_with_the_reason(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    run = run_job_now(ws, "forecast")
    assert run["status"] == "skipped"
    assert "no forecast stored yet" in run["error"] and "shopctl forecast" in run["error"]
    assert list_forecast_runs(open_store(ws)) == []


def test_stale_forecasts_are_refreshed_once_and_then_skipped_as_current(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    stale = (START + timedelta(days=LAST - 10)).isoformat()
    run_forecast(ws, metric="orders", horizon=14, as_of=stale)
    run_forecast(ws, metric="revenue", by="category", horizon=7, as_of=stale)

    run = run_job_now(ws, "forecast")

    through = (START + timedelta(days=LAST)).isoformat()
    assert run["status"] == "ok", run
    assert run["produced"]["through"] == through
    refreshed = {item["forecast"]: item for item in run["produced"]["refreshed"]}
    assert set(refreshed) == {"orders by total (14d)", "revenue by category (7d)"}
    assert all(item["as_of"] == through for item in refreshed.values())
    newest = {
        (row["metric"], row["by_column"], row["horizon_days"]): row for row in newest_runs(open_store(ws))
    }
    assert {key: row["as_of"] for key, row in newest.items()} == {
        ("orders", "", 14): through,
        ("revenue", "category", 7): through,
    }
    assert all(row["created_by"] == "daemon:forecast" for row in newest.values())
    assert len(list_forecast_runs(open_store(ws))) == 4  # the stale runs stay: monitor run scores them

    again = run_job_now(ws, "forecast")
    assert (
        again["status"] == "skipped"
        and f"every stored forecast is current (as of {through})" in again["error"]
    )
    assert len(list_forecast_runs(open_store(ws))) == 4

    # A new day lands: the next run forecasts from it.
    commit_events(ws, seeded_events(LAST + 1, LAST + 1), "next day")
    later = run_job_now(ws, "forecast")
    assert (
        later["status"] == "ok"
        and later["produced"]["through"] == (START + timedelta(days=LAST + 1)).isoformat()
    )


def test_one_failing_forecast_is_named_and_does_not_stop_the_others(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    stale = (START + timedelta(days=LAST - 5)).isoformat()
    run_forecast(ws, metric="orders", horizon=7, as_of=stale)
    # A split whose column the events no longer carry (the tracker dropped it): that forecast cannot run again.
    save_forecast(
        open_store(ws),
        metric="orders",
        by_column="campaign",
        as_of=stale,
        horizon_days=7,
        level=0.9,
        created="2026-04-01T00:00:00+00:00",
        created_by="cli",
        backtest=[],
        points=[],
    )

    run = run_job_now(ws, "forecast")

    assert run["status"] == "failed" and "orders by campaign (7d)" in run["error"]
    assert [item["forecast"] for item in run["produced"]["refreshed"]] == ["orders by total (7d)"]


def test_experiments_job_with_nothing_running_is_skipped(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, last_day=20)
    run = run_job_now(ws, "experiments")
    assert run["status"] == "skipped" and "no running experiment" in run["error"]
    assert run["produced"] == {"analysed": [], "failed": []}
