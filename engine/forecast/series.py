"""Daily series from the event store: orders, units, revenue or sessions per UTC day, optionally per group.

Orders are distinct order ids among purchase events; a purchase without an order id counts as one order per
session (so a log without order ids counts purchase sessions). Units sum the quantity of purchase rows (a
missing quantity is 1); revenue sums price x quantity. Days without events inside a series' span count 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

import numpy as np
import polars as pl

from engine.errors import InputError

METRICS = ("orders", "units", "revenue", "sessions")
TOTAL = "total"
NO_GROUP = "(none)"
# Columns a series may be split by: grouping by an id or a number would make one series per row.
NOT_GROUPABLE = {"event_time", "price", "quantity", "session_id", "user_id", "order_id"}


@dataclass(frozen=True)
class DailySeries:
    """One series: its name and a value per day, first..last inclusive."""

    name: str
    first: date
    values: np.ndarray

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.values.size - 1)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=offset) for offset in range(self.values.size)]


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise InputError(f"--metric {metric!r}: unknown metric; use one of {', '.join(METRICS)}")
    return metric


def check_by(events: pl.LazyFrame, by: str | None) -> str | None:
    """The grouping column, checked against the event store's columns."""
    if by is None or by == "":
        return None
    schema = events.collect_schema()
    groupable = [name for name, dtype in schema.items() if name not in NOT_GROUPABLE and dtype == pl.String]
    if by not in schema or by not in groupable:
        raise InputError(
            f"--by {by!r}: the event store has no such column to split by; use one of {', '.join(groupable)}"
        )
    return by


def _value_expression(metric: str) -> pl.Expr:
    purchase = pl.col("event_type") == "purchase"
    quantity = pl.col("quantity").fill_null(1).cast(pl.Float64)
    if metric == "orders":
        order = pl.coalesce(pl.lit("o:") + pl.col("order_id"), pl.lit("s:") + pl.col("session_id"))
        return order.filter(purchase).n_unique().cast(pl.Float64)
    if metric == "units":
        return quantity.filter(purchase).sum()
    if metric == "revenue":
        return (pl.col("price").fill_null(0.0) * quantity).filter(purchase).sum()
    return pl.col("session_id").n_unique().cast(pl.Float64)


def newest_event_time(events: pl.LazyFrame) -> datetime | None:
    return events.select(pl.col("event_time").max()).collect().item()


def last_complete_day(newest: datetime, now: datetime | None = None) -> date:
    """The last day whose actuals are in: the newest event's day, unless that is today (still filling up)."""
    today = (now or datetime.now(UTC)).date()
    day = newest.date()
    return day - timedelta(days=1) if day >= today else day


def daily_series(
    events: pl.LazyFrame,
    metric: str,
    by: str | None,
    first: date | None,
    last: date,
) -> list[DailySeries]:
    """Per-day values of metric, one series per group (or one "total"), from first (default: the data's start)."""
    start = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    window = events.filter(pl.col("event_time") < start)
    if first is not None:
        window = window.filter(
            pl.col("event_time") >= datetime(first.year, first.month, first.day, tzinfo=UTC)
        )
    keys = [pl.col("event_time").dt.date().alias("day")]
    if by is not None:
        keys.append(pl.col(by).fill_null(NO_GROUP).alias("series"))
    daily = window.group_by(keys).agg(_value_expression(metric).alias("value")).collect()
    if daily.is_empty():
        return []
    if by is None:
        daily = daily.with_columns(pl.lit(TOTAL).alias("series"))
    series = []
    for (name,), part in daily.sort("day").group_by(["series"], maintain_order=True):
        begin = cast(date, first or part.get_column("day").min())
        span = (last - begin).days + 1
        values = np.zeros(span)
        offsets = np.array([(day - begin).days for day in part.get_column("day").to_list()])
        values[offsets] = part.get_column("value").fill_null(0.0).to_numpy()
        series.append(DailySeries(name=str(name), first=begin, values=values))
    return series
