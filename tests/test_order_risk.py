"""Order risk: the order table (point in time), the detectors' ONNX graphs, and train/score through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.features.orders import ORDER_NUMERIC, order_features, order_spec
from engine.registry import Registry
from engine.simulator import simulate
from engine.simulator.fraud import fraud_labels
from engine.spec import TableSpec
from engine.train.retrain import unsupported_reason
from engine.workspace import Workspace, init_workspace
from models.anomaly import ECOD, detector_onnx, detector_risk, feature_matrix, fit_detector
from models.onnx_export import OnnxPredictor, input_metadata

runner = CliRunner()
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def simulation() -> object:
    return simulate(24, seed=5, scenario="order_fraud", sessions_per_day=500, start="2026-03-01")


def _event(minutes: float, event_type: str, user: str | None, session: str, **values: object) -> dict:
    row = {
        "event_time": T0 + timedelta(minutes=minutes),
        "event_type": event_type,
        "user_id": user,
        "session_id": session,
        "product_id": values.get("product"),
        "category": "c",
        "order_id": values.get("order"),
        "price": values.get("price"),
        "quantity": values.get("quantity"),
        "channel": "direct",
        "device": values.get("device", "mobile"),
        "country": values.get("country", "DE"),
    }
    return row


def _frame(rows: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema_overrides={"event_time": pl.Datetime("us", "UTC")}).lazy()


def test_order_features_by_hand() -> None:
    rows = [
        _event(0, "view", "u1", "s1", product="p1", price=10.0),
        _event(1, "purchase", "u1", "s1", product="p1", price=10.0, quantity=1, order="o1"),
        _event(20, "view", "u1", "s2", product="p1", price=10.0, country="BR"),
        _event(21, "purchase", "u1", "s2", product="p1", price=30.0, quantity=3, order="o2", country="BR"),
        _event(21.5, "purchase", "u1", "s2", product="p2", price=5.0, quantity=1, order="o2", country="BR"),
        _event(2000, "purchase", None, "s3", product="p2", price=5.0, quantity=2),  # no order id, no user
    ]
    table = order_features(_frame(rows)).collect()
    by_id = {row["order_id"]: row for row in table.iter_rows(named=True)}
    assert set(by_id) == {"o1", "o2", "session:s3"}
    first, second, anonymous = by_id["o1"], by_id["o2"], by_id["session:s3"]
    assert first["first_order"] == 1.0 and first["orders_1h"] == 0.0 and first["country_new"] == 0.0
    assert second["value"] == pytest.approx(95.0) and second["quantity"] == 4.0
    assert second["distinct_items"] == 2.0 and second["max_line_quantity"] == 3.0
    assert second["first_order"] == 0.0 and second["orders_1h"] == 1.0 and second["orders_24h"] == 1.0
    assert second["sessions_1h"] == 2.0 and second["country_new"] == 1.0 and second["device_new"] == 0.0
    # p1 was seen at 10, 10, 10 before: 30 is three times its usual price; p2 unseen before: 1.0
    assert second["price_ratio"] == pytest.approx((3.0 + 1.0) / 2)
    assert second["account_age_days"] == pytest.approx(21.5 / 1440)
    assert anonymous["user_id"] is None and anonymous["first_order"] == 1.0
    assert anonymous["orders_24h"] == 0.0 and anonymous["account_age_days"] == 0.0


def test_order_features_never_look_past_the_order(simulation) -> None:
    events = simulation.events
    cut = events["event_time"].min() + timedelta(days=17, hours=5)
    full = order_features(events.lazy()).collect()
    early = order_features(events.filter(pl.col("event_time") < cut).lazy()).collect()
    expected = full.filter(pl.col("order_time") < cut).sort("order_id")
    got = early.filter(pl.col("order_id").is_in(expected["order_id"].implode())).sort("order_id")
    assert expected.height > 100 and got.height == expected.height
    assert got.select(ORDER_NUMERIC).equals(expected.select(ORDER_NUMERIC))


def test_ecod_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(3)
    train = rng.normal(size=(200, 3)).astype(np.float32).astype(np.float64)
    rows = (rng.normal(size=(20, 3)) * 2).astype(np.float32).astype(np.float64)
    n = len(train)
    left = -np.log(((train[None, :, :] <= rows[:, None, :]).sum(axis=1) + 1) / (n + 1))
    right = -np.log(((train[None, :, :] >= rows[:, None, :]).sum(axis=1) + 1) / (n + 1))
    skew = ((train - train.mean(0)) ** 3).mean(0) / train.std(0) ** 3
    auto = np.where(skew < 0, left, right)
    expected = np.maximum(np.maximum(left.sum(1), right.sum(1)), auto.sum(1))
    assert np.allclose(ECOD().fit(train).score_samples(rows), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["ecod", "isolation_forest"])
def test_detector_onnx_parity(simulation, name: str) -> None:
    orders = order_features(simulation.events.lazy()).collect()
    spec = order_spec()
    features = feature_matrix(orders, spec)
    detector = fit_detector(name, features[: orders.height // 2], seed=0)
    predictor = OnnxPredictor(detector_onnx(name, detector, spec), input_metadata(spec), {"name": "risk"})
    expected = detector_risk(detector, features)
    assert np.max(np.abs(predictor.predict(orders) - expected)) < 1e-4 * max(1.0, np.abs(expected).max())
    if name == "isolation_forest":  # -score_samples of scikit-learn itself
        assert np.allclose(expected, -detector.score_samples(features.astype(np.float32)))


def test_isolation_forest_graph_matches_skl2onnx() -> None:
    from onnxruntime import InferenceSession
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(8)
    features = rng.normal(size=(300, 4)).astype(np.float32)
    forest = IsolationForest(n_estimators=3, random_state=0).fit(features)
    spec = TableSpec(numeric=("a", "b", "c", "d"), categorical=())
    ours = OnnxPredictor(
        detector_onnx("isolation_forest", forest, spec), input_metadata(spec), {"name": "risk"}
    )
    frame = pl.DataFrame(features, schema=list(spec.numeric))
    reference = convert_sklearn(
        forest, initial_types=[("X", FloatTensorType([None, 4]))], target_opset={"": 18, "ai.onnx.ml": 3}
    )
    session = InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"X": features})[1].ravel()  # decision_function = score_samples - offset_
    assert np.allclose(ours.predict(frame), -(scores + forest.offset_), atol=1e-5)


@pytest.fixture(scope="module")
def shop(tmp_path_factory, simulation) -> Workspace:
    ws = init_workspace(tmp_path_factory.mktemp("orders") / "shop")[0]
    path = ws.root / "events.parquet"
    simulation.events.write_parquet(path)
    for command in (["ingest", str(path)], ["features", "build"]):
        result = runner.invoke(app, [*command, "-w", str(ws.root)])
        assert result.exit_code == 0, result.output
    return ws


def test_train_and_score_order_risk(shop: Workspace, tmp_path: Path) -> None:
    orders_path = shop.features_dir / "orders.parquet"
    assert pl.read_parquet(orders_path).height > 300
    result = runner.invoke(app, ["train", "order_risk", "-w", str(shop.root), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["model"] == "ecod" and set(payload["candidates"]) == {"isolation_forest", "ecod"}
    assert payload["parity_max_abs_diff"] < 1e-4
    version = Registry(shop).get("order_risk")
    assert version.metadata["threshold"] == payload["threshold"] and version.metadata["review_rate"] == 0.01
    output = tmp_path / "risk.parquet"
    result = runner.invoke(
        app,
        ["score", "order_risk", "--input", str(orders_path), "--output", str(output), "-w", str(shop.root)],
    )
    assert result.exit_code == 0, result.output
    scored = pl.read_parquet(output).join(
        fraud_labels(pl.read_parquet(orders_path), simulate_truth(shop)), on="order_id"
    )
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(scored["is_fraud"], scored["score"]) > 0.85  # higher = riskier
    flagged = (scored["score"] > payload["threshold"]).mean()
    assert 0.0 < flagged < 0.1


def simulate_truth(shop: Workspace) -> dict:
    return simulate(24, seed=5, scenario="order_fraud", sessions_per_day=500, start="2026-03-01").ground_truth


def test_train_with_label_adds_classifiers(shop: Workspace, tmp_path: Path, simulation) -> None:
    table = tmp_path / "labelled.parquet"
    fraud_labels(
        pl.read_parquet(shop.features_dir / "orders.parquet"), simulation.ground_truth
    ).write_parquet(table)
    result = runner.invoke(
        app,
        [
            "train",
            "order_risk",
            "--table",
            str(table),
            "--target",
            "is_fraud",
            "--name",
            "risk_sup",
            "--no-promote",
            "-w",
            str(shop.root),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert {"logistic", "hgb", "ecod", "isolation_forest"} == set(payload["candidates"])
    best = max(payload["candidates"], key=lambda name: payload["candidates"][name]["validation"]["pr_auc"])
    assert payload["model"] == best and payload["selection"] == "pr_auc"


def test_bad_inputs_exit_2_and_write_nothing(shop: Workspace, tmp_path: Path) -> None:
    orders = pl.read_parquet(shop.features_dir / "orders.parquet")
    versions_before = (
        len(Registry(shop).versions("order_risk")) if "order_risk" in Registry(shop).names() else 0
    )
    table = tmp_path / "orders.parquet"
    orders.write_parquet(table)
    unknown = runner.invoke(
        app, ["train", "order_risk", "--table", str(table), "--target", "nope", "-w", str(shop.root)]
    )
    assert unknown.exit_code == 2 and "no column 'nope'" in unknown.stderr
    empty = tmp_path / "empty.parquet"
    orders.head(0).write_parquet(empty)
    none = runner.invoke(app, ["train", "order_risk", "--table", str(empty), "-w", str(shop.root)])
    assert none.exit_code == 2 and "no orders" in none.stderr
    after = len(Registry(shop).versions("order_risk")) if "order_risk" in Registry(shop).names() else 0
    assert after == versions_before
    if not after:
        assert runner.invoke(app, ["train", "order_risk", "-w", str(shop.root)]).exit_code == 0
    no_ids = tmp_path / "no_ids.parquet"
    orders.drop("order_id").write_parquet(no_ids)
    output = tmp_path / "out.parquet"
    scored = runner.invoke(
        app, ["score", "order_risk", "--input", str(no_ids), "--output", str(output), "-w", str(shop.root)]
    )
    assert (
        scored.exit_code == 2
        and "'order_id'" in scored.stderr
        and len(scored.stderr.strip().splitlines()) == 1
    )
    assert not output.exists()


def test_no_purchases_at_all(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "browse")[0]
    events = simulate(3, seed=2, sessions_per_day=100, start="2026-03-01").events
    path = tmp_path / "views.parquet"
    events.filter(pl.col("event_type") != "purchase").write_parquet(path)
    assert runner.invoke(app, ["ingest", str(path), "-w", str(ws.root)]).exit_code == 0
    result = runner.invoke(app, ["train", "order_risk", "-w", str(ws.root)])
    assert result.exit_code == 2 and "no orders" in result.stderr
    assert Registry(ws).names() == []


def test_retrain_skips_order_risk_with_a_reason() -> None:
    metadata = {"spec": order_spec().to_dict(), "source": {"task": "order_risk"}, "kind": "order_risk"}
    reason = unsupported_reason("order_risk", metadata)
    assert reason is not None and "order_risk" in reason and "shopctl train order_risk" in reason


def test_monitor_flags_a_jump_in_risky_orders(shop: Workspace) -> None:
    from engine.events import scan_events
    from engine.monitoring.order_risk import order_risk_rows
    from engine.monitoring.windows import Window

    assert (
        order_risk_rows(init_workspace(shop.root.parent / "empty")[0], scan_events(shop), *_windows())[0]
        == []
    )
    if "order_risk" not in Registry(shop).names():
        assert runner.invoke(app, ["train", "order_risk", "-w", str(shop.root)]).exit_code == 0
    current, baselines, dimensions = _windows()
    rows, infos = order_risk_rows(shop, scan_events(shop), current, baselines, dimensions)
    overall = next(row for row in rows if row["scope"] == "overall")
    assert overall["check_name"] == "order_risk" and overall["metric"] == "flagged_share"
    assert overall["value"] > overall["upper"] and overall["status"] in {"warning", "critical"}
    assert (
        any(row["scope"].startswith("segment:country=") for row in rows) and infos[0]["name"] == "order_risk"
    )
    quiet, _ = order_risk_rows(
        shop, scan_events(shop), baselines[0], [Window(START, START + timedelta(days=4))], dimensions
    )
    assert next(row for row in quiet if row["scope"] == "overall")["status"] == "ok"


START = datetime(2026, 3, 1, tzinfo=UTC)


def _windows() -> tuple[object, list, list[str]]:
    from engine.monitoring.windows import Window

    fraud = Window(START + timedelta(days=17), START + timedelta(days=24))  # the scenario starts on day 16
    clean = Window(START + timedelta(days=5), START + timedelta(days=12))
    return fraud, [clean], ["channel", "device", "country"]
