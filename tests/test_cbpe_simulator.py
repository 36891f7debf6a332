"""Estimated performance tracks realized performance on a stable simulated shop, and raises nothing there."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from engine.events import commit_events
from engine.monitoring.run import run_monitor
from engine.simulator import simulate
from engine.train.run import train_and_register
from engine.workspace import Workspace, init_workspace

START = date(2026, 1, 5)
TRAINED_UNTIL = START + timedelta(days=28)
WINDOWS = 7
METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")


@pytest.fixture(scope="module")
def stable_shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A champion trained on four stable weeks; the next week's events (with labels) arrive afterwards."""
    ws, _ = init_workspace(tmp_path_factory.mktemp("stable-shop"))
    simulation = simulate(36, seed=11, scenario="stable", start=START, sessions_per_day=1000)
    cut = datetime(TRAINED_UNTIL.year, TRAINED_UNTIL.month, TRAINED_UNTIL.day, tzinfo=UTC)
    commit_events(ws, simulation.events.filter(pl.col("event_time") < cut), "train")
    train_and_register(ws, "conv", task="conversion", candidates="logistic", who="test")
    commit_events(ws, simulation.events.filter(pl.col("event_time") >= cut), "later")
    return ws


def test_estimates_bracket_realized_values_and_nothing_alerts(stable_shop: Workspace) -> None:
    inside: dict[str, int] = dict.fromkeys(METRICS, 0)
    accuracy_errors = []
    for day in range(1, WINDOWS + 1):
        payload = run_monitor(stable_shop, at=TRAINED_UNTIL + timedelta(days=day)).to_dict()
        assert payload["alerts"] == [], f"day {day}: a stable shop raised {payload['alerts']}"
        rows = next(check["metrics"] for check in payload["checks"] if check["name"] == "performance")
        by_kind = {(row["metric"], row["kind"]): row for row in rows}
        for metric in METRICS:
            estimated, realized = by_kind[(metric, "estimated")], by_kind[(metric, "realized")]
            assert estimated["lower"] <= estimated["value"] <= estimated["upper"]
            inside[metric] += estimated["lower"] <= realized["value"] <= estimated["upper"]
        accuracy_errors.append(
            by_kind[("accuracy", "estimated")]["value"] - by_kind[("accuracy", "realized")]["value"]
        )
    # A band of about two standard errors holds the realized value in most windows, not necessarily all.
    assert sum(inside.values()) >= 0.85 * WINDOWS * len(METRICS), inside
    assert min(inside.values()) >= WINDOWS - 2, inside
    assert inside["roc_auc"] == WINDOWS, inside
    assert abs(sum(accuracy_errors) / WINDOWS) < 0.01, accuracy_errors
