"""The Spark engine on a real local[2] session: scores bitwise equal to local scoring for every champion kind,
drift equal to the local report, bad input as one line and exit 2. One SparkSession for the whole module."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.errors import InputError
from engine.events import commit_events, scan_events
from engine.features import session_features
from engine.monitoring.drift import drift_report
from engine.registry import Registry
from engine.scoring import score_file
from engine.simulator import simulate
from engine.spark.drift import spark_drift_report
from engine.spark.scoring import spark_score
from engine.spark.session import EngineError, spark_session
from engine.train.run import train_and_register
from engine.workspace import Workspace, init_workspace

runner = CliRunner()
CANDIDATES = ("logistic", "hgb", "mlp", "stack")
COPIES = 30  # ~2,800 simulated sessions x 30 = ~85k rows per copy set; perturbed so copies differ


@pytest.fixture(scope="module")
def spark() -> Any:
    session = spark_session(
        None,
        "local[2]",
        conf={"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g", "spark.ui.enabled": "false"},
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A small simulated shop with one champion per candidate kind."""
    ws, _ = init_workspace(tmp_path_factory.mktemp("spark-shop") / "ws")
    commit_events(ws, simulate(7, seed=5, start=date(2026, 1, 5), sessions_per_day=400).events, "sim")
    for candidate in CANDIDATES:
        train_and_register(ws, f"conv_{candidate}", task="conversion", candidates=candidate, who="test")
    return ws


