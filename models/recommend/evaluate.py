"""Recommend for a set of users in batches through a scorer, and measure the lists."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from models.recommend.metrics import ranking_metrics
from models.recommend.scorer import LinearScorer, top_k

BATCH_USERS = 2048


def recommend_rows(
    scorer: LinearScorer,
    weights: sparse.csr_matrix,
    exclude: sparse.csr_matrix | None,
    users: Sequence[int],
    k: int,
    popular: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k item indices [U, k] for the given history rows, and which users got the popular fallback
    (no history at all); the fallback list skips what the user may not be shown."""
    rows = np.asarray(users, dtype=np.int64)
    result = np.zeros((rows.size, k), dtype=np.int64)
    fallback = np.zeros(rows.size, dtype=np.bool_)
    for start in range(0, rows.size, BATCH_USERS):
        chunk = rows[start : start + BATCH_USERS]
        history = weights[chunk].toarray()
        masked = None if exclude is None else exclude[chunk].toarray().astype(np.float32)
        indices, _ = top_k(scorer.score(history), masked, k)
        empty = history.sum(axis=1) == 0
        for offset in np.flatnonzero(empty):
            banned = set() if masked is None else set(np.flatnonzero(masked[offset]).tolist())
            indices[offset] = [item for item in popular if item not in banned][:k]
        result[start : start + chunk.size] = indices
        fallback[start : start + chunk.size] = empty
    return result, fallback


def measure(
    scorer: LinearScorer,
    weights: sparse.csr_matrix,
    exclude: sparse.csr_matrix | None,
    targets: dict[int, list[str]],
    items: Sequence[str],
    popular: np.ndarray,
) -> dict[str, float]:
    """ranking_metrics of the scorer's top 20 for every user with targets."""
    rows = list(targets)
    indices, fallback = recommend_rows(scorer, weights, exclude, rows, 20, popular)
    lists = [[items[index] for index in row] for row in indices]
    return ranking_metrics(lists, [targets[row] for row in rows], fallback.tolist(), len(items))


BLEND_GRID = (0.0, 0.5, 1.0)


def fit_blend(
    scorers: dict[str, LinearScorer],
    weights: sparse.csr_matrix,
    exclude: sparse.csr_matrix | None,
    targets: dict[int, list[str]],
    items: Sequence[str],
    popular: np.ndarray,
    metric: str = "ndcg_at_10",
) -> tuple[dict[str, float], float]:
    """The blend weights (a grid over each named scorer) with the best validation metric, and that metric."""
    from models.recommend.candidates import fuse

    names = list(scorers)
    best: tuple[float, dict[str, float]] = (-1.0, {})
    for combination in itertools.product(BLEND_GRID, repeat=len(names)):
        if sum(1 for weight in combination if weight > 0) < 2 or max(combination) < 1.0:
            continue  # single scorers are candidates already; the largest weight is 1 (scale-free)
        blend = dict(zip(names, combination, strict=True))
        value = measure(fuse(scorers, blend), weights, exclude, targets, items, popular)[metric]
        if value > best[0]:
            best = (value, blend)
    return best[1], best[0]
