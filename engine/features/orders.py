"""The order table: one row per order (its `order_id`, else the purchases of one session), with risk features.

Point-in-time rule: an order's `order_time` is its last purchase row, and every feature uses only events at or
before it: the user's earlier orders and sessions, the product's earlier prices, the account's first event.
Nothing after the order reaches a feature (tested by building on a truncated log and comparing).
The dimension columns (channel, device, country) are carried for monitoring segments; they are not features.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import polars as pl

from engine.features.history import purchase_value
from engine.spec import TableSpec

if TYPE_CHECKING:
    from engine.workspace import Workspace

ORDER_NUMERIC = (
    "value",
    "quantity",
    "distinct_items",
    "max_line_quantity",
    "price_ratio",
    "hour",
    "account_age_days",
    "orders_1h",
    "orders_24h",
    "sessions_1h",
    "sessions_24h",
    "first_order",
    "device_new",
    "country_new",
)
ORDER_IDS = ("order_id", "user_id")
ORDER_NOT_FEATURES = ("order_time", "session_id")
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
# What an order without an order_id is called: the purchases of one session.
SESSION_ORDER_PREFIX = "session:"


def order_spec(dimensions: Iterable[str] = ("channel", "device", "country")) -> TableSpec:
    """Column roles of the order table: numeric risk features only (the detectors need no categories)."""
    del dimensions  # carried as columns for segments, never model inputs: a country is not a risk by itself
    return TableSpec(
        numeric=ORDER_NUMERIC,
        categorical=(),
        target=None,
        task="binary",
        time_column="order_time",
        id_columns=("order_id",),
    )


def _dimension(name: str, present: set[str]) -> pl.Expr:
    return pl.col(name) if name in present else pl.lit(None, dtype=pl.String).alias(name)


def _usual_price_ratio(events: pl.LazyFrame) -> pl.LazyFrame:
    """Per order: the mean over its rows of price / the product's mean price in earlier events (1.0 if none)."""
    priced = (
        events.filter(pl.col("product_id").is_not_null() & pl.col("price").is_not_null())
        .select("event_time", "event_type", "product_id", "price", "session_id", "order_id")
        .sort("event_time", "product_id", "price", "event_type", "session_id", maintain_order=True)
        .with_columns(
            (pl.col("price").cum_sum().over("product_id") - pl.col("price")).alias("_sum_before"),
            (pl.int_range(pl.len()).over("product_id")).alias("_n_before"),
        )
    )
    return (
        priced.filter(pl.col("event_type") == "purchase")
        .select(
            _order_key(),
            pl.when(pl.col("_n_before") > 0)
            .then(pl.col("price") / (pl.col("_sum_before") / pl.col("_n_before")))
            .otherwise(1.0)
            .alias("_price_ratio"),
        )
        .group_by("_order")
        .agg(pl.col("_price_ratio").mean().alias("price_ratio"))
    )


def _order_key() -> pl.Expr:
    return pl.coalesce(pl.col("order_id"), pl.lit(SESSION_ORDER_PREFIX) + pl.col("session_id")).alias(
        "_order"
    )


def _count_before(frame: pl.LazyFrame, history: pl.LazyFrame, at: pl.Expr, name: str) -> pl.LazyFrame:
    """frame with `name`: how many rows of history (user, time, with `_cum`) the user had at or before `at`."""
    probe = frame.with_columns(at.alias("_at")).sort("_at")
    return (
        probe.join_asof(
            history, left_on="_at", right_on="_time", by="_user", strategy="backward", check_sortedness=False
        )
        .with_columns(pl.col("_cum").fill_null(0).alias(name))
        .drop("_at", "_time", "_cum")
    )