@pytest.fixture(scope="module")
def batch(shop: Workspace, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A few hundred thousand session rows: one Parquet file (local) and the same rows hive-partitioned."""
    table = session_features(scan_events(shop), shop.settings.schema.dimensions).collect()
    rng = np.random.default_rng(3)
    copies = []
    for copy in range(COPIES * 4):
        factor = rng.uniform(0.5, 1.5, table.height)
        copies.append(
            table.with_columns(
                (pl.col("session_id") + f"-{copy}").alias("session_id"),
                (pl.col("duration_seconds") * factor).alias("duration_seconds"),
                (pl.col("view_price_mean") * factor).alias("view_price_mean"),
                pl.lit(copy % 3).alias("part"),
            )
        )
    rows = pl.concat(copies)
    # Edge cases local scoring handles: +inf (null score), NaN and nulls (missing values), an unseen category.
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(float("inf"))
        .when(pl.int_range(pl.len()) == 6)
        .then(float("nan"))
        .when(pl.int_range(pl.len()) == 7)
        .then(None)
        .otherwise(pl.col("cart_value"))
        .alias("cart_value"),
        pl.when(pl.int_range(pl.len()) == 8)
        .then(pl.lit("martian"))
        .otherwise(pl.col("device"))
        .alias("device"),
    )
    root = tmp_path_factory.mktemp("spark-batch")
    single = root / "sessions.parquet"
    rows.drop("part").write_parquet(single)
    folder = root / "sessions"
    rows.write_parquet(folder, partition_by="part")  # part=0/, part=1/, part=2/
    return single, folder


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_scores_equal_local_bit_for_bit(shop, batch, spark, candidate, tmp_path) -> None:
    single, folder = batch
    name = f"conv_{candidate}"
    local = score_file(shop, name, single, tmp_path / "local.parquet")
    result = spark_score(shop, name, str(folder), str(tmp_path / "spark"), spark=spark)
    assert result["partitions"] >= 2
    assert result["rows"] == local["rows"] > 200_000
    assert (result["invalid_rows"], result["invalid_by_column"]) == (
        local["invalid_rows"],
        local["invalid_by_column"],
    ), (result, local)
    assert local["invalid_rows"] >= 1
    assert result["null_scores"] == local["null_scores"]
    expected = pl.read_parquet(tmp_path / "local.parquet")
    got = pl.read_parquet(tmp_path / "spark" / "*.parquet")
    assert got.columns == expected.columns == ["session_id", "user_id", "score", "model", "model_version"]
    joined = expected.join(got, on="session_id", how="full", suffix="_spark")
    assert joined.height == expected.height
    left = joined.get_column("score").to_numpy()
    right = joined.get_column("score_spark").to_numpy()
    assert np.array_equal(np.isnan(left), np.isnan(right))
    known = ~np.isnan(left)
    assert np.array_equal(left[known].view(np.int64), right[known].view(np.int64))  # the same float bits
    assert (joined.get_column("user_id").eq_missing(joined.get_column("user_id_spark"))).all()


def test_drift_equals_local(shop, batch, spark, tmp_path) -> None:
    single, folder = batch
    name = "conv_hgb"
    frame = pl.read_parquet(single)
    profile = Registry(shop).get(name).profile
    # The scores local scoring writes (the +inf row gets a null score under [scoring] on_invalid, as on Spark).
    score_file(shop, name, single, tmp_path / "scores.parquet")
    scores = pl.read_parquet(tmp_path / "scores.parquet").get_column("score").fill_null(np.nan).to_numpy()
    local = drift_report(profile, frame, shop.settings.monitor, scores).to_dict()
    remote = spark_drift_report(shop, name, str(folder), spark=spark).to_dict()
    assert remote["multivariate"] is None  # the domain classifier needs full rows: local only
    local.pop("multivariate"), remote.pop("multivariate")
    assert remote["features"] == local["features"]  # methods, statistics, p-values, histograms, verdicts
    assert remote["share"] == local["share"] and remote["drifted"] == local["drifted"]
    assert remote["score_drift"] == local["score_drift"]


def test_cli_scores_on_spark_and_refuses_bad_input(shop, batch, spark, tmp_path) -> None:
    _, folder = batch
    ok = runner.invoke(
        app,
        [
            "score",
            "conv_logistic",
            "-i",
            str(folder),
            "-o",
            str(tmp_path / "out"),
            "--engine",
            "spark",
            "-w",
            str(shop.root),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert pl.read_parquet(tmp_path / "out" / "*.parquet").height > 200_000
    missing = runner.invoke(
        app,
        [
            "score",
            "conv_logistic",
            "-i",
            str(tmp_path / "nope"),
            "-o",
            str(tmp_path / "o2"),
            "--engine",
            "spark",
            "-w",
            str(shop.root),
        ],
    )
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    assert "Traceback" not in missing.output


def test_unreachable_master_is_an_error_not_a_hang(shop) -> None:
    with pytest.raises(EngineError, match=r"spark://127.0.0.1:1 does not answer within 2s"):
        spark_session(shop, "spark://127.0.0.1:1", timeout=2)
    result = runner.invoke(
        app,
        [
            "score",
            "conv_logistic",
            "-i",
            "x.parquet",
            "-o",
            "y",
            "--engine",
            "spark",
            "--master",
            "spark://127.0.0.1:1",
            "-w",
            str(shop.root),
        ],
        env={"SHOPCTL_SPARK_MASTER": "spark://127.0.0.1:1"},
    )
    assert result.exit_code == 2 and "does not answer" in result.output


def test_input_errors_name_the_path(shop, spark, tmp_path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        spark_drift_report(shop, "conv_hgb", str(tmp_path / "absent"), spark=spark)


def test_monitor_run_on_spark_stores_the_local_drift_verdicts(shop, batch, spark, tmp_path) -> None:
    """`monitor run --input FOLDER --engine spark`: the stored drift rows are the ones the local drift report
    gives on the same rows; quality and performance are said to be local-only, not silently missing."""
    import json

    from engine.monitoring.run import drift_rows

    single, folder = batch
    name = "conv_hgb"
    score_file(shop, name, single, tmp_path / "scores.parquet")
    scores = pl.read_parquet(tmp_path / "scores.parquet").get_column("score").fill_null(np.nan).to_numpy()
    profile = Registry(shop).get(name).profile
    local = drift_report(profile, pl.read_parquet(single), shop.settings.monitor, scores).to_dict()
    local["multivariate"] = None  # the domain classifier needs full rows: local only
    args = ["monitor", "run", "--input", str(folder), "--model", name, "--engine", "spark", "--json"]
    result = runner.invoke(app, [*args, "-w", str(shop.root)])
    assert result.exit_code in (0, 3), result.output
    payload = json.loads(result.stdout)
    (drift,) = [check for check in payload["checks"] if check["name"] == "drift"]
    from engine.infra.durations import parse_duration

    expected = drift_rows(local, name, parse_duration(shop.settings.monitor.window, source="window"))

    def key(row: dict) -> tuple:
        return (row["metric"], row["scope"], row["status"], row.get("value"))

    assert sorted(map(key, drift["metrics"])) == sorted(map(key, expected))
    (info,) = payload["models"]
    assert info["engine"] == "spark" and "local only" in info["skipped"]
    no_input = runner.invoke(app, ["monitor", "run", "--engine", "spark", "-w", str(shop.root)])
    assert no_input.exit_code == 2 and "add --input PATH" in no_input.output
