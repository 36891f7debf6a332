"""The `order_fraud` scenario: fraudulent orders added on top of a simulated shop, with their order ids as truth.

A separate layer over the simulated event frame (it only reads products, prices and users from it), so the base
shop's process is unchanged. From the change day on, three kinds of fraud arrive, about FRAUD_SHARE of the
shop's usual orders in all (at least MIN_BURSTS_PER_DAY bursts and MIN_ORDERS_PER_DAY of the other kinds):
- card testing: bursts of 4-9 small orders (the cheapest products, one item) from accounts created minutes before,
  each order its own short session, all within about half an hour;
- account takeover: a high-value first order (3-6 of the dearest products) from an existing account that never
  bought, at night (01:00-04:59 UTC), from a country that account never used, on a new device;
- bulk buying: one product in a quantity of 12-40, from a new account.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import polars as pl

KINDS = ("card_testing", "account_takeover", "bulk_quantity")
# Fraudulent orders per usual order from the change day on, and how they split between the kinds.
FRAUD_SHARE = 0.05
KIND_SHARE = {"card_testing": 0.5, "account_takeover": 0.25, "bulk_quantity": 0.25}
FOREIGN_COUNTRIES = ("BR", "NG", "US", "RU", "IN")
SECOND_US = 1_000_000
# Least events of each kind per day, so a small shop's scenario still has some of every kind.
MIN_BURSTS_PER_DAY = 0.25
MIN_ORDERS_PER_DAY = 0.5


def day_start(day: date) -> datetime:
    """Midnight UTC of a day (as engine.simulator.scenarios, which imports this module)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def describe_fraud(change: date) -> dict[str, Any]:
    """The ground-truth entry of the scenario before orders are drawn (simulate adds `fraud_orders`)."""
    return {
        "change_day": change.isoformat(),
        "change_time": day_start(change).isoformat().replace("+00:00", "Z"),
        "segment": {},
        "what": (
            f"from the change day on, fraudulent orders of about {FRAUD_SHARE:.0%} of the usual orders: bursts of "
            "small card-testing orders from new accounts, high-value first orders at night from a country new to "
            "the account, and bulk quantities of one product"
        ),
        "changes": [
            {"metric": "order_risk_share", "scope": "overall", "direction": "up"},
            {"feature": "orders_1h", "direction": "up"},
            {"feature": "max_line_quantity", "direction": "up"},
        ],
    }