def order_features(
    events: pl.LazyFrame, dimensions: Iterable[str] = ("channel", "device", "country")
) -> pl.LazyFrame:
    """One row per order: ids, `order_time` (UTC), the dimensions and the features of ORDER_NUMERIC."""
    dimensions = list(dimensions)
    present = set(events.collect_schema().names())
    events = events.with_columns(*(_dimension(name, present) for name in dimensions if name not in present))
    # A user we cannot name is the session itself: no history, a brand-new account.
    user = pl.coalesce(pl.col("user_id"), pl.lit(SESSION_ORDER_PREFIX) + pl.col("session_id")).alias("_user")
    purchases = events.filter(pl.col("event_type") == "purchase").with_columns(
        _order_key(),
        user,
    )
    orders = purchases.group_by("_order").agg(
        pl.col("user_id").drop_nulls().first(),
        pl.col("_user").first(),
        pl.col("session_id").first(),
        pl.col("event_time").max().alias("order_time"),
        purchase_value().sum().alias("value"),
        pl.col("quantity").fill_null(1).sum().cast(pl.Float64).alias("quantity"),
        pl.col("product_id").n_unique().cast(pl.Float64).alias("distinct_items"),
        pl.col("quantity").fill_null(1).max().cast(pl.Float64).alias("max_line_quantity"),
        *(pl.col(name).drop_nulls().first() for name in dimensions),
    )
    orders = orders.join(_usual_price_ratio(events), on="_order", how="left").with_columns(
        pl.col("price_ratio").fill_null(1.0)
    )

    sessions = (
        events.with_columns(user)
        .group_by("session_id")
        .agg(
            pl.col("_user").first(),
            pl.col("event_time").min().alias("_start"),
            *(
                pl.col(name).drop_nulls().first().alias(f"_s_{name}")
                for name in ("device", "country")
                if name in dimensions
            ),
        )
    )
    session_history = (
        sessions.select("_user", pl.col("_start").alias("_time"))
        .sort("_user", "_time")
        .with_columns(pl.int_range(1, pl.len() + 1).over("_user").alias("_cum"))
        .sort("_time")
    )
    order_history = (
        orders.select("_user", pl.col("order_time").alias("_time"))
        .sort("_user", "_time")
        .with_columns(pl.int_range(1, pl.len() + 1).over("_user").alias("_cum"))
        .sort("_time")
    )
    first_seen = (
        events.with_columns(user).group_by("_user").agg(pl.col("event_time").min().alias("_first_seen"))
    )
    this_session = sessions.select(
        "session_id",
        pl.col("_start").alias("_session_start"),
        *(pl.col(f"_s_{name}") for name in ("device", "country") if name in dimensions),
    )
    table = orders.join(first_seen, on="_user", how="left").join(this_session, on="session_id", how="left")
    # Orders strictly before this one: the count at the order's time minus the orders sharing that moment.
    table = table.with_columns(
        (pl.col("order_time").rank("min").over("_user") - 1).cast(pl.Int64).alias("_orders_before")
    )
    hour = pl.duration(microseconds=HOUR_US)
    day = pl.duration(microseconds=DAY_US)
    table = _count_before(table, order_history, pl.col("order_time") - hour, "_orders_1h_ago")
    table = _count_before(table, order_history, pl.col("order_time") - day, "_orders_1d_ago")
    table = _count_before(table, session_history, pl.col("order_time"), "_sessions_now")
    table = _count_before(table, session_history, pl.col("order_time") - hour, "_sessions_1h_ago")
    table = _count_before(table, session_history, pl.col("order_time") - day, "_sessions_1d_ago")
    table = _count_before(
        table, session_history, pl.col("_session_start") - pl.duration(microseconds=1), "_sessions_before"
    )

    new_flags = []
    for name in ("device", "country"):
        column = f"{name}_new"
        if name not in dimensions:
            table = table.with_columns(pl.lit(0.0).alias(column))
            continue
        # The first session of this user on this value: earlier than this session means it is not new.
        first_on_value = sessions.group_by("_user", f"_s_{name}").agg(
            pl.col("_start").min().alias(f"_first_{name}")
        )
        table = table.join(first_on_value, on=["_user", f"_s_{name}"], how="left", nulls_equal=True)
        new_flags.append(
            pl.when((pl.col("_sessions_before") > 0) & (pl.col(f"_first_{name}") >= pl.col("_session_start")))
            .then(1.0)
            .otherwise(0.0)
            .alias(column)
        )
    table = table.with_columns(new_flags) if new_flags else table

    seconds_per_day = 86_400.0
    return table.select(
        pl.col("_order").alias("order_id"),
        "user_id",
        "session_id",
        "order_time",
        *dimensions,
        "value",
        "quantity",
        "distinct_items",
        "max_line_quantity",
        "price_ratio",
        pl.col("order_time").dt.hour().cast(pl.Float64).alias("hour"),
        (
            (pl.col("order_time") - pl.col("_first_seen")).dt.total_microseconds() / 1e6 / seconds_per_day
        ).alias("account_age_days"),
        (pl.col("_orders_before") - pl.col("_orders_1h_ago")).clip(0).cast(pl.Float64).alias("orders_1h"),
        (pl.col("_orders_before") - pl.col("_orders_1d_ago")).clip(0).cast(pl.Float64).alias("orders_24h"),
        (pl.col("_sessions_now") - pl.col("_sessions_1h_ago")).cast(pl.Float64).alias("sessions_1h"),
        (pl.col("_sessions_now") - pl.col("_sessions_1d_ago")).cast(pl.Float64).alias("sessions_24h"),
        (pl.col("_orders_before") == 0).cast(pl.Float64).alias("first_order"),
        "device_new",
        "country_new",
    ).sort("order_time", "order_id")


ORDERS_FILE = "orders.parquet"


def write_order_table(
    ws: Workspace, known: pl.LazyFrame, dimensions: Iterable[str], common: dict[str, Any]
) -> dict[str, Any]:
    """Write data/features/orders.parquet and orders.meta.json (atomically); the summary `features build` prints."""
    from engine.infra.atomic import atomic_write_json, atomic_write_with

    dimensions = list(dimensions)
    path = ws.features_dir / ORDERS_FILE
    table = order_features(known, dimensions).collect()
    atomic_write_with(path, lambda target: table.write_parquet(target, compression="zstd", statistics=True))
    meta = common | {
        "table": "orders",
        "rows": table.height,
        "users": table["user_id"].n_unique(),
        "spec": order_spec(dimensions).to_dict(),
    }
    meta_file = path.with_suffix(".meta.json")
    atomic_write_json(meta_file, meta)
    return {"path": str(path), "meta": str(meta_file)} | meta
