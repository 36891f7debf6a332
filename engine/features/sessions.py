"""The session table: one row per session, labelled `converted`, with features known before its first purchase.

Point-in-time rule: a feature may use the session's events strictly before its first purchase, and the user's
history strictly before the session started. The purchase itself, anything after it, and later sessions never
reach a feature (only the label and the non-feature columns `revenue` and `n_purchase`).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from engine.features.history import (
    HISTORY_COLUMNS,
    add_user_history,
    purchase_rows,
    purchase_value,
    session_key,
    user_key,
)
from engine.spec import TableSpec

COUNTED_TYPES = ("view", "cart", "remove_from_cart", "checkout", "other")
SESSION_NUMERIC = (
    "n_events",
    *(f"n_{event_type}" for event_type in COUNTED_TYPES),
    "duration_seconds",
    "n_products",
    "n_categories",
    "view_price_mean",
    "view_price_max",
    "cart_price_mean",
    "cart_value",
    "hour",
    "weekday",
    "prior_sessions",
    "prior_purchases",
    "prior_spend",
    "days_since_last_purchase",
)
SESSION_IDS = ("session_id", "user_id")
SESSION_NOT_FEATURES = ("session_start", "converted", "revenue", "n_purchase")
# The event columns the session table reads (plus the dimensions): Parquet decodes nothing else.
EVENT_COLUMNS = (
    "event_time",
    "event_type",
    "user_id",
    "session_id",
    "product_id",
    "category",
    "price",
    "quantity",
)


def session_spec(dimensions: Iterable[str] = ("channel", "device", "country")) -> TableSpec:
    """Column roles of the session table: numeric and categorical features, label `converted`."""
    return TableSpec(
        numeric=SESSION_NUMERIC,
        categorical=("visitor_type", *dimensions),
        target="converted",
        task="binary",
        time_column="session_start",
        id_columns=SESSION_IDS,
    )


def with_dimensions(events: pl.LazyFrame, dimensions: list[str]) -> pl.LazyFrame:
    """Add the dimension columns the events lack, as null strings."""
    present = set(events.collect_schema().names())
    missing = [pl.lit(None, dtype=pl.String).alias(name) for name in dimensions if name not in present]
    return events.with_columns(missing) if missing else events


def session_features(
    events: pl.LazyFrame | pl.DataFrame, dimensions: Iterable[str] = ("channel", "device", "country")
) -> pl.LazyFrame:
    """One row per session: ids, `session_start`, label `converted` (Int8), `revenue`, `n_purchase`, features.

    Rows come in time order (session_start, then a hash of the session id).
    """
    dimensions = list(dimensions)
    lazy = event_columns(events, dimensions)
    history = add_user_history(session_aggregates(lazy, dimensions), purchase_rows(lazy))
    return history.select(session_columns(dimensions))


def session_columns(dimensions: Iterable[str]) -> list[str]:
    """The session table's columns in order: ids, time, label, non-features, numeric, categorical."""
    spec = session_spec(list(dimensions))
    return [*SESSION_IDS, *SESSION_NOT_FEATURES, *spec.numeric, *spec.categorical]


def event_columns(events: pl.LazyFrame | pl.DataFrame, dimensions: list[str]) -> pl.LazyFrame:
    """Only the event columns the session table needs, dimensions included (absent ones as null)."""
    return with_dimensions(events.lazy(), dimensions).select(*EVENT_COLUMNS, *dimensions)


def dimensions_key(dimensions: list[str]) -> pl.Expr:
    """One 64-bit key for a row's dimension values, so the value at the first event is one cheap `min_by`."""
    key = pl.lit(0, dtype=pl.UInt64)
    for seed, name in enumerate(dimensions, start=1):
        key = key ^ pl.col(name).hash(seed=seed)
    return key


