"""Expand simulated sessions into event rows in the canonical schema (vectorised: no Python loop per row).

Inside a session the events run views, carts, removals, checkout, purchase rows (one per item), then a few
views after the purchase; times are spaced by exponential gaps shorter than the 30-minute session gap.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from engine.simulator.scenarios import EXPERIMENT_COLUMN
from engine.simulator.shop import (
    CATEGORY_NAMES,
    CATEGORY_SHARE,
    CHANNELS,
    COUNTRIES,
    DEVICES,
    Catalogue,
    pick,
    stream,
)

VIEW, CART, REMOVE, CHECKOUT, PURCHASE, AFTER = range(6)
KIND_TYPE = ("view", "cart", "remove_from_cart", "checkout", "purchase", "view")
SECOND_US = 1_000_000
# Mean gap before an event of each kind, in seconds.
MEAN_GAP_SECONDS = np.array([45.0, 25.0, 20.0, 60.0, 90.0, 60.0])
MAX_GAP_US = 25 * 60 * SECOND_US


def _codes_to_strings(column: str, names: tuple[str, ...]) -> pl.Expr:
    return pl.col(column).replace_strict(
        old=list(range(len(names))), new=list(names), default=None, return_dtype=pl.String
    )


def _prefixed(column: str, prefix: str, width: int) -> pl.Expr:
    text = pl.col(column).cast(pl.String).str.zfill(width)
    return pl.when(pl.col(column) >= 0).then(pl.lit(prefix) + text).otherwise(None)


def build_events(
    seed: int,
    origin: datetime,
    sessions: dict[str, np.ndarray],
    funnel: dict[str, np.ndarray],
    catalogue: Catalogue,
    drop_type: str | None = None,
    drop_from_us: int | None = None,
    variant_names: tuple[str, ...] = (),
    srm_lost_share: float = 0.0,
) -> pl.DataFrame:
    """The event table: one row per event, sorted by time, canonical columns plus channel, device, country."""
    n_views, n_cart, n_remove = funnel["n_views"], funnel["n_cart"], funnel["n_remove"]
    n_checkout, n_purchase, n_after = funnel["n_checkout"], funnel["n_purchase"], funnel["n_after"]
    total = n_views + n_cart + n_remove + n_checkout + n_purchase + n_after
    offset = np.cumsum(total) - total
    n_events = int(total.sum())
    session = np.repeat(np.arange(len(total), dtype=np.int64), total)
    position = np.arange(n_events, dtype=np.int64) - offset[session]

    bound = n_views[session]
    kind = (position >= bound).astype(np.int8)
    for count in (n_cart, n_remove, n_checkout, n_purchase):
        bound = bound + count[session]
        kind += position >= bound
    del bound

    product = np.full(n_events, -1, dtype=np.int64)
    price = np.full(n_events, np.nan)
    quantity = np.full(n_events, -1, dtype=np.int64)
    is_view = kind == VIEW
    product[is_view] = funnel["view_product"]
    price[is_view] = funnel["view_price"]

    first_cart = offset + n_views  # event index of each session's first cart row
    rows = np.flatnonzero(kind == CART)
    owner = session[rows]
    source = offset[owner] + (stream(seed, "cart-product").random(len(rows)) * n_views[owner]).astype(
        np.int64
    )
    product[rows], price[rows] = product[source], price[source]
    extra = stream(seed, "cart-quantity").random(len(rows))
    quantity[rows] = 1 + (extra < 0.15) + (extra < 0.04)

    rows = np.flatnonzero(kind == REMOVE)
    owner = session[rows]
    source = first_cart[owner] + (stream(seed, "remove-item").random(len(rows)) * n_cart[owner]).astype(
        np.int64
    )
    product[rows], price[rows], quantity[rows] = product[source], price[source], quantity[source]

    rows = np.flatnonzero(kind == PURCHASE)
    owner = session[rows]
    express = funnel["express"][owner]
    first_purchase = offset + n_views + n_cart + n_remove + n_checkout
    source = np.where(express, first_cart[owner] - 1, first_cart[owner] + rows - first_purchase[owner])
    product[rows], price[rows], quantity[rows] = product[source], price[source], quantity[source]
    extra = stream(seed, "express-quantity").random(len(rows))
    quantity[rows] = np.where(express, 1 + (extra < 0.1), quantity[rows])

    rows = np.flatnonzero(kind == AFTER)
    owner = session[rows]
    stray = stream(seed, "after-stray").random(len(rows)) < 0.3
    category = np.where(
        stray, pick(stream(seed, "after-category"), CATEGORY_SHARE, len(rows)), funnel["focus"][owner]
    )
    product[rows] = catalogue.sample(stream(seed, "after-product"), category)
    changed = funnel["changed"][owner]
    price[rows] = catalogue.price[product[rows]] * np.where(changed, funnel["price_factor"][category], 1.0)

    gap = stream(seed, "gaps").exponential(1.0, n_events) * MEAN_GAP_SECONDS[kind] * SECOND_US
    later_items = (kind == PURCHASE) & (position > first_purchase[session] - offset[session])
    gap[later_items] /= 90.0  # items of one order are recorded within a second or so
    gap = np.minimum(gap.astype(np.int64), MAX_GAP_US)
    gap[offset] = 0
    elapsed = np.cumsum(gap)
    elapsed -= np.repeat(elapsed[offset], total)
    origin_us = int(origin.timestamp() * SECOND_US)
    event_us = origin_us + sessions["start"][session] + elapsed
    del gap, elapsed, position

    order = np.cumsum(n_purchase > 0) - 1
    frame = pl.DataFrame(
        {
            "event_time": pl.Series(event_us, dtype=pl.Int64),
            "kind": kind,
            "session": session,
            "user": sessions["user"][session],
            "product": product,
            "category_code": np.where(product >= 0, catalogue.category[np.maximum(product, 0)], -1),
            "order": np.where(kind == PURCHASE, order[session], -1),
            "price": price,
            "quantity": quantity,
            "channel_code": sessions["channel"][session],
            "device_code": sessions["device"][session],
            "country_code": sessions["country"][session],
        }
    )
    experiment = "variant" in sessions and bool(variant_names)
    if experiment:
        frame = frame.with_columns(pl.Series("variant_code", sessions["variant"][session]))
        if srm_lost_share > 0:
            # The SRM bug: the last variant's tracking drops some sessions that do not buy, whole.
            lost = (
                (sessions["variant"] == len(variant_names) - 1)
                & (n_purchase == 0)
                & (stream(seed, "srm-lost").random(len(total)) < srm_lost_share)
            )
            frame = frame.filter(~pl.Series(lost[session]))
    del session, product, price, quantity
    if drop_type is not None and drop_from_us is not None:
        dropped = [code for code, name in enumerate(KIND_TYPE) if name == drop_type]
        frame = frame.filter(
            ~(pl.col("kind").is_in(dropped) & (pl.col("event_time") >= origin_us + drop_from_us))
        )
    event_type = pl.col("kind").replace_strict(
        old=list(range(len(KIND_TYPE))), new=list(KIND_TYPE), return_dtype=pl.String
    )
    return (
        frame.lazy()
        .sort("event_time", maintain_order=True)
        .select(
            pl.col("event_time").cast(pl.Datetime("us", "UTC")),
            event_type.alias("event_type"),
            event_type.alias("event_name"),
            _prefixed("user", "u", 7).alias("user_id"),
            _prefixed("session", "s", 8).alias("session_id"),
            _prefixed("product", "p", 5).alias("product_id"),
            _codes_to_strings("category_code", CATEGORY_NAMES).alias("category"),
            _prefixed("order", "o", 7).alias("order_id"),
            pl.col("price").fill_nan(None).cast(pl.Float64),
            pl.when(pl.col("quantity") >= 0).then(pl.col("quantity")).cast(pl.Int64).alias("quantity"),
            _codes_to_strings("channel_code", CHANNELS).alias("channel"),
            _codes_to_strings("device_code", DEVICES).alias("device"),
            _codes_to_strings("country_code", COUNTRIES).alias("country"),
            *(
                [_codes_to_strings("variant_code", variant_names).alias(EXPERIMENT_COLUMN)]
                if experiment
                else []
            ),
        )
        .collect()
    )
