"""Model checks join in when a champion exists: drift of the traffic mix, performance, and --input batches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from engine.events import commit_events, scan_events
from engine.features import session_features
from engine.monitoring.report import metric_history
from engine.monitoring.run import run_monitor
from engine.simulator import simulate
from engine.train.run import train_and_register
from engine.workspace import Workspace, init_workspace

START = date(2026, 1, 5)
CHANGE = START + timedelta(days=29)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A shop whose champion was trained before a traffic shift; the events after it arrive later."""
    ws, _ = init_workspace(tmp_path_factory.mktemp("model-shop"))
    sim = simulate(
        32, seed=5, scenario="traffic_shift", start=START, sessions_per_day=700, scenario_day=CHANGE
    )
    change = datetime(CHANGE.year, CHANGE.month, CHANGE.day, tzinfo=UTC)
    commit_events(ws, sim.events.filter(pl.col("event_time") < change), "before")
    train_and_register(ws, "conv", task="conversion", candidates="logistic", who="test")
    commit_events(ws, sim.events.filter(pl.col("event_time") >= change), "after")
    return ws


def _by_key(payload: dict, check: str) -> dict[tuple[str, str, str], dict]:
    rows = next((c["metrics"] for c in payload["checks"] if c["name"] == check), [])
    return {(row["metric"], row["scope"], row["kind"]): row for row in rows}


def test_traffic_shift_drifts_channel_and_device(shop: Workspace) -> None:
    before = _by_key(run_monitor(shop, at=CHANGE).to_dict(), "drift")
    after_payload = run_monitor(shop, at=CHANGE + timedelta(days=1)).to_dict()
    after = _by_key(after_payload, "drift")
    assert after_payload["models"][0]["name"] == "conv"
    for feature in ("channel", "device"):
        key = ("drift_score", f"feature:{feature}", "realized")
        assert after[key]["status"] == "warning", after[key]
        assert before[key]["status"] == "ok", before[key]
    channel = after[("drift_score", "feature:channel", "realized")]["detail"]
    assert "social" in channel["current"]["labels"]
    assert sum(channel["current"]["shares"]) == pytest.approx(1.0)
    assert channel["reference"]["labels"] == channel["current"]["labels"]
    weekday = after[("drift_score", "feature:weekday", "realized")]
    assert weekday["status"] == "skipped" and "calendar" in weekday["detail"]["reason"]
    performance = _by_key(after_payload, "performance")
    assert {("roc_auc", "model:conv", "estimated"), ("roc_auc", "model:conv", "realized")} <= set(performance)
    realized = performance[("roc_auc", "model:conv", "realized")]
    assert realized["lower"] < realized["value"] < realized["upper"]
    assert realized["detail"]["reference"] is not None
    kpi = _by_key(after_payload, "kpi")
    assert kpi[("predicted_conversion", "overall", "estimated")]["model"] == "conv"


def test_input_batch_estimated_then_realized(shop: Workspace, tmp_path: Path) -> None:
    dims = list(shop.settings.schema.dimensions)
    start = datetime(CHANGE.year, CHANGE.month, CHANGE.day, tzinfo=UTC) + timedelta(days=1)
    table = (
        session_features(scan_events(shop), dims)
        .filter((pl.col("session_start") >= start) & (pl.col("session_start") < start + timedelta(days=1)))
        .collect()
    )
    batch = tmp_path / "batch.parquet"
    table.drop("converted").write_parquet(batch)
    first = run_monitor(shop, model="conv", input_path=batch).to_dict()
    assert first["source"] == str(batch.resolve())
    assert first["window"]["start"].startswith(start.date().isoformat())
    names = {check["name"] for check in first["checks"]}
    assert {"quality", "drift", "performance"} <= names and "kpi" not in names
    kinds = {key[2] for key in _by_key(first, "performance")}
    assert kinds == {"estimated"}

    table.write_parquet(batch)  # the labels arrived
    second = run_monitor(shop, model="conv", input_path=batch).to_dict()
    assert second["run_id"] == first["run_id"]
    history = metric_history(shop, metric="roc_auc", model="conv", since=start.date().isoformat())
    assert {row["kind"] for row in history if row["window_end"] == second["window"]["end"]} == {
        "estimated",
        "realized",
    }


def test_input_needs_a_model_and_a_readable_file(shop: Workspace, tmp_path: Path) -> None:
    from engine.errors import InputError, NotFoundError

    with pytest.raises(InputError, match="no such file"):
        run_monitor(shop, model="conv", input_path=tmp_path / "missing.parquet")
    with pytest.raises(NotFoundError, match="nope"):
        path = tmp_path / "x.csv"
        path.write_text("a\n1\n")
        run_monitor(shop, model="nope", input_path=path)
