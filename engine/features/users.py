"""The user table at a cutoff: RFM-style features from before the cutoff, labels from the horizon after it.

Population: every known user (non-null `user_id`) with at least one purchase before the cutoff — the customers
a repurchase, churn or spend model is asked about. Only purchase rows are required, so transactions-only data
(no views or carts) works; browsing counts are then zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import polars as pl

from engine.errors import InputError
from engine.features.history import purchase_value
from engine.features.sessions import with_dimensions
from engine.spec import TableSpec

USER_NUMERIC = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "tenure_days",
    "mean_gap_days",
    "gap_std_days",
    "overdue_ratio",
    "orders_30d",
    "orders_90d",
    "spend_90d",
    "trend",
    "n_categories",
    "n_products",
    "sessions_30d",
    "views_30d",
    "carts_30d",
)
USER_LABELS = ("repurchased", "future_spend")
DAY_SECONDS = 86_400.0
TASK_ALIASES = {
    "binary": "binary",
    "repurchase": "binary",
    "churn": "binary",
    "regression": "regression",
    "spend": "regression",
}


def user_spec(
    dimensions: Iterable[str] = ("channel", "device", "country"),
    task: str = "binary",
) -> TableSpec:
    """Column roles of the user table: target `repurchased` (binary) or `future_spend` (regression).

    task is binary, regression or one of their aliases (repurchase, churn; spend); anything else is an InputError.

    There is no time column: every row shares one cutoff, so a split by time would be meaningless.
    """
    kind = TASK_ALIASES.get(task)
    if kind is None:
        raise InputError(
            f"user table task {task!r} is unknown; use binary (repurchased) or regression (future_spend)"
        )
    return TableSpec(
        numeric=USER_NUMERIC,
        categorical=tuple(dimensions),
        target="repurchased" if kind == "binary" else "future_spend",
        task=kind,  # type: ignore[arg-type]
        time_column=None,
        id_columns=("user_id",),
    )


def as_utc_datetime(value: date | datetime | str, what: str = "cutoff") -> datetime:
    """A UTC datetime from a date (its midnight), a datetime (naive means UTC) or ISO text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"{what} {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-01"
            ) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _days(expr: pl.Expr) -> pl.Expr:
    return expr.dt.total_seconds(fractional=True) / DAY_SECONDS


def user_features(
    events: pl.LazyFrame | pl.DataFrame,
    cutoff: date | datetime | str,
    horizon_days: int = 30,
    dimensions: Iterable[str] = ("channel", "device", "country"),
) -> pl.LazyFrame:
    """One row per customer at `cutoff`: `user_id`, `cutoff`, labels over the next `horizon_days`, features."""
    dimensions = list(dimensions)
    if int(horizon_days) < 1:
        raise InputError(f"horizon {horizon_days} days: must be at least 1 ([features] horizon_days)")
    at = as_utc_datetime(cutoff)
    horizon_end = at + timedelta(days=int(horizon_days))
    lazy = with_dimensions(events.lazy(), dimensions)
    known = lazy.filter(pl.col("user_id").is_not_null())
    time = pl.col("event_time")
    # An order is its order id; without one, the session's purchase rows; without a session, one timestamp.
    order_key = pl.coalesce(
        pl.col("order_id"), pl.col("session_id"), time.dt.epoch("us").cast(pl.String)
    ).alias("order_key")
    purchases = known.filter(pl.col("event_type") == "purchase").select(
        "user_id", "event_time", "product_id", "category", order_key, purchase_value().alias("value")
    )
    past = purchases.filter(time < at)
    orders = (
        past.group_by("user_id", "order_key")
        .agg(time.min().alias("order_time"), pl.col("value").sum())
        .sort("user_id", "order_time")
    )
    order_time = pl.col("order_time")
    in_last = lambda days: order_time >= at - timedelta(days=days)  # noqa: E731
    gaps = _days(order_time.diff())
    rfm = orders.group_by("user_id").agg(
        pl.len().cast(pl.Int32).alias("frequency"),
        pl.col("value").sum().alias("monetary"),
        order_time.max().alias("_last_order"),
        gaps.mean().alias("mean_gap_days"),
        gaps.std().alias("gap_std_days"),
        in_last(30).sum().cast(pl.Int32).alias("orders_30d"),
        in_last(90).sum().cast(pl.Int32).alias("orders_90d"),
        pl.when(in_last(90)).then(pl.col("value")).sum().alias("spend_90d"),
    )
    breadth = past.group_by("user_id").agg(
        pl.col("category").drop_nulls().n_unique().cast(pl.Int32).alias("n_categories"),
        pl.col("product_id").drop_nulls().n_unique().cast(pl.Int32).alias("n_products"),
    )
    recent = time >= at - timedelta(days=30)
    activity = (
        known.filter(time < at)
        .group_by("user_id")
        .agg(
            time.min().alias("_first_seen"),
            pl.col("session_id").filter(recent).drop_nulls().n_unique().cast(pl.Int32).alias("sessions_30d"),
            (recent & (pl.col("event_type") == "view")).sum().cast(pl.Int32).alias("views_30d"),
            (recent & (pl.col("event_type") == "cart")).sum().cast(pl.Int32).alias("carts_30d"),
            *(pl.col(name).max_by("event_time").alias(name) for name in dimensions),
        )
    )
    future = (
        purchases.filter((time >= at) & (time < horizon_end))
        .group_by("user_id")
        .agg(pl.len().alias("_future_rows"), pl.col("value").sum().alias("future_spend"))
    )
    return (
        rfm.join(breadth, on="user_id", how="left")
        .join(activity, on="user_id", how="left")
        .join(future, on="user_id", how="left")
        .with_columns(
            pl.lit(at).cast(pl.Datetime("us", "UTC")).alias("cutoff"),
            pl.col("_future_rows").is_not_null().cast(pl.Int8).alias("repurchased"),
            pl.col("future_spend").fill_null(0.0),
            _days(pl.lit(at) - pl.col("_last_order")).alias("recency_days"),
            _days(pl.lit(at) - pl.col("_first_seen")).alias("tenure_days"),
            (pl.col("monetary") / pl.col("frequency")).alias("avg_order_value"),
            # Positive when the last 30 days saw more orders than the 60 days before them, per 30 days.
            (pl.col("orders_30d") - (pl.col("orders_90d") - pl.col("orders_30d")) / 2.0).alias("trend"),
        )
        .with_columns(
            (pl.col("recency_days") / pl.col("mean_gap_days").clip(lower_bound=1.0 / 24)).alias(
                "overdue_ratio"
            ),
            pl.col("sessions_30d").fill_null(0),
        )
        .sort("user_id")
        .select("user_id", "cutoff", *USER_LABELS, *USER_NUMERIC, *dimensions)
    )
