"""Seeded orders for the forecast tests: two categories with a weekly pattern, a view and a purchase per order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

START = date(2026, 1, 5)  # a Monday
WEEKDAY = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.4, 1.3])
CATEGORIES = {"books": (20.0, 10.0), "toys": (8.0, 25.0)}  # orders a day, price


def seeded_events(first_day: int, last_day: int, *, silent: frozenset[str] = frozenset()) -> pl.DataFrame:
    """Seeded orders (a view and a purchase per order) on days first_day..last_day after START."""
    rows: dict[str, list] = {key: [] for key in ("event_time", "event_type", "event_name", "session_id")}
    rows |= {key: [] for key in ("category", "order_id", "price", "quantity", "user_id")}
    for day in range(first_day, last_day + 1):
        rng = np.random.default_rng(day)
        moment = datetime(START.year, START.month, START.day, 9, tzinfo=UTC) + timedelta(days=day)
        for category, (base, price) in CATEGORIES.items():
            if category in silent:
                continue
            for number in range(int(rng.poisson(base * WEEKDAY[day % 7]))):
                session = f"{category}-{day}-{number}"
                for kind in ("view", "purchase"):
                    rows["event_time"].append(moment + timedelta(minutes=number))
                    rows["event_type"].append(kind)
                    rows["event_name"].append(kind)
                    rows["session_id"].append(session)
                    rows["category"].append(category)
                    rows["order_id"].append(f"o-{session}" if kind == "purchase" else None)
                    rows["price"].append(price)
                    rows["quantity"].append(1 + number % 2)
                    rows["user_id"].append(f"u{number % 50}")
    return pl.DataFrame(rows).with_columns(pl.col("event_time").dt.cast_time_unit("us"))
