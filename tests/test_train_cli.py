"""`shopctl train` and engine.train.run.train_and_register: the JSON payload, registration, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.errors import InputError, IntegrityError
from engine.registry import Registry
from engine.train.run import _task_table, parse_candidates, train_and_register
from engine.workspace import Workspace, init_workspace

runner = CliRunner()


def _table(path: Path, rows: int = 600) -> Path:
    rng = np.random.default_rng(4)
    pages = rng.poisson(6, rows)
    value = rng.exponential(8, rows)
    visitor = rng.choice(["New_Visitor", "Returning_Visitor"], rows)
    chance = 1 / (1 + np.exp(-(-3 + 0.15 * value + 0.1 * pages)))
    bought = np.where(rng.random(rows) < chance, "yes", "no")
    pl.DataFrame({"pages": pages, "value": value, "VisitorType": visitor, "bought": bought}).write_csv(path)
    return path


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    return init_workspace(tmp_path / "shop")[0]


def _train(workspace: Workspace, *args: str) -> object:
    return runner.invoke(app, ["train", *args, "-w", str(workspace.root)])


def test_train_table_json_payload_and_registration(workspace: Workspace, tmp_path: Path) -> None:
    table = _table(tmp_path / "sessions.csv")
    result = _train(
        workspace,
        "shop",
        "--table",
        str(table),
        "--target",
        "bought",
        "--candidates",
        "logistic,hgb",
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["name"] == "shop" and payload["version"] == 1
    assert payload["model"] in {"logistic", "hgb"}
    for part in ("validation", "test"):
        assert {"roc_auc", "pr_auc", "f1", "accuracy", "log_loss", "brier"} <= set(payload["metrics"][part])
    assert set(payload["candidates"]) == {"logistic", "hgb"}
    assert 0 <= payload["parity_max_abs_diff"] < 1e-4
    version = Registry(workspace).get("shop")
    metadata = version.metadata
    assert metadata["chosen"] == payload["model"] and metadata["threshold"] == payload["threshold"]
    assert [item["name"] for item in metadata["inputs"]] == ["pages", "value", "VisitorType"]
    assert metadata["output"] == {"name": "probabilities", "column": 1}
    assert metadata["spec"]["target"] == "bought"
    assert version.profile  # the reference profile was stored beside the model


def test_human_output_lists_candidates(workspace: Workspace, tmp_path: Path) -> None:
    table = _table(tmp_path / "sessions.csv")
    result = _train(
        workspace, "shop", "--table", str(table), "--target", "bought", "--candidates", "logistic"
    )
    assert result.exit_code == 0, result.output
    assert "registered shop v1 (logistic, champion)" in result.stdout
    assert "logistic" in result.stdout and "test" in result.stdout


def _one_line_error(result: object, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[-1]


def test_unknown_task_exits_2(workspace: Workspace) -> None:
    _one_line_error(
        _train(workspace, "conversoin"), "unknown task 'conversoin'", "--table FILE --target COLUMN"
    )


def test_missing_target_column_exits_2(workspace: Workspace, tmp_path: Path) -> None:
    table = _table(tmp_path / "sessions.csv", rows=50)
    _one_line_error(
        _train(workspace, "shop", "--table", str(table), "--target", "Revenue"),
        "no target column 'Revenue'",
        "pages, value, VisitorType, bought",
    )


def test_empty_table_exits_2(workspace: Workspace, tmp_path: Path) -> None:
    table = tmp_path / "empty.csv"
    table.write_text("pages,value,bought\n")
    _one_line_error(_train(workspace, "shop", "--table", str(table), "--target", "bought"), "no rows")


def test_table_without_target_and_unknown_candidate_exit_2(workspace: Workspace, tmp_path: Path) -> None:
    table = _table(tmp_path / "sessions.csv", rows=50)
    _one_line_error(_train(workspace, "shop", "--table", str(table)), "needs --target COLUMN")
    _one_line_error(
        _train(workspace, "shop", "--table", str(table), "--target", "bought", "--candidates", "xgb"),
        "unknown candidate(s) xgb",
    )


def test_parse_candidates() -> None:
    assert parse_candidates(None, ["logistic", "hgb"]) == ["logistic", "hgb"]
    assert parse_candidates("", ["mlp"]) == ["mlp"]
    assert parse_candidates("hgb, stack,hgb", []) == ["hgb", "stack"]
    with pytest.raises(InputError, match="none given"):
        parse_candidates(",", [])


def test_interrupted_training_registers_nothing(workspace: Workspace, tmp_path: Path) -> None:
    table = _table(tmp_path / "sessions.csv", rows=300)

    def interrupt(message: str, _done: int, _total: int) -> None:
        if message.startswith("exporting"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_register(
            workspace, "shop", table=table, target="bought", candidates="logistic", progress=interrupt
        )
    assert Registry(workspace).names() == []
    assert not any(path.name.startswith(".staging") for path in workspace.registry_dir.rglob("*"))


def test_parity_above_tolerance_refuses_to_register(workspace: Workspace, tmp_path: Path) -> None:
    table = _table(tmp_path / "sessions.csv", rows=300)
    config = workspace.config_path.read_text().replace("parity_tolerance = 1e-4", "parity_tolerance = 1e-15")
    workspace.config_path.write_text(config)
    workspace = Workspace(workspace.root)
    with pytest.raises(IntegrityError, match="parity_tolerance"):
        train_and_register(workspace, "shop", table=table, target="bought", candidates="hgb")
    assert Registry(workspace).names() == []


def test_tasks_train_from_events(workspace: Workspace) -> None:
    from engine.events import commit_events
    from engine.simulator import simulate

    commit_events(
        workspace, simulate(40, seed=3, sessions_per_day=200, start="2026-01-05").events, "test-ingest"
    )
    conversion = train_and_register(workspace, "conversion", task="conversion", candidates="logistic,hgb")
    assert conversion["split"]["method"] == "time"
    assert conversion["metrics"]["test"]["roc_auc"] > 0.7
    assert Registry(workspace).get("conversion").metadata["spec"]["target"] == "converted"
    churn = train_and_register(workspace, "churn", task="churn", candidates="logistic", horizon_days=10)
    assert churn["target"] == "churned" and churn["source"]["horizon_days"] == 10
    churn_table, churn_spec, _ = _task_table(workspace, "churn", None, 10)
    repurchase_table, repurchase_spec, _ = _task_table(workspace, "repurchase", None, 10)
    assert (churn_spec.target, repurchase_spec.target) == ("churned", "repurchased")
    assert (churn_table["churned"] == 1 - repurchase_table["repurchased"]).all()
    assert conversion["source"]["table"] == "events"  # nothing built yet: computed from the event store


def test_tasks_train_from_the_built_feature_tables_when_current(workspace: Workspace) -> None:
    from engine.events import commit_events
    from engine.features import build_features, session_features
    from engine.simulator import simulate

    simulation = simulate(30, seed=5, sessions_per_day=150, start="2026-01-05")
    commit_events(workspace, simulation.events, "test-ingest")
    build_features(workspace)
    frame, _, source = _task_table(workspace, "conversion", None, None)
    assert source["table"] == str(workspace.features_dir / "sessions.parquet")
    direct = session_features(simulation.events.lazy(), list(workspace.settings.schema.dimensions)).collect()
    assert frame.height == direct.height and frame["session_id"].to_list() == direct["session_id"].to_list()
    users, _, user_source = _task_table(workspace, "repurchase", None, None)
    assert user_source["table"].endswith("users.parquet") and users.height > 0
    # A newer event makes the built tables stale: back to the event store.
    later = simulation.events.tail(1).with_columns(pl.col("event_time") + pl.duration(days=1))
    commit_events(workspace, later, "test-ingest-2")
    assert _task_table(workspace, "conversion", None, None)[2]["table"] == "events"


def test_spend_reports_the_bgnbd_gg_baseline_beside_the_candidates(workspace: Workspace) -> None:
    from engine.customers.clv import clv_table
    from engine.customers.rfm import orders
    from engine.events import commit_events, scan_events
    from engine.simulator import simulate
    from models.metrics import regression_metrics

    commit_events(workspace, simulate(40, seed=3, sessions_per_day=200).events, "test-ingest")
    result = _train(workspace, "spend", "--candidates", "logistic", "--horizon", "10", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    baseline = payload["baselines"]["bgnbd_gg"]
    assert baseline["test"]["rows"] == payload["candidates"]["logistic"]["test"]["rows"]
    assert "bgnbd_gg" not in payload["candidates"] and payload["model"] == "logistic"  # reported, not chosen
    # The same figure recomputed by hand: fit on the orders before the cutoff, CLV over the horizon, test rows.
    from datetime import datetime

    cutoff = datetime.fromisoformat(payload["source"]["cutoff"])
    table, model = clv_table(orders(scan_events(workspace), cutoff), cutoff, 10)
    assert model is not None
    users, _, _ = _task_table(workspace, "spend", cutoff, 10)
    test_ids = set(users.filter(pl.col("cutoff") == cutoff)["user_id"].to_list())
    assert set(table["user_id"].to_list()) == test_ids  # the baseline knows every customer of the table
    joined = users.join(table, on="user_id")
    overall = regression_metrics(joined["future_spend"].to_numpy(), joined["clv"].to_numpy(), 0.0)
    assert np.isfinite(overall["spearman"]) and np.isfinite(baseline["test"]["mae"])
    text = _train(workspace, "spend", "--candidates", "logistic", "--horizon", "10", "--name", "spend2")
    assert "bgnbd_gg" in text.stdout and "baseline, not registered" in text.stdout


def test_spend_without_money_exits_2(workspace: Workspace, tmp_path: Path) -> None:
    from engine.ingest import IngestOptions, ingest_files

    log = tmp_path / "log.csv"
    log.write_text("customer_id,date\n" + "".join(f"c{i % 30},2026-01-{1 + i % 27:02d}\n" for i in range(90)))
    ingest_files(workspace, [log], IngestOptions(preset="transactions"))
    result = _train(workspace, "spend")
    assert result.exit_code == 2 and "has no money" in result.stderr and "Traceback" not in result.stderr
    assert Registry(workspace).names() == []


def test_empty_user_table_is_an_input_error(workspace: Workspace) -> None:
    from engine.events import commit_events
    from engine.simulator import simulate

    commit_events(
        workspace, simulate(3, seed=3, sessions_per_day=50, start="2026-01-05").events, "test-ingest"
    )
    with pytest.raises(InputError, match="repurchase table is empty"):
        train_and_register(workspace, "repurchase", task="repurchase", cutoff="2000-01-01")


def test_task_without_events_is_an_input_error(workspace: Workspace) -> None:
    with pytest.raises(InputError, match="no events yet"):
        train_and_register(workspace, "conversion", task="conversion")
