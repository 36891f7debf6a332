"""User x item interactions from the event store: weighted, time-decayed, split by time, with vocabularies.

One lazy query aggregates every (user, product, part) pair, where part is train, validation or test by event
time, and collects once. A pair's weight is the sum over its events of `<type>_weight * 2 ** ((t - as_of) / h)`
(h the half-life); the history of a later cut-off is rescaled by `2 ** ((as_of - cutoff) / h)`, so every history
decays from its own cut-off without a second pass over the events. A second weight with the short
`trending_half_life_days` is summed per item the same way: what the trending candidate ranks by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse

from engine.config import RecommendConfig
from engine.errors import InputError

TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclass(frozen=True)
class History:
    """Interactions before a cut-off: the user and item vocabularies and the user x item matrices."""

    cutoff: datetime
    users: list[str]
    items: list[str]
    weights: sparse.csr_matrix  # float32, decayed weights, row per user
    purchased: sparse.csr_matrix  # bool, the pairs with a purchase
    item_category: list[str]  # per item, "" when unknown
    item_price: np.ndarray  # float64 per item, median price seen (nan when unknown)
    # float64 per item: its interactions' weights decayed with the short trending half-life (zeros if not built)
    item_trend: np.ndarray | None = None

    def user_index(self) -> dict[str, int]:
        return {user: index for index, user in enumerate(self.users)}

    def item_index(self) -> dict[str, int]:
        return {item: index for index, item in enumerate(self.items)}


@dataclass(frozen=True)
class Evaluation:
    """What one cut-off is judged on: the history before it and each returning user's later items."""

    history: History
    targets: dict[int, list[str]]  # history row -> products the user interacted with after the cut-off


@dataclass(frozen=True)
class Split:
    """The validation and test evaluations of one training run, and the window they came from."""

    validation: Evaluation
    test: Evaluation
    as_of: datetime
    train_start: datetime
    rows: int

    def window(self) -> dict[str, Any]:
        return {
            "train_start": self.train_start.isoformat(),
            "validation_start": self.validation.history.cutoff.isoformat(),
            "test_start": self.test.history.cutoff.isoformat(),
            "as_of": self.as_of.isoformat(),
        }


def event_weights(config: RecommendConfig) -> dict[str, float]:
    """The weight of each event type that counts as an interaction."""
    weights = {"view": config.view_weight, "cart": config.cart_weight, "purchase": config.purchase_weight}
    return {name: weight for name, weight in weights.items() if weight > 0}


def aggregate_pairs(
    events: pl.LazyFrame,
    config: RecommendConfig,
    as_of: datetime,
    train_start: datetime,
    cuts: list[datetime],
) -> pl.LazyFrame:
    """One row per (user_id, product_id, part): decayed weight, purchased, category, price (lazy)."""
    weights = event_weights(config)
    seconds = config.half_life_days * 86_400.0
    trend_seconds = config.trending_half_life_days * 86_400.0
    weight = pl.col("event_type").replace_strict(weights, default=0.0, return_dtype=pl.Float64)
    age = (pl.col("event_time") - pl.lit(as_of)).dt.total_microseconds().cast(pl.Float64) / 1e6
    part = pl.lit(TRAIN, dtype=pl.Int8)
    for index, cut in enumerate(cuts, start=1):
        part = pl.when(pl.col("event_time") >= pl.lit(cut)).then(pl.lit(index, dtype=pl.Int8)).otherwise(part)
    return (
        events.filter(
            pl.col("event_type").is_in(list(weights)),
            pl.col("user_id").is_not_null(),
            pl.col("product_id").is_not_null(),
            pl.col("event_time") >= pl.lit(train_start),
            pl.col("event_time") < pl.lit(as_of),
        )
        .with_columns(
            part.alias("part"),
            (weight * (age * (np.log(2.0) / seconds)).exp()).alias("weight"),
            (weight * (age * (np.log(2.0) / trend_seconds)).exp()).alias("trend"),
        )
        .group_by("user_id", "product_id", "part")
        .agg(
            pl.col("weight").sum(),
            pl.col("trend").sum(),
            (pl.col("event_type") == "purchase").any().alias("purchased"),
            pl.col("category").drop_nulls().first().alias("category"),
            pl.col("price").median().alias("price"),
        )
    )


