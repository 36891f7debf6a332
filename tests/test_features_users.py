"""The user table: exact RFM values on transactions-only data, labels over the horizon, point-in-time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine.errors import InputError
from engine.events import conform
from engine.features import user_features, user_spec
from engine.simulator import simulate

CUTOFF = datetime(2026, 4, 1, tzinfo=UTC)


def _purchase(days_before: float, user: str | None, price: float, quantity: int = 1, **extra) -> dict:
    return {
        "event_time": CUTOFF - timedelta(days=days_before),
        "event_type": "purchase",
        "user_id": user,
        "price": price,
        "quantity": quantity,
        "category": extra.get("category"),
        "product_id": extra.get("product_id"),
        "order_id": extra.get("order_id"),
    }


# Transactions only: no views, no sessions, mostly no order ids (like the generic `transactions` preset).
TRANSACTIONS = [
    _purchase(40, "u1", 10.0, category="a", product_id="x"),
    _purchase(20, "u1", 15.0, quantity=2, category="b", product_id="y"),
    _purchase(10, "u1", 5.0, category="a", product_id="x"),
    _purchase(-3, "u1", 7.5),  # in the horizon: repurchased
    _purchase(100, "u2", 50.0, order_id="A1"),
    _purchase(100, "u2", 25.0, order_id="A1"),  # same order, second line
    _purchase(-45, "u2", 99.0),  # after the 30-day horizon: not a label
    _purchase(-1, "u3", 12.0),  # first purchase after the cutoff: not in the population
    _purchase(5, None, 12.0),  # anonymous: not a customer we can follow
]


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    events = conform(pl.DataFrame(TRANSACTIONS), []).collect()
    return user_features(events, CUTOFF, 30, ["country"]).collect()


def test_population_is_customers_with_a_purchase_before_the_cutoff(table: pl.DataFrame) -> None:
    assert table["user_id"].to_list() == ["u1", "u2"]
    assert (table["cutoff"] == CUTOFF).all()


def test_exact_rfm_values_and_labels(table: pl.DataFrame) -> None:
    u1, u2 = table.iter_rows(named=True)
    assert (u1["repurchased"], u1["future_spend"]) == (1, 7.5)
    assert (u1["frequency"], u1["monetary"], u1["avg_order_value"]) == (3, 45.0, 15.0)
    assert u1["recency_days"] == pytest.approx(10.0) and u1["tenure_days"] == pytest.approx(40.0)
    assert u1["mean_gap_days"] == pytest.approx(15.0) and u1["gap_std_days"] == pytest.approx(
        np.std([20, 10], ddof=1)
    )
    assert u1["overdue_ratio"] == pytest.approx(10 / 15)
    assert (u1["orders_30d"], u1["orders_90d"], u1["spend_90d"]) == (2, 3, 45.0)
    assert u1["trend"] == pytest.approx(2 - 1 / 2)
    assert (u1["n_categories"], u1["n_products"]) == (2, 2)
    assert (u1["sessions_30d"], u1["views_30d"], u1["carts_30d"]) == (0, 0, 0)
    assert (u2["repurchased"], u2["future_spend"]) == (0, 0.0)
    assert (u2["frequency"], u2["monetary"]) == (1, 75.0)  # two lines of order A1 are one order
    assert u2["mean_gap_days"] is None and u2["orders_90d"] == 0
    assert u1["country"] is None  # a dimension the data lacks is an empty column, not an error


def test_spec_names_the_columns_and_task(table: pl.DataFrame) -> None:
    binary = user_spec(["country"])
    regression = user_spec(["country"], "regression")
    assert (binary.target, binary.task) == ("repurchased", "binary")
    assert (regression.target, regression.task) == ("future_spend", "regression")
    assert user_spec(["country"], "spend") == regression and user_spec(["country"], "churn") == binary
    assert binary.id_columns == ("user_id",) and binary.time_column is None
    assert set(binary.features) | {"user_id", "cutoff", "repurchased", "future_spend"} == set(table.columns)
    assert all(table.schema[name].is_numeric() for name in binary.numeric)
    with pytest.raises(InputError, match="unknown"):
        user_spec(["country"], "ranking")


def test_events_after_the_cutoff_only_move_labels() -> None:
    events = simulate(50, seed=3, start=date(2026, 1, 1), sessions_per_day=200).events
    cutoff = datetime(2026, 2, 1, tzinfo=UTC)
    spec = user_spec(["channel", "device", "country"])
    base = user_features(events, cutoff, 30, ["channel", "device", "country"]).collect()
    later = pl.col("event_time") >= cutoff
    changed = events.with_columns(
        pl.when(later).then(pl.col("price") * 5).otherwise(pl.col("price")).alias("price"),
        pl.when(later).then(pl.lit("purchase")).otherwise(pl.col("event_type")).alias("event_type"),
        pl.when(later).then(pl.lit("tablet")).otherwise(pl.col("device")).alias("device"),
    )
    moved = user_features(changed, cutoff, 30, ["channel", "device", "country"]).collect()
    columns = ["user_id", *spec.features]
    assert_frame_equal(moved.select(columns), base.select(columns))
    assert moved["future_spend"].sum() > 2 * base["future_spend"].sum()
    assert 0.1 < base["repurchased"].mean() < 0.9 and base.height > 100


def test_repurchase_is_learnable_from_rfm() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    events = simulate(75, seed=8, start=date(2026, 1, 1), sessions_per_day=400).events
    dimensions = ["channel", "device", "country"]
    spec = user_spec(dimensions)
    fit_table = user_features(events, datetime(2026, 2, 14, tzinfo=UTC), 30, dimensions).collect()
    test_table = user_features(events, datetime(2026, 2, 15, tzinfo=UTC) + timedelta(days=0), 30, dimensions)
    test_table = test_table.collect()

    def matrix(frame: pl.DataFrame) -> np.ndarray:
        numeric = frame.select(pl.col(name).cast(pl.Float64).fill_null(-1.0) for name in spec.numeric)
        return np.sign(numeric.to_numpy()) * np.log1p(np.abs(numeric.to_numpy()))

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(matrix(fit_table), fit_table["repurchased"].to_numpy())
    auc = roc_auc_score(test_table["repurchased"].to_numpy(), model.predict_proba(matrix(test_table))[:, 1])
    assert auc > 0.7


def test_bad_cutoff_and_horizon_are_input_errors() -> None:
    events = conform(pl.DataFrame(TRANSACTIONS), []).collect()
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        user_features(events, "first of April", 30, [])
    with pytest.raises(InputError, match="horizon_days"):
        user_features(events, CUTOFF, 0, [])
    assert user_features(events, "2026-04-01", 30, []).collect().height == 2
