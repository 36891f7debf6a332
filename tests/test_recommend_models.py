"""Recommendation candidates on hand-made interactions, ranking metrics by hand, and ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from models.recommend.candidates import ALS, EASE, ContentBased, ItemKNN, Popularity, fuse
from models.recommend.evaluate import measure
from models.recommend.metrics import gini, ranking_metrics
from models.recommend.onnx_export import check_parity, export_onnx, session


def _two_tastes(seed: int = 0) -> tuple[sparse.csr_matrix, dict[int, list[str]], list[str]]:
    """Group A (60 users) likes items 0-19, group B (40 users) items 20-39, and items 40-44 are viewed by
    everyone (the popular ones). Each user's held-out item is one of their own group's items."""
    rng = np.random.default_rng(seed)
    rows, cols, targets = [], [], {}
    for user in range(100):
        own = np.arange(0, 20) if user < 60 else np.arange(20, 40)
        chosen = rng.choice(own, size=8, replace=False)
        held_out = int(chosen[0])
        for item in [*chosen[1:], *range(40, 45)]:
            rows.append(user)
            cols.append(int(item))
        targets[user] = [f"i{held_out}"]
    weights = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(100, 45))
    return weights, targets, [f"i{index}" for index in range(45)]


def test_item_knn_beats_popularity_on_two_tastes() -> None:
    weights, targets, items = _two_tastes()
    popular = np.argsort(-Popularity().fit(weights).popularity_, kind="stable")
    exclude = (weights > 0).astype(np.float32).tocsr()  # seen items are not the held-out one
    popularity = measure(Popularity().fit(weights).scorer_, weights, exclude, targets, items, popular)
    knn = measure(ItemKNN(neighbours=20).fit(weights).scorer_, weights, exclude, targets, items, popular)
    ease = measure(EASE(regularization=10.0).fit(weights).scorer_, weights, exclude, targets, items, popular)
    # 12 unseen items of the own group share 10 places: 0.83 is the best a ranking can expect
    assert knn["hit_rate_at_10"] >= 0.75 and knn["hit_rate_at_10"] >= 1.5 * popularity["hit_rate_at_10"]
    assert popularity["hit_rate_at_10"] <= 0.5
    assert knn["ndcg_at_10"] > popularity["ndcg_at_10"] and ease["ndcg_at_10"] > popularity["ndcg_at_10"]


def test_ranking_metrics_by_hand() -> None:
    metrics = ranking_metrics(
        [["a", "b", "c"], ["c", "d", "e"]], [["b"], ["x", "y"]], [False, True], n_items=10
    )
    assert metrics["hit_rate_at_10"] == 0.5
    assert metrics["ndcg_at_10"] == pytest.approx((1 / np.log2(3)) / 2)
    assert metrics["recall_at_20"] == 0.5
    assert metrics["map_at_10"] == pytest.approx(0.5 / 2)
    assert metrics["coverage"] == 0.5  # a, b, c, d, e of 10
    assert metrics["fallback_share"] == 0.5
    assert gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)


def test_item_knn_keeps_at_most_n_neighbours_and_bounds_items() -> None:
    weights, _, _ = _two_tastes()
    knn = ItemKNN(neighbours=3, max_items=12).fit(weights)
    assert knn.similarity_.shape == (12, 12)
    assert knn.items_ is not None and len(knn.items_) == 12
    assert ((knn.similarity_ > 0).sum(axis=0) <= 3).all()


def _candidates(weights: sparse.csr_matrix) -> dict[str, object]:
    category = ["a" if index < 20 else "b" for index in range(45)]
    price = np.linspace(5, 100, 45)
    fitted = {
        "popularity": Popularity().fit(weights),
        "itemknn": ItemKNN(neighbours=5, max_items=30).fit(weights),
        "ease": EASE(regularization=10.0, max_items=35).fit(weights),
        "als": ALS(factors=8, iterations=3, seed=1).fit(weights),
        "content": ContentBased().fit(weights, item_category=category, item_price=price),
    }
    return {name: model.scorer_ for name, model in fitted.items()}


def test_onnx_graph_matches_the_numpy_reference_for_every_candidate() -> None:
    weights, _, _ = _two_tastes(seed=3)
    scorers = _candidates(weights)
    scorers["fused"] = fuse(scorers, {"popularity": 1.0, "itemknn": 0.5, "als": 0.25})
    history = weights.toarray().astype(np.float32)
    exclude = np.zeros_like(history)
    exclude[:, 40] = 1.0
    for name, scorer in scorers.items():
        onnx_bytes = export_onnx(scorer, 10)
        assert check_parity(onnx_bytes, scorer, history, exclude, 10) <= 1e-5, name
        indices, _ = session(onnx_bytes).run(["indices", "scores"], {"history": history, "exclude": exclude})
        assert indices.shape == (100, 10) and not (indices == 40).any(), name


def test_parity_check_fails_on_a_different_graph() -> None:
    weights, _, _ = _two_tastes()
    scorers = _candidates(weights)
    history = weights.toarray().astype(np.float32)
    with pytest.raises(ValueError, match="parity"):
        check_parity(
            export_onnx(scorers["itemknn"], 10), scorers["ease"], history, np.zeros_like(history), 10
        )


def test_onnx_graph_matches_on_every_part_shape_including_a_subset_part_with_a_bias() -> None:
    # the graph folds bias-only parts into one row and scatter-adds subset parts; a subset part with its own
    # bias takes the general path (placed on zeros, biased, scaled over all items): each must equal numpy
    from models.recommend.scorer import LinearScorer, Part

    rng = np.random.default_rng(11)
    n = 30
    subset = np.array([3, 7, 8, 20, 29])
    parts = {
        "bias only": [Part(bias=rng.random(n).astype(np.float32))],
        "subset only": [Part(left=rng.random((5, 5)).astype(np.float32), items=subset)],
        "subset with bias": [
            Part(
                left=rng.random((5, 5)).astype(np.float32),
                items=subset,
                bias=rng.random(n).astype(np.float32),
            )
        ],
        "all shapes": [
            Part(bias=rng.random(n).astype(np.float32), weight=0.3),
            Part(bias=-rng.random(n).astype(np.float32), weight=0.1),
            Part(
                left=rng.standard_normal((n, 4)).astype(np.float32),
                right=rng.standard_normal((4, n)).astype(np.float32),
            ),
            Part(left=rng.random((5, 5)).astype(np.float32), items=subset, weight=0.7),
            Part(
                left=rng.random((5, 5)).astype(np.float32),
                items=subset[::-1].copy(),
                bias=rng.random(n).astype(np.float32),
                weight=0.2,
            ),
        ],
    }
    history = (rng.random((40, n)) < 0.2).astype(np.float32)
    exclude = ((rng.random((40, n)) < 0.1) & (history > 0)).astype(np.float32)
    for name, scorer_parts in parts.items():
        scorer = LinearScorer(n, scorer_parts)
        onnx_bytes = export_onnx(scorer, 8)
        assert check_parity(onnx_bytes, scorer, history, exclude, 8) <= 1e-5, name
        indices, _ = session(onnx_bytes).run(["indices", "scores"], {"history": history, "exclude": exclude})
        assert not np.take_along_axis(exclude, indices, axis=1).any(), name


def test_trending_ranks_what_was_used_lately_and_popularity_what_most_users_used() -> None:
    # "old" was used by 30 users two months ago, "new" by 5 users in the last two days: popularity puts old
    # first, trending puts new first (and still ranks the rest by users per item)
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from engine.config import RecommendConfig
    from engine.recommend.interactions import aggregate_pairs, history_from_pairs
    from models.recommend.candidates import Popularity, Trending

    as_of = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [(as_of - timedelta(days=60, hours=u), f"u{u}", "old") for u in range(30)]
    rows += [(as_of - timedelta(days=1, hours=u), f"u{u}", "new") for u in range(5)]
    rows += [(as_of - timedelta(days=61), f"u{u}", "mid") for u in range(10)]
    events = pl.DataFrame(
        {
            "event_time": [r[0] for r in rows],
            "event_type": ["view"] * len(rows),
            "user_id": [r[1] for r in rows],
            "product_id": [r[2] for r in rows],
            "category": ["c"] * len(rows),
            "price": [1.0] * len(rows),
        }
    ).lazy()
    config = RecommendConfig()
    pairs = aggregate_pairs(events, config, as_of, as_of - timedelta(days=90), []).collect()
    history = history_from_pairs(pairs, as_of, as_of, config.half_life_days, config.trending_half_life_days)
    order = lambda model: [history.items[i] for i in np.argsort(-model.scorer_.parts[0].bias, kind="stable")]  # noqa: E731
    assert order(Popularity().fit(history.weights)) == ["old", "mid", "new"]
    assert order(Trending().fit(history.weights, item_trend=history.item_trend)) == ["new", "old", "mid"]
    # without a trend (a History built before the column existed) it falls back to popularity's order
    assert order(Trending().fit(history.weights)) == ["old", "mid", "new"]
