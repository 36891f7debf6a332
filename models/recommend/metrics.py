"""Ranking metrics of a batch of recommendation lists against each user's later items."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of how often each catalog item was recommended (0 even, 1 one item for all)."""
    values = np.sort(np.asarray(counts, dtype=np.float64))
    if values.size == 0 or values.sum() == 0:
        return 0.0
    ranks = np.arange(1, values.size + 1)
    return float(
        (2 * (ranks * values).sum()) / (values.size * values.sum()) - (values.size + 1) / values.size
    )


def ranking_metrics(
    recommended: Sequence[Sequence[str]],
    targets: Sequence[Sequence[str]],
    fallback: Sequence[bool],
    n_items: int,
) -> dict[str, float]:
    """hit_rate_at_10, ndcg_at_10, recall_at_20, map_at_10 (means over users), coverage and gini of the top 10
    over the n_items catalog, and fallback_share (users served the popular list)."""
    if not recommended:
        raise ValueError("ranking_metrics needs at least one user")
    hits, ndcgs, recalls, aps = [], [], [], []
    counts: dict[str, int] = {}
    discounts = 1.0 / np.log2(np.arange(2, 12))
    for items, wanted_list in zip(recommended, targets, strict=True):
        wanted = set(wanted_list)
        top10 = list(items[:10])
        for item in top10:
            counts[item] = counts.get(item, 0) + 1
        relevant = np.array([item in wanted for item in top10], dtype=bool)
        hits.append(float(relevant.any()))
        ideal = discounts[: min(len(wanted), 10)].sum()
        ndcgs.append(float(discounts[: len(top10)][relevant].sum() / ideal) if ideal else 0.0)
        recalls.append(len(wanted.intersection(items[:20])) / len(wanted) if wanted else 0.0)
        precision_at = np.cumsum(relevant) / np.arange(1, len(top10) + 1)
        aps.append(float((precision_at * relevant).sum() / min(len(wanted), 10)) if wanted else 0.0)
    spread = np.zeros(n_items)
    spread[: len(counts)] = sorted(counts.values())
    return {
        "hit_rate_at_10": float(np.mean(hits)),
        "ndcg_at_10": float(np.mean(ndcgs)),
        "recall_at_20": float(np.mean(recalls)),
        "map_at_10": float(np.mean(aps)),
        "coverage": len(counts) / n_items if n_items else 0.0,
        "gini": gini(spread),
        "fallback_share": float(np.mean(np.asarray(fallback, dtype=np.float64))),
    }