def session_aggregates(
    events: pl.LazyFrame | pl.DataFrame, dimensions: Iterable[str] = ("channel", "device", "country")
) -> pl.LazyFrame:
    """Everything of the session table that comes from the session's own events (no user history yet).

    Besides the table's own columns: `_key` and `_user` (hashes of the session and user ids) and `_last_event`
    (the session's last event time, to see which sessions are still open at a window's end). The small table
    of each purchasing session's first purchase time is collected when this is called (one narrow pass over the
    purchase rows); the rest stays lazy.
    """
    dimensions = list(dimensions)
    # Group on a 64-bit hash of the session id: several times cheaper than grouping on strings, and a collision
    # among even 100 million sessions has a probability below 1e-3.
    lazy = event_columns(events, dimensions).with_columns(session_key().alias("_key"))
    event_type = pl.col("event_type")
    first_purchase = (
        lazy.filter(event_type == "purchase")
        .group_by("_key")
        .agg(pl.col("event_time").min().alias("_first_purchase"))
        .collect()
    )
    # Each event gets its session's first purchase time through a lookup in that small table (a hash map of the
    # purchasing sessions): a join would carry every event column through it, which cost a third of this plan.
    first_purchase_time = (
        pl.col("_key")
        .replace_strict(
            first_purchase["_key"],
            first_purchase["_first_purchase"],
            default=None,
            return_dtype=first_purchase.schema["_first_purchase"],
        )
        .alias("_first_purchase")
    )
    before = pl.col("_first_purchase").is_null() | (pl.col("event_time") < pl.col("_first_purchase"))
    # Per-event inputs first, so the group-by below only runs plain reductions that polars' streaming engine
    # computes in one pass: no strings but the two ids, no filters inside the aggregation.
    tagged = lazy.with_columns(first_purchase_time).select(
        "_key",
        "session_id",
        "user_id",
        "event_time",
        *((before & (event_type == name)).alias(f"_is_{name}") for name in COUNTED_TYPES),
        (event_type == "purchase").alias("_is_purchase"),
        pl.when(before).then(pl.col("event_time")).alias("_time_before"),
        *(
            pl.when(before & pl.col(column).is_not_null())
            .then(pl.col(column).hash(seed=0))
            .alias(f"_{column}")
            for column in ("product_id", "category")
        ),
        pl.when(before & (event_type == "view")).then(pl.col("price")).alias("_view_price"),
        pl.when(before & (event_type == "cart")).then(pl.col("price")).alias("_cart_price"),
        pl.when(before & (event_type == "cart")).then(purchase_value()).alias("_cart_value"),
        pl.when(event_type == "purchase").then(purchase_value()).alias("_revenue"),
        *([dimensions_key(dimensions).alias("_dimensions")] if dimensions else []),
    )
    per_session = tagged.group_by("_key").agg(
        # One session id per key: min is a plain reduction (first() would push polars off its fast path).
        pl.col("session_id").min(),
        pl.col("user_id").max(),
        pl.col("event_time").min().alias("session_start"),
        pl.col("event_time").max().alias("_last_event"),
        pl.col("_time_before").max(),
        *(pl.col(f"_is_{name}").sum().alias(f"n_{name}") for name in COUNTED_TYPES),
        # n_unique counts the null of rows without a product (or after the purchase) as a value: see below.
        *(
            pl.col(f"_{column}").n_unique().alias(f"_distinct_{column}")
            for column in ("product_id", "category")
        ),
        *(
            pl.col(f"_{column}").null_count().alias(f"_missing_{column}")
            for column in ("product_id", "category")
        ),
        pl.col("_view_price").mean().alias("view_price_mean"),
        pl.col("_view_price").max().alias("view_price_max"),
        pl.col("_cart_price").mean().alias("cart_price_mean"),
        pl.col("_cart_value").sum().alias("cart_value"),
        pl.col("_revenue").sum().alias("revenue"),
        pl.col("_is_purchase").sum().alias("n_purchase"),
        # Session attributes as they were when the session started (known before any purchase).
        *([pl.col("_dimensions").min_by("event_time")] if dimensions else []),
    )
    if dimensions:
        # Back from the key to the values through the (small) table of distinct value combinations.
        combinations = lazy.select(dimensions_key(dimensions).alias("_dimensions"), *dimensions).unique(
            subset="_dimensions"
        )
        per_session = per_session.join(combinations, on="_dimensions", how="left")
    start = pl.col("session_start")
    counts = [*(f"n_{name}" for name in COUNTED_TYPES), "n_purchase"]
    shaped = per_session.with_columns(
        # Purchase rows are never before the first purchase, so the typed counts add up to all earlier events.
        pl.sum_horizontal(*(f"n_{name}" for name in COUNTED_TYPES)).cast(pl.Int32).alias("n_events"),
        (pl.col("n_purchase") > 0).cast(pl.Int8).alias("converted"),
        *(pl.col(name).cast(pl.Int32) for name in counts),
        *(
            (pl.col(f"_distinct_{column}") - (pl.col(f"_missing_{column}") > 0).cast(pl.UInt32))
            .cast(pl.Int32)
            .alias(name)
            for column, name in (("product_id", "n_products"), ("category", "n_categories"))
        ),
        ((pl.col("_time_before") - start).dt.total_milliseconds().fill_null(0) / 1000.0).alias(
            "duration_seconds"
        ),
        start.dt.hour().cast(pl.Int8).alias("hour"),
        start.dt.weekday().cast(pl.Int8).alias("weekday"),
        user_key().alias("_user"),
    )
    own = [name for name in session_columns(dimensions) if name not in HISTORY_COLUMNS]
    return shaped.select("_key", "_user", "_last_event", *own)