def history_from_pairs(
    pairs: pl.DataFrame,
    cutoff: datetime,
    as_of: datetime,
    half_life_days: float,
    trending_half_life_days: float | None = None,
) -> History:
    """The History of the given pairs (already cut before cutoff), decayed from the cut-off."""
    scale = 2.0 ** ((as_of - cutoff).total_seconds() / (half_life_days * 86_400.0))
    merged = pairs.group_by("user_id", "product_id").agg(
        pl.col("weight").sum() * scale, pl.col("purchased").any()
    )
    users = sorted(merged.get_column("user_id").unique().to_list())
    trend = pl.lit(0.0)
    if trending_half_life_days is not None and "trend" in pairs.columns:
        trend_scale = 2.0 ** ((as_of - cutoff).total_seconds() / (trending_half_life_days * 86_400.0))
        trend = pl.col("trend").sum() * trend_scale
    items_frame = (
        pairs.group_by("product_id")
        .agg(pl.col("category").drop_nulls().first(), pl.col("price").median(), trend.alias("trend"))
        .sort("product_id")
    )
    items = items_frame.get_column("product_id").to_list()
    user_codes = pl.DataFrame({"user_id": users, "row": np.arange(len(users), dtype=np.int64)})
    item_codes = pl.DataFrame({"product_id": items, "col": np.arange(len(items), dtype=np.int64)})
    coded = merged.join(user_codes, on="user_id").join(item_codes, on="product_id")
    rows = coded.get_column("row").to_numpy()
    cols = coded.get_column("col").to_numpy()
    shape = (len(users), len(items))
    weights = sparse.csr_matrix(
        (coded.get_column("weight").to_numpy().astype(np.float32), (rows, cols)), shape=shape
    )
    bought = coded.get_column("purchased").to_numpy()
    purchased = sparse.csr_matrix(
        (np.ones(int(bought.sum()), dtype=bool), (rows[bought], cols[bought])), shape=shape
    )
    weights.sort_indices()
    purchased.sort_indices()
    return History(
        cutoff=cutoff,
        users=users,
        items=items,
        weights=weights,
        purchased=purchased,
        item_category=[value or "" for value in items_frame.get_column("category").to_list()],
        item_price=items_frame.get_column("price").cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        item_trend=items_frame.get_column("trend").cast(pl.Float64).to_numpy(),
    )


def evaluation(history: History, later: pl.DataFrame, exclude_purchased: bool) -> Evaluation:
    """Each returning user's later products (those already bought left out when purchases are excluded)."""
    index = history.user_index()
    items = history.item_index()
    targets: dict[int, list[str]] = {}
    for user, products in later.group_by("user_id").agg(pl.col("product_id").unique().sort()).iter_rows():
        row = index.get(user)
        if row is None:
            continue
        if exclude_purchased:
            start, end = history.purchased.indptr[row], history.purchased.indptr[row + 1]
            bought = {history.items[col] for col in history.purchased.indices[start:end]}
            products = [product for product in products if product not in bought]
        if products:
            targets[row] = products
    del items
    return Evaluation(history=history, targets=dict(sorted(targets.items())))


def build_split(events: pl.LazyFrame, config: RecommendConfig, as_of: datetime) -> Split:
    """The validation and test evaluations for training at as_of (collects the events once)."""
    test_start = as_of - timedelta(days=config.test_days)
    validation_start = test_start - timedelta(days=config.validation_days)
    train_start = validation_start - timedelta(days=config.train_days)
    pairs = aggregate_pairs(events, config, as_of, train_start, [validation_start, test_start]).collect()
    train = pairs.filter(pl.col("part") == TRAIN)
    if train.height == 0:
        raise InputError(
            f"no view/cart/purchase events with a user and a product between {train_start:%Y-%m-%d} and "
            f"{validation_start:%Y-%m-%d}; ingest more history or lower [recommend] test_days/validation_days"
        )
    trend = config.trending_half_life_days
    validation_history = history_from_pairs(train, validation_start, as_of, config.half_life_days, trend)
    test_history = history_from_pairs(
        pairs.filter(pl.col("part") < TEST), test_start, as_of, config.half_life_days, trend
    )
    validation = evaluation(
        validation_history, pairs.filter(pl.col("part") == VALIDATION), config.exclude_purchased
    )
    test = evaluation(test_history, pairs.filter(pl.col("part") == TEST), config.exclude_purchased)
    if not validation.targets or not test.targets:
        empty = "validation" if not validation.targets else "test"
        raise InputError(
            f"the {empty} window has no returning users with new interactions (as of {as_of:%Y-%m-%d}); "
            "ingest more days or widen [recommend] validation_days/test_days"
        )
    return Split(validation=validation, test=test, as_of=as_of, train_start=train_start, rows=pairs.height)


def serving_history(events: pl.LazyFrame, config: RecommendConfig, as_of: datetime) -> History:
    """Every interaction in the training window before as_of, decayed from as_of: what a registered model serves."""
    train_start = as_of - timedelta(days=config.train_days + config.validation_days + config.test_days)
    pairs = aggregate_pairs(events, config, as_of, train_start, []).collect()
    if pairs.height == 0:
        raise InputError(f"no view/cart/purchase events with a user and a product before {as_of:%Y-%m-%d}")
    return history_from_pairs(pairs, as_of, as_of, config.half_life_days, config.trending_half_life_days)
