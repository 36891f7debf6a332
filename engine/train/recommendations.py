"""`shopctl train recommendations`: every candidate fitted and measured on validation and test, the best on
validation (NDCG@10) refitted on the whole window, exported to one batched ONNX graph, parity-checked, registered.

Validation: fit on the interactions before the validation window, judged on returning users' items in it.
Test: refit on everything before the test window (the validation window included), judged the same way.
The version folder holds model.onnx plus items.parquet (vocabulary: index, product_id, category, price),
popular.json (the fallback order), history.parquet (each user's decayed interactions, what serving reads) and
similar.parquet (item-kNN neighbours for `recommend --similar-to`), each sha256-checked.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from engine.config import RecommendConfig
from engine.errors import IntegrityError
from engine.recommend.interactions import History, build_split, serving_history
from engine.workspace import Workspace

KIND = "recommendations"
SELECTION_METRIC = "ndcg_at_10"
MAX_K = 100
SIMILAR_K = 20
Progress = Callable[[str, int, int], None]


def make_candidate(name: str, config: RecommendConfig) -> Any:
    """An unfitted candidate by name (fused is built from the others)."""
    from models.recommend import candidates

    if name == "popularity":
        return candidates.Popularity()
    if name == "trending":
        return candidates.Trending()
    if name == "itemknn":
        return candidates.ItemKNN(neighbours=config.neighbours, max_items=config.max_ease_items)
    if name == "ease":
        return candidates.EASE(regularization=config.ease_lambda, max_items=config.max_ease_items)
    if name == "als":
        return candidates.ALS(
            factors=config.als_factors,
            iterations=config.als_iterations,
            regularization=config.als_regularization,
            seed=config.seed,
        )
    if name == "content":
        return candidates.ContentBased()
    raise ValueError(f"unknown recommendation candidate {name!r}")


def _fit(name: str, config: RecommendConfig, history: History) -> Any:
    return make_candidate(name, config).fit(
        history.weights,
        item_category=history.item_category,
        item_price=history.item_price,
        item_trend=history.item_trend,
    )


def _exclude(history: History, config: RecommendConfig) -> Any:
    return history.purchased if config.exclude_purchased else None


def popular_order(history: History) -> np.ndarray:
    """Item indices by popularity (the fallback list)."""
    from models.recommend.candidates import Popularity

    return np.argsort(-Popularity().fit(history.weights).popularity_, kind="stable").astype(np.int64)


def popular_payload(history: History) -> dict[str, list[Any]]:
    """The fallback list: item indices by popularity and their share of the top item's popularity."""
    from models.recommend.candidates import Popularity

    popularity = Popularity().fit(history.weights).popularity_.astype(np.float64)
    order = np.argsort(-popularity, kind="stable")[:MAX_K]
    top = popularity[order[0]] if order.size else 1.0
    return {"items": order.tolist(), "scores": [float(value / top) for value in popularity[order]]}


def _scorers(fitted: dict[str, Any]) -> dict[str, Any]:
    return {name: model.scorer_ for name, model in fitted.items()}


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def version_files(history: History, similar: Any) -> dict[str, bytes]:
    """The extra files of a recommendation version (vocabulary, fallback, histories, neighbours)."""
    items = pl.DataFrame(
        {
            "index": np.arange(len(history.items), dtype=np.int64),
            "product_id": history.items,
            "category": history.item_category,
            "price": history.item_price,
        }
    )
    coo = history.weights.tocoo()
    bought = history.purchased.tocsr()
    purchased = np.asarray(bought[coo.row, coo.col]).ravel().astype(bool)
    users = np.asarray(history.users, dtype=object)
    histories = pl.DataFrame(
        {
            "user_id": pl.Series(users[coo.row].tolist(), dtype=pl.String),
            "item": coo.col.astype(np.int64),
            "weight": coo.data.astype(np.float32),
            "purchased": purchased,
        }
    ).sort("user_id", "item")
    rows: dict[str, list[Any]] = {"product_id": [], "rank": [], "similar_id": [], "score": []}
    for index, product in enumerate(history.items):
        neighbours, scores = similar.similar(index, SIMILAR_K)
        for rank, (neighbour, score) in enumerate(zip(neighbours, scores, strict=True), start=1):
            rows["product_id"].append(product)
            rows["rank"].append(rank)
            rows["similar_id"].append(history.items[int(neighbour)])
            rows["score"].append(float(score))
    similar_frame = pl.DataFrame(
        rows, schema={"product_id": pl.String, "rank": pl.Int64, "similar_id": pl.String, "score": pl.Float64}
    )
    return {
        "items.parquet": _parquet(items),
        "popular.json": (json.dumps(popular_payload(history)) + "\n").encode(),
        "history.parquet": _parquet(histories),
        "similar.parquet": _parquet(similar_frame),
    }


