"""Recommendation candidates with scikit-learn habits: __init__ stores parameters, fit returns self, and the
learned `scorer_` (a LinearScorer) is what is evaluated, exported to ONNX and served.

Memory bounds: item-kNN and EASE work on the `max_items` most interacted items (dense [m, m] float32 for the
kNN neighbour matrix with at most `neighbours` non-zeros per column, an [m, m] float64 inverse for EASE:
0.5 GB at 8,000 items). ALS and content are factor parts ([n, f] matrices), popularity a bias vector.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from models.recommend.scorer import LinearScorer, Part


def _top_items(weights: sparse.csr_matrix, max_items: int) -> np.ndarray | None:
    """The max_items columns with the most users (sorted), or None when every column fits."""
    n_items = weights.shape[1]
    if n_items <= max_items:
        return None
    users_per_item = np.asarray((weights > 0).sum(axis=0)).ravel()
    chosen = np.argsort(-users_per_item, kind="stable")[:max_items]
    return np.sort(chosen).astype(np.int64)


class Popularity:
    """Every user gets the items most users interacted with (decayed weights summed per item)."""

    def __init__(self) -> None:
        pass

    def fit(self, weights: sparse.csr_matrix, **_: object) -> Popularity:
        users_per_item = np.asarray((weights > 0).sum(axis=0), dtype=np.float64).ravel()
        weight_per_item = np.asarray(weights.sum(axis=0), dtype=np.float64).ravel()
        # Users first, decayed weight as the tie-break: recent popularity wins among equals.
        total = users_per_item + weight_per_item / (weight_per_item.max() + 1.0)
        self.popularity_ = total.astype(np.float32)
        self.scorer_ = LinearScorer(weights.shape[1], [Part(bias=self.popularity_)])
        return self


class Trending:
    """Every user gets the items with the most recent interactions: weights decayed with a short half-life
    (`[recommend] trending_half_life_days`) summed per item; users per item break ties, so items with no recent
    interaction still rank by popularity."""

    def __init__(self) -> None:
        pass

    def fit(
        self, weights: sparse.csr_matrix, *, item_trend: np.ndarray | None = None, **_: object
    ) -> Trending:
        users_per_item = np.asarray((weights > 0).sum(axis=0), dtype=np.float64).ravel()
        trend = np.zeros(weights.shape[1]) if item_trend is None else np.asarray(item_trend, dtype=np.float64)
        if trend.shape != users_per_item.shape:
            raise ValueError(f"item_trend has {trend.size} items, the weights {users_per_item.size}")
        total = trend / (trend.max(initial=0.0) + 1e-12) + 1e-3 * users_per_item / (
            users_per_item.max() + 1.0
        )
        self.trend_ = total.astype(np.float32)
        self.scorer_ = LinearScorer(weights.shape[1], [Part(bias=self.trend_)])
        return self


class ItemKNN:
    """Item-item collaborative filtering: cosine of binary co-occurrence, top `neighbours` per item."""

    def __init__(self, neighbours: int = 100, max_items: int = 8000) -> None:
        self.neighbours = neighbours
        self.max_items = max_items

    def fit(self, weights: sparse.csr_matrix, **_: object) -> ItemKNN:
        self.items_ = _top_items(weights, self.max_items)
        chosen = weights if self.items_ is None else weights[:, self.items_]
        binary = (chosen > 0).astype(np.float32).tocsc()
        co = (binary.T @ binary).toarray()
        norms = np.sqrt(np.diag(co)).astype(np.float32) + np.float32(1e-9)
        similarity = (co / norms[:, None] / norms[None, :]).astype(np.float32)
        np.fill_diagonal(similarity, 0.0)
        keep = min(self.neighbours, similarity.shape[0])
        if keep < similarity.shape[0]:
            # Column j scores item j from its neighbours i: keep exactly the top `keep` rows of each column.
            best = np.argpartition(-similarity, keep - 1, axis=0)[:keep, :]
            kept = np.zeros(similarity.shape, dtype=bool)
            np.put_along_axis(kept, best, True, axis=0)
            similarity[~kept] = 0.0
        self.similarity_ = similarity
        self.scorer_ = LinearScorer(weights.shape[1], [Part(left=similarity, items=self.items_)])
        return self

    def similar(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k items most similar to vocabulary index item (empty when it is outside the kNN items)."""
        columns = np.arange(self.similarity_.shape[0]) if self.items_ is None else self.items_
        where = np.flatnonzero(columns == item)
        if where.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        row = self.similarity_[where[0]]
        order = np.argsort(-row, kind="stable")[:k]
        order = order[row[order] > 0]
        return columns[order].astype(np.int64), row[order]


