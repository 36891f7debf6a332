"""Bought-together rules: pair (and triple) association rules from baskets, computed in polars.

A basket is an order (`order_id` of purchase rows), or, for a purchase that carries no order id, the
purchases of its session. Items are distinct `product_id`s per basket. Frequent items are found first
(support = baskets holding the item / all baskets, at least `min_support`), then pairs of frequent items are
counted by a self-join on the basket, in chunks of baskets so memory stays bounded by the chunk and the
table of distinct pairs, not by the sum of squared basket sizes. Support thresholds follow mlxtend's
FP-growth (an itemset is frequent when its count >= ceil(min_support x baskets)).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from engine.errors import InputError
from engine.events import scan_events
from engine.workspace import Workspace

PAIRS_PER_CHUNK = 5_000_000
SORT_KEYS = ["lift", "confidence", "support"]


def basket_items(events: pl.LazyFrame) -> pl.LazyFrame:
    """(basket, item) per purchase: the order, or the session for a purchase without an order id (repeats kept)."""
    return events.filter((pl.col("event_type") == "purchase") & pl.col("product_id").is_not_null()).select(
        pl.coalesce(pl.lit("order:") + pl.col("order_id"), pl.lit("session:") + pl.col("session_id")).alias(
            "basket"
        ),
        pl.col("product_id").alias("item"),
    )


def _check_thresholds(min_support: float, min_confidence: float) -> None:
    if not 0 < min_support <= 1:
        raise InputError(f"--min-support {min_support}: give a share of baskets in (0, 1], e.g. 0.001")
    if not 0 <= min_confidence <= 1:
        raise InputError(f"--min-confidence {min_confidence}: give a share in [0, 1], e.g. 0.1")


def _pair_counts(coded: pl.DataFrame) -> pl.DataFrame:
    """Baskets holding each pair (a < b) of item codes, counted chunk by chunk of baskets."""
    sizes = coded.group_by("basket").agg(pl.len().alias("size"))
    pairs_total = int((sizes["size"].cast(pl.Int64) * (sizes["size"].cast(pl.Int64) - 1) // 2).sum())
    chunks = max(1, math.ceil(pairs_total / PAIRS_PER_CHUNK))
    counted = []
    for chunk in range(chunks):
        part = coded.filter(pl.col("basket").hash(seed=0) % chunks == chunk) if chunks > 1 else coded
        joined = (
            part.lazy()
            .join(part.lazy(), on="basket", suffix="_b")
            .filter(pl.col("a") < pl.col("a_b"))
            .group_by(pl.col("a"), pl.col("a_b").alias("b"))
            .agg(pl.len().alias("count"))
        )
        counted.append(joined.collect())
    counts = pl.concat(counted)
    if chunks > 1:
        counts = counts.group_by("a", "b").agg(pl.col("count").sum())
    return counts


def _triple_counts(coded: pl.DataFrame, frequent_pairs: pl.DataFrame) -> pl.DataFrame:
    """Baskets holding each triple a < b < c whose three pairs are all frequent (the Apriori property)."""
    pair_keys = frequent_pairs.select("a", "b")
    in_basket = coded.join(coded, on="basket", suffix="_b").filter(pl.col("a") < pl.col("a_b"))
    in_basket = in_basket.rename({"a_b": "b"}).join(pair_keys, on=["a", "b"], how="semi")
    triples = (
        in_basket.join(
            in_basket.rename({"a": "b2", "b": "c"}), left_on=["basket", "b"], right_on=["basket", "b2"]
        )
        .join(pair_keys.rename({"b": "c"}), on=["a", "c"], how="semi")
        .group_by("a", "b", "c")
        .agg(pl.len().alias("count"))
    )
    return triples


def _rule_rows(
    antecedent: list[pl.Expr],
    consequent: list[pl.Expr],
    count: pl.Expr,
    support_of_antecedent: str,
    support_of_consequent: str,
) -> list[pl.Expr]:
    return [
        pl.concat_list(antecedent).alias("antecedent"),
        pl.concat_list(consequent).alias("consequent"),
        count.alias("count"),
        pl.col(support_of_antecedent).alias("antecedent_count"),
        pl.col(support_of_consequent).alias("consequent_count"),
    ]


def _encode(items: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(basket, a) as UInt32 codes, one row per distinct basket and item, and the items' code -> name table.

    Distinct rows are found on one UInt64 key (basket code x 2^32 + item code), sorted: deduplicating the
    string pairs directly holds a hash table of strings that costs twice the memory at a million baskets.
    """
    basket_code = items["basket"].cast(pl.String).cast(pl.Categorical).to_physical().cast(pl.UInt64)
    item_code = items["item"].cast(pl.String).cast(pl.Categorical).to_physical()
    names = pl.DataFrame({"code": item_code, "item": items["item"].cast(pl.String)}).unique("code")
    key = (basket_code * (1 << 32) + item_code.cast(pl.UInt64)).sort().unique(maintain_order=True)
    coded = pl.DataFrame(
        {"basket": (key // (1 << 32)).cast(pl.UInt32), "a": (key % (1 << 32)).cast(pl.UInt32)}
    )
    return coded, names


def rules_from_baskets(
    items: pl.DataFrame,
    *,
    min_support: float = 0.001,
    min_confidence: float = 0.1,
    triples: bool = False,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Association rules from (basket, item) rows: one row per rule, plus counts of what was mined.

    Columns: antecedent, consequent (lists of item ids), count, support, confidence, lift, leverage,
    conviction (inf when confidence is 1), antecedent_support, consequent_support.
    """
    _check_thresholds(min_support, min_confidence)
    coded, names = _encode(items)
    baskets = int(coded["basket"].n_unique())
    if baskets == 0:
        raise InputError("no baskets: the events hold no purchase with a product_id; ingest orders first")
    min_count = math.ceil(min_support * baskets)
    item_counts = coded.group_by("a").agg(pl.len().alias("count"))
    frequent = item_counts.filter(pl.col("count") >= min_count).join(names, left_on="a", right_on="code")
    frequent = frequent.select(pl.col("a").alias("code"), "count", "item")
    coded = coded.join(frequent.select(pl.col("code").alias("a")), on="a", how="semi")
    pairs = _pair_counts(coded).filter(pl.col("count") >= min_count)
    counts = frequent.select(pl.col("code"), pl.col("count").alias("item_count"))
    name = frequent.select(pl.col("code"), pl.col("item"))

    def named(frame: pl.DataFrame, column: str) -> pl.DataFrame:
        renamed = name.rename({"code": column, "item": f"{column}_item"})
        counted = counts.rename({"code": column, "item_count": f"{column}_count"})
        return frame.join(renamed, on=column).join(counted, on=column)

    pairs_named = named(named(pairs, "a"), "b")
    candidates = [
        pairs_named.select(
            _rule_rows([pl.col("a_item")], [pl.col("b_item")], pl.col("count"), "a_count", "b_count")
        ),
        pairs_named.select(
            _rule_rows([pl.col("b_item")], [pl.col("a_item")], pl.col("count"), "b_count", "a_count")
        ),
    ]
    triple_total = 0
    if triples and pairs.height:
        found = _triple_counts(coded, pairs).filter(pl.col("count") >= min_count)
        triple_total = found.height
        found = named(named(named(found, "a"), "b"), "c")
        pair_count = pairs.rename({"count": "pair_count"})
        for left, right, single in (("a", "b", "c"), ("a", "c", "b"), ("b", "c", "a")):
            with_pair = found.join(
                pair_count.rename({"a": left, "b": right, "pair_count": "pair_count"}), on=[left, right]
            )
            # {left, right} -> single, and single -> {left, right}
            candidates.append(
                with_pair.select(
                    _rule_rows(
                        [pl.col(f"{left}_item"), pl.col(f"{right}_item")],
                        [pl.col(f"{single}_item")],
                        pl.col("count"),
                        "pair_count",
                        f"{single}_count",
                    )
                )
            )
            candidates.append(
                with_pair.select(
                    _rule_rows(
                        [pl.col(f"{single}_item")],
                        [pl.col(f"{left}_item"), pl.col(f"{right}_item")],
                        pl.col("count"),
                        f"{single}_count",
                        "pair_count",
                    )
                )
            )
    total = pl.lit(float(baskets))
    confidence = pl.col("count") / pl.col("antecedent_count")
    consequent_support = pl.col("consequent_count") / total
    rules = (
        pl.concat(candidates)
        .with_columns(
            (pl.col("count") / total).alias("support"),
            confidence.alias("confidence"),
            (pl.col("antecedent_count") / total).alias("antecedent_support"),
            consequent_support.alias("consequent_support"),
        )
        .with_columns(
            (pl.col("confidence") / pl.col("consequent_support")).alias("lift"),
            (pl.col("support") - pl.col("antecedent_support") * pl.col("consequent_support")).alias(
                "leverage"
            ),
            pl.when(pl.col("confidence") >= 1.0)
            .then(float("inf"))
            .otherwise((1 - pl.col("consequent_support")) / (1 - pl.col("confidence")))
            .alias("conviction"),
        )
        .filter(pl.col("confidence") >= min_confidence)
        .select(
            "antecedent",
            "consequent",
            "count",
            "support",
            "confidence",
            "lift",
            "leverage",
            "conviction",
            "antecedent_support",
            "consequent_support",
        )
    )
    mined = {
        "baskets": baskets,
        "items": names.height,
        "frequent_items": frequent.height,
        "frequent_pairs": pairs.height,
        "frequent_triples": triple_total,
        "min_count": min_count,
    }
    return rules, mined


def basket_rules(
    ws: Workspace,
    *,
    min_support: float = 0.001,
    min_confidence: float = 0.1,
    product: str | None = None,
    top: int = 20,
    triples: bool = False,
) -> dict[str, Any]:
    """The `shopctl basket rules --json` payload: the strongest rules by lift, then confidence and support."""
    _check_thresholds(min_support, min_confidence)
    if top < 1:
        raise InputError(f"--top {top}: give a positive number of rules, e.g. --top 20")
    items = basket_items(scan_events(ws)).collect(engine="streaming")
    if items.height == 0:
        raise InputError(
            f"{ws.events_dir}: no purchase with a product_id in the store; basket rules need orders "
            "(ingest a file with purchases and product ids)"
        )
    from_orders = int(items["basket"].str.starts_with("order:").sum())
    rows = items.height
    if product is not None and not (items["item"] == product).any():
        raise InputError(f"--product {product!r}: no basket holds this product; check the product_id")
    rules, mined = rules_from_baskets(
        items, min_support=min_support, min_confidence=min_confidence, triples=triples
    )
    if product is not None:
        rules = rules.filter(pl.col("antecedent").list.contains(product))
    ranked = rules.sort([*SORT_KEYS, "antecedent", "consequent"], descending=[True, True, True, False, False])
    shown = [
        row | {"conviction": None if math.isinf(row["conviction"]) else row["conviction"]}
        for row in ranked.head(top).to_dicts()
    ]
    source = "order_id" if from_orders == rows else "session" if from_orders == 0 else "order_id+session"
    return mined | {
        "basket_source": source,
        "min_support": min_support,
        "min_confidence": min_confidence,
        "product": product,
        "triples": triples,
        "rules_total": rules.height,
        "rules": shown,
    }