def train_recommendations(
    ws: Workspace,
    name: str = KIND,
    *,
    as_of: datetime | str | None = None,
    promote: bool = True,
    who: str = "cli",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, measure, choose, export, check and register; returns the `train recommendations --json` payload."""
    from engine.events import event_span
    from engine.registry import Registry
    from models.recommend.evaluate import fit_blend, measure
    from models.recommend.onnx_export import check_parity, export_onnx

    config = ws.settings.recommend
    events, _, _, last = event_span(ws)
    from engine.features.users import as_utc_datetime

    cut = last + timedelta(microseconds=1) if as_of is None else as_utc_datetime(as_of, "--as-of")
    split = build_split(events, config, cut)
    base = [candidate for candidate in config.candidates if candidate != "fused"]
    if "popularity" not in base:
        base.insert(0, "popularity")
    steps = 2 * len(base) + 4
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(message, done, steps)

    evaluations = {"validation": split.validation, "test": split.test}
    fitted: dict[str, dict[str, Any]] = {"validation": {}, "test": {}}
    populars = {part: popular_order(evaluation.history) for part, evaluation in evaluations.items()}
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for candidate in base:
        for part, evaluation in evaluations.items():
            history = evaluation.history
            model = _fit(candidate, config, history)
            fitted[part][candidate] = model
            metrics.setdefault(candidate, {})[part] = measure(
                model.scorer_,
                history.weights,
                _exclude(history, config),
                evaluation.targets,
                history.items,
                populars[part],
            )
            step(f"{candidate} {part}")
    blend: dict[str, float] = {}
    if "fused" in config.candidates:
        from models.recommend.candidates import fuse

        others = sorted(
            (c for c in base if c != "popularity"), key=lambda c: -metrics[c]["validation"][SELECTION_METRIC]
        )
        members = ["popularity", *others[:2]]
        history = split.validation.history
        blend, _ = fit_blend(
            {member: fitted["validation"][member].scorer_ for member in members},
            history.weights,
            _exclude(history, config),
            split.validation.targets,
            history.items,
            populars["validation"],
        )
        for part, evaluation in evaluations.items():
            history = evaluation.history
            metrics["fused"] = metrics.get("fused", {})
            metrics["fused"][part] = measure(
                fuse(_scorers(fitted[part]), blend),
                history.weights,
                _exclude(history, config),
                evaluation.targets,
                history.items,
                populars[part],
            )
        step("fused")
    chosen = max(metrics, key=lambda c: (metrics[c]["validation"][SELECTION_METRIC], c == "popularity"))

    # The champion refitted on every interaction of the window: what is served.
    serving = serving_history(events, config, cut)
    members = [member for member, weight in blend.items() if weight > 0] if chosen == "fused" else [chosen]
    final = {member: _fit(member, config, serving) for member in members}
    from models.recommend.candidates import fuse

    scorer = fuse(_scorers(final), blend) if chosen == "fused" else final[chosen].scorer_
    k = min(MAX_K, len(serving.items))
    onnx_bytes = export_onnx(scorer, k)
    step("export")
    index = serving.user_index()
    test_users = [split.test.history.users[row] for row in split.test.targets]
    rows = [index[user] for user in test_users if user in index]
    history_rows = serving.weights[rows].toarray().astype(np.float32)
    exclude_rows = (
        serving.purchased[rows].toarray().astype(np.float32)
        if config.exclude_purchased
        else np.zeros_like(history_rows)
    )
    try:
        parity = check_parity(onnx_bytes, scorer, history_rows, exclude_rows, k)
    except ValueError as error:
        raise IntegrityError(f"recommendations {chosen}: {error}; nothing was registered") from None
    step("parity")
    similar = final["itemknn"] if "itemknn" in final else _fit("itemknn", config, serving)
    files = version_files(serving, similar)
    metadata = {
        "kind": KIND,
        "task": KIND,
        "target": "next interactions",
        "chosen": chosen,
        "inputs": [
            {"name": "history", "dtype": "float32", "kind": "history"},
            {"name": "exclude", "dtype": "float32", "kind": "mask"},
        ],
        "output": {"name": "indices", "scores": "scores"},
        "k": k,
        "n_items": len(serving.items),
        "users": len(serving.users),
        "blend": blend,
        "selection_metric": SELECTION_METRIC,
        "exclude_purchased": config.exclude_purchased,
        "metrics": metrics[chosen],
        "candidates": metrics,
        "parity_max_abs_diff": parity,
        "parity_users": len(rows),
        "training_window": split.window(),
        "rows": split.rows,
    }
    version = Registry(ws).register(
        name,
        onnx_bytes,
        metadata,
        {"kind": KIND, "items": len(serving.items), "users": len(serving.users)},
        promote=promote,
        who=who,
        why=f"train recommendations: {chosen} best {SELECTION_METRIC} on validation",
        files=files,
    )
    step("register")
    return {
        "name": name,
        "version": version,
        "model": chosen,
        "promoted": promote,
        "metrics": metrics[chosen],
        "candidates": metrics,
        "blend": blend,
        "parity_max_abs_diff": parity,
        "training_window": split.window(),
        "items": len(serving.items),
        "users": len(serving.users),
    }