class EASE:
    """EASE (Steck 2019): B = I - P / diag(P), P = (X'X + lambda I)^-1, on the max_items most used items."""

    def __init__(self, regularization: float = 200.0, max_items: int = 8000) -> None:
        self.regularization = regularization
        self.max_items = max_items

    def fit(self, weights: sparse.csr_matrix, **_: object) -> EASE:
        self.items_ = _top_items(weights, self.max_items)
        chosen = weights if self.items_ is None else weights[:, self.items_]
        gram = (chosen.T @ chosen).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.regularization
        inverse = np.linalg.inv(gram)
        coefficients = -inverse / np.diag(inverse)[None, :]
        np.fill_diagonal(coefficients, 0.0)
        self.coefficients_ = coefficients.astype(np.float32)
        self.scorer_ = LinearScorer(weights.shape[1], [Part(left=self.coefficients_, items=self.items_)])
        return self


class ALS:
    """Implicit-feedback ALS from the `implicit` library; served by folding a history into the item factors:
    u = h Y (Y'Y + lambda I)^-1, scores = u Y' (one linear map, so the batched graph takes histories)."""

    def __init__(self, factors: int = 64, iterations: int = 15, regularization: float = 0.05, seed: int = 42):
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.seed = seed

    def fit(self, weights: sparse.csr_matrix, **_: object) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares  # type: ignore[import-untyped]
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # implicit warns (and slows) with threaded BLAS
            model = AlternatingLeastSquares(
                factors=self.factors,
                iterations=self.iterations,
                regularization=self.regularization,
                random_state=self.seed,
                num_threads=2,
            )
            model.fit(weights.astype(np.float32).tocsr(), show_progress=False)
        self.model_ = model
        item_factors = np.asarray(model.item_factors, dtype=np.float64)
        gram = item_factors.T @ item_factors + self.regularization * np.eye(item_factors.shape[1])
        fold = item_factors @ np.linalg.inv(gram)
        self.item_factors_ = item_factors.astype(np.float32)
        self.scorer_ = LinearScorer(
            weights.shape[1], [Part(left=fold.astype(np.float32), right=self.item_factors_.T.copy())]
        )
        return self


def price_bands(prices: np.ndarray, bands: int = 5) -> np.ndarray:
    """Quantile band (0..bands-1) of each price; unknown prices get band -1."""
    known = np.isfinite(prices)
    result = np.full(prices.shape, -1, dtype=np.int64)
    if known.any():
        edges = np.quantile(prices[known], np.linspace(0, 1, bands + 1)[1:-1])
        result[known] = np.searchsorted(edges, prices[known], side="right")
    return result


class ContentBased:
    """Items like the user's in category and price band: scores = (h F) F' with F one-hot, rows L2-normed."""

    def __init__(self, price_weight: float = 0.5) -> None:
        self.price_weight = price_weight

    def fit(
        self,
        weights: sparse.csr_matrix,
        *,
        item_category: Sequence[str] = (),
        item_price: np.ndarray | None = None,
        **_: object,
    ) -> ContentBased:
        n_items = weights.shape[1]
        categories = sorted(set(item_category))
        code = {name: index for index, name in enumerate(categories)}
        bands = price_bands(item_price if item_price is not None else np.full(n_items, np.nan))
        features = np.zeros((n_items, len(categories) + 5), dtype=np.float32)
        for index, name in enumerate(item_category):
            features[index, code[name]] = 1.0
        known = bands >= 0
        features[np.flatnonzero(known), len(categories) + bands[known]] = self.price_weight
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        features = features / np.maximum(norms, 1e-9)
        # A small popularity prior breaks the ties between the many items of one category and band.
        users_per_item = np.asarray((weights > 0).sum(axis=0), dtype=np.float32).ravel()
        self.features_ = features.astype(np.float32)
        self.scorer_ = LinearScorer(
            n_items,
            [
                Part(left=self.features_, right=self.features_.T.copy()),
                Part(bias=users_per_item, weight=0.05),
            ],
        )
        return self


def fuse(scorers: dict[str, LinearScorer], blend: dict[str, float]) -> LinearScorer:
    """One scorer blending the named scorers' parts by weight (their parts keep their relative weights)."""
    first = next(iter(scorers.values()))
    parts: list[Part] = []
    for name, weight in blend.items():
        if weight <= 0:
            continue
        for part in scorers[name].parts:
            parts.append(
                Part(
                    left=part.left,
                    right=part.right,
                    bias=part.bias,
                    items=part.items,
                    weight=weight * part.weight,
                )
            )
    return LinearScorer(first.n_items, parts)
