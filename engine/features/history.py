"""A user's history strictly before each of their sessions: prior sessions, purchases, spend, days since last.

An as-of join on purchase rows (strictly earlier than the session start) keeps it point-in-time even when a
user's sessions overlap; anonymous sessions have no history and count as new visitors.
"""

from __future__ import annotations

import polars as pl

SECONDS_PER_DAY = 86_400.0


def purchase_value() -> pl.Expr:
    """Revenue of a purchase row: price × quantity (a missing quantity counts as 1, a missing price as 0)."""
    return pl.col("price").fill_null(0.0) * pl.col("quantity").fill_null(1).cast(pl.Float64)


def purchase_history(events: pl.LazyFrame) -> pl.LazyFrame:
    """Purchase rows of known users in time order with the user's running order count and spend so far."""
    value = purchase_value()
    return (
        events.filter((pl.col("event_type") == "purchase") & pl.col("user_id").is_not_null())
        .select("user_id", "session_id", "event_time", value.alias("value"))
        .sort("event_time", "session_id", maintain_order=True)
        .with_columns(
            # An order is a session's purchase rows: count the first row of each session once.
            (pl.int_range(pl.len()).over("session_id") == 0).cast(pl.Int32).alias("order_start"),
        )
        .select(
            "user_id",
            pl.col("event_time").alias("last_purchase_time"),
            pl.col("order_start").cum_sum().over("user_id").alias("prior_purchases"),
            pl.col("value").cum_sum().over("user_id").alias("prior_spend"),
        )
    )


def add_user_history(sessions: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """Add prior_sessions, prior_purchases, prior_spend, days_since_last_purchase and visitor_type."""
    known = pl.col("user_id").is_not_null()
    start = pl.col("session_start")
    ordered = sessions.sort("session_start")
    joined = ordered.join_asof(
        purchase_history(events),
        left_on="session_start",
        right_on="last_purchase_time",
        by="user_id",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    prior_sessions = (
        pl.when(known)
        .then(start.rank("min").over(pl.col("user_id").hash(seed=0)) - 1)
        .otherwise(0)
        .cast(pl.Int32)
    )
    return joined.with_columns(
        prior_sessions.alias("prior_sessions"),
        pl.col("prior_purchases").fill_null(0).cast(pl.Int32),
        pl.col("prior_spend").fill_null(0.0),
        ((start - pl.col("last_purchase_time")).dt.total_seconds(fractional=True) / SECONDS_PER_DAY).alias(
            "days_since_last_purchase"
        ),
    ).with_columns(
        pl.when(pl.col("prior_sessions") > 0)
        .then(pl.lit("returning"))
        .otherwise(pl.lit("new"))
        .alias("visitor_type"),
    )
