"""Per-customer recency, frequency and monetary value, their 1–5 quintile scores and the named RFM segment.

An order is one `order_id` when the purchase events carry one, else the purchase events of one session.
Its value is the sum of price × quantity (quantity 1 when absent). Point in time: only events strictly before
`as_of` count; `recency_days` is the whole days from the customer's last order to `as_of`.

Scores (deterministic, independent of row order): for a value where higher is better (recency negated, so the
most recent customers score 5), a customer's score is `1 + floor(5 × below / n)`, where `below` is the number
of customers with a strictly worse value and n the number of customers. Tied customers share one score (the
score of the lowest position of their tie), so a large tie (the many one-order customers) sits on one score and
some scores may be unused. Segments come from the R × FM grid in SEGMENT_GRID.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from engine.customers.names import SEGMENT_GRID


def segment_name(r_score: int, f_score: int, m_score: int) -> str:
    """The named segment of one customer's scores (SEGMENT_GRID)."""
    fm = (f_score + m_score + 1) // 2  # mean of F and M, halves rounded up
    return SEGMENT_GRID[r_score][fm - 1]


def orders(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """One row per order before as_of: user_id, order_key, order_time (its first event), order_value."""
    purchases = events.filter(
        (pl.col("event_type") == "purchase")
        & pl.col("user_id").is_not_null()
        & (pl.col("event_time") < as_of)
    )
    return (
        purchases.with_columns(
            pl.coalesce(pl.col("order_id"), pl.lit("session:") + pl.col("session_id")).alias("order_key"),
            (pl.col("price").fill_null(0.0) * pl.col("quantity").fill_null(1).cast(pl.Float64)).alias("line"),
        )
        .group_by("user_id", "order_key")
        .agg(pl.col("event_time").min().alias("order_time"), pl.col("line").sum().alias("order_value"))
    )


def quintile_score(values: pl.Expr) -> pl.Expr:
    """1 + floor(5 × (customers with a strictly smaller value) / customers): ties share a score."""
    below = values.rank(method="min") - 1
    return (1 + (5 * below) // pl.len()).cast(pl.Int8)


def rfm_table(order_rows: pl.LazyFrame, as_of: datetime) -> pl.DataFrame:
    """Per customer: recency_days, frequency, monetary (total), avg_order_value, first/last order, R/F/M scores
    and segment, sorted by user_id."""
    customers = (
        order_rows.group_by("user_id")
        .agg(
            pl.col("order_time").min().alias("first_order"),
            pl.col("order_time").max().alias("last_order"),
            pl.len().cast(pl.Int64).alias("frequency"),
            pl.col("order_value").sum().alias("monetary"),
        )
        .with_columns(
            ((pl.lit(as_of) - pl.col("last_order")).dt.total_seconds() // 86_400)
            .cast(pl.Int64)
            .alias("recency_days"),
            (pl.col("monetary") / pl.col("frequency")).alias("avg_order_value"),
        )
        .sort("user_id")
        .collect()
    )
    scored = customers.with_columns(
        quintile_score(-pl.col("recency_days")).alias("r_score"),
        quintile_score(pl.col("frequency")).alias("f_score"),
        quintile_score(pl.col("monetary")).alias("m_score"),
    )
    fm = (pl.col("f_score").cast(pl.Int32) + pl.col("m_score").cast(pl.Int32) + 1) // 2
    segment = pl.lit(None, dtype=pl.String)
    for r_score, row in SEGMENT_GRID.items():
        for position, name in enumerate(row, start=1):
            segment = (
                pl.when((pl.col("r_score") == r_score) & (fm == position))
                .then(pl.lit(name))
                .otherwise(segment)
            )
    return scored.with_columns(segment.alias("segment")).select(
        "user_id",
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "r_score",
        "f_score",
        "m_score",
        "segment",
        "first_order",
        "last_order",
    )


def behaviour(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """Per user, sessions before as_of: sessions, views_per_session, cart_rate (share of sessions with a cart)
    and purchase_session_rate."""
    sessions = (
        events.filter(pl.col("user_id").is_not_null() & (pl.col("event_time") < as_of))
        .group_by("user_id", "session_id")
        .agg(
            (pl.col("event_type") == "view").sum().alias("views"),
            (pl.col("event_type") == "cart").any().alias("carted"),
            (pl.col("event_type") == "purchase").any().alias("bought"),
        )
    )
    return sessions.group_by("user_id").agg(
        pl.len().cast(pl.Int64).alias("sessions"),
        (pl.col("views").sum() / pl.len()).alias("views_per_session"),
        pl.col("carted").mean().alias("cart_rate"),
        pl.col("bought").mean().alias("purchase_session_rate"),
    )


def future_buyers(events: pl.LazyFrame, as_of: datetime) -> pl.LazyFrame:
    """The users with a purchase at or after as_of (the holdout), one row each."""
    return (
        events.filter(
            (pl.col("event_type") == "purchase")
            & pl.col("user_id").is_not_null()
            & (pl.col("event_time") >= as_of)
        )
        .select("user_id")
        .unique()
    )