class _Builder:
    """Accumulates the event rows of fraudulent sessions."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {
            name: []
            for name in (
                "event_time",
                "event_type",
                "user_id",
                "session_id",
                "product_id",
                "category",
                "order_id",
                "price",
                "quantity",
                "channel",
                "device",
                "country",
            )
        }
        self.sessions = 0
        self.orders = 0

    def order(
        self,
        rng: np.random.Generator,
        start_us: int,
        user: str,
        lines: list[tuple[str, str, float, int]],
        *,
        device: str,
        country: str,
        channel: str = "direct",
    ) -> str:
        """One session that views, carts, checks out and buys `lines` (product, category, price, quantity)."""
        self.sessions += 1
        self.orders += 1
        session, order = f"fs{self.sessions:06d}", f"fo{self.orders:06d}"
        moment = start_us
        events: list[tuple[str, tuple[str, str, float] | None, int | None, str | None]] = []
        for product, category, price, _ in lines:
            events.append(("view", (product, category, price), None, None))
            events.append(("cart", (product, category, price), 1, None))
        events.append(("checkout", None, None, None))
        for product, category, price, quantity in lines:
            events.append(("purchase", (product, category, price), quantity, order))
        for event_type, item, line_quantity, order_id in events:
            moment += int(rng.exponential(12.0) * SECOND_US) + SECOND_US
            self.rows["event_time"].append(moment)
            self.rows["event_type"].append(event_type)
            self.rows["user_id"].append(user)
            self.rows["session_id"].append(session)
            self.rows["product_id"].append(item[0] if item else None)
            self.rows["category"].append(item[1] if item else None)
            self.rows["order_id"].append(order_id)
            self.rows["price"].append(item[2] if item else None)
            self.rows["quantity"].append(line_quantity)
            self.rows["channel"].append(channel)
            self.rows["device"].append(device)
            self.rows["country"].append(country)
        return order

    def frame(self, schema: pl.Schema) -> pl.DataFrame:
        frame = pl.DataFrame(self.rows).with_columns(
            pl.from_epoch(pl.col("event_time"), time_unit="us").dt.replace_time_zone("UTC"),
            pl.col("event_type").alias("event_name"),
        )
        return frame.select(
            [
                frame[name].cast(dtype) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in schema.items()
            ]
        )


def add_order_fraud(
    events: pl.DataFrame, *, seed: int, change: date, end: date
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """events plus fraudulent sessions from `change` to the end of `end`; (events, truth with the order ids)."""
    rng = np.random.default_rng([int(seed), 0xF4A0D])
    change_time = day_start(change)
    days = (end - change).days + 1
    purchases = events.filter(pl.col("event_type") == "purchase")
    first_event: datetime = events["event_time"].min()  # type: ignore[assignment]
    last_event: datetime = events["event_time"].max()  # type: ignore[assignment]
    usual_orders_per_day = purchases["order_id"].n_unique() / max(1, (last_event - first_event).days + 1)
    products = (
        events.filter(pl.col("product_id").is_not_null() & pl.col("price").is_not_null())
        .group_by("product_id")
        .agg(pl.col("category").first(), pl.col("price").median())
        .sort("price", "product_id")
    )
    cheap = products.head(max(5, products.height // 10)).rows()
    dear = products.tail(max(5, products.height // 10)).rows()
    before = events.filter(pl.col("event_time") < change_time)
    buyers = set(purchases["user_id"].drop_nulls().to_list())
    # Existing accounts that have browsed but never bought, with the countries and devices they used.
    browsers = (
        before.filter(pl.col("user_id").is_not_null() & ~pl.col("user_id").is_in(list(buyers)))
        .group_by("user_id")
        .agg(pl.col("country").unique(), pl.col("device").unique())
        .sort("user_id")
    )
    devices = ("desktop", "mobile", "tablet")
    builder = _Builder()
    truth_orders: dict[str, list[str]] = {kind: [] for kind in KINDS}
    new_accounts = 0
    taken: set[str] = set()

    def day_moment(day: int, low_hour: float = 0.0, high_hour: float = 24.0) -> int:
        start = change_time + timedelta(days=day, hours=float(rng.uniform(low_hour, high_hour)))
        return int(start.timestamp() * SECOND_US)

    expected = usual_orders_per_day * FRAUD_SHARE
    for day in range(days):
        # card testing: bursts of small orders from one fresh account
        bursts = rng.poisson(max(MIN_BURSTS_PER_DAY, expected * KIND_SHARE["card_testing"] / 6.5))
        for _ in range(bursts):
            new_accounts += 1
            user = f"fu{new_accounts:05d}"
            moment = day_moment(day)
            device, country = str(rng.choice(devices)), str(rng.choice(FOREIGN_COUNTRIES))
            for _ in range(int(rng.integers(4, 10))):
                product, category, price = cheap[int(rng.integers(len(cheap)))]
                moment += int(rng.uniform(60, 300) * SECOND_US)
                order = builder.order(
                    rng, moment, user, [(product, category, price, 1)], device=device, country=country
                )
                truth_orders["card_testing"].append(order)
        # account takeover: a dear first order at night from a country the account never used
        for _ in range(rng.poisson(max(MIN_ORDERS_PER_DAY, expected * KIND_SHARE["account_takeover"]))):
            candidates = [row for row in browsers.rows() if row[0] not in taken]
            if not candidates:
                break
            user, countries, used_devices = candidates[int(rng.integers(len(candidates)))]
            taken.add(user)
            country = str(rng.choice([c for c in FOREIGN_COUNTRIES if c not in (countries or [])]))
            unused = [d for d in devices if d not in (used_devices or [])] or list(devices)
            lines = []
            for index in rng.choice(len(dear), size=int(rng.integers(3, 7)), replace=False):
                product, category, price = dear[int(index)]
                lines.append((product, category, price, 1))
            order = builder.order(
                rng, day_moment(day, 1.0, 5.0), user, lines, device=str(rng.choice(unused)), country=country
            )
            truth_orders["account_takeover"].append(order)
        # bulk: one product in a large quantity from a new account
        for _ in range(rng.poisson(max(MIN_ORDERS_PER_DAY, expected * KIND_SHARE["bulk_quantity"]))):
            new_accounts += 1
            product, category, price = products.row(int(rng.integers(products.height)))
            order = builder.order(
                rng,
                day_moment(day),
                f"fu{new_accounts:05d}",
                [(product, category, price, int(rng.integers(12, 41)))],
                device=str(rng.choice(devices)),
                country=str(rng.choice(("DE", "GB", "FR"))),
            )
            truth_orders["bulk_quantity"].append(order)

    fraud = builder.frame(events.schema)
    combined = pl.concat([events, fraud]).sort("event_time", maintain_order=True) if fraud.height else events
    all_orders = sorted(order for orders in truth_orders.values() for order in orders)
    truth = {
        "fraud_orders": all_orders,
        "fraud_by_kind": {kind: len(orders) for kind, orders in truth_orders.items()},
        "fraud_order_kinds": {order: kind for kind, orders in truth_orders.items() for order in orders},
        "fraud_users": sorted(set(fraud["user_id"].to_list())) if fraud.height else [],
    }
    return combined, truth


def fraud_labels(orders: pl.DataFrame, truth: dict[str, Any], column: str = "is_fraud") -> pl.DataFrame:
    """orders with an Int8 `column`: 1 for the orders the ground truth names as fraudulent."""
    return orders.with_columns(
        pl.col("order_id").is_in(list(truth.get("fraud_orders", []))).cast(pl.Int8).alias(column)
    )
