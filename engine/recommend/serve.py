"""Serve a registered recommender: histories from its version folder through its batched ONNX graph.

Users the version does not know (or with no history) get the popular fallback, never an error. Every file
the version holds is sha256-checked on load (ModelVersion.read_file).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError, NotFoundError
from engine.workspace import Workspace

KIND = "recommendations"
OUTPUT_SCHEMA = {
    "user_id": pl.String,
    "rank": pl.Int64,
    "product_id": pl.String,
    "score": pl.Float64,
    "source": pl.String,
    "model": pl.String,
    "model_version": pl.Int64,
}


class Recommender:
    """One loaded recommendation version: vocabulary, fallback, histories and an onnxruntime session."""

    def __init__(self, ws: Workspace, name: str = KIND, version: int | None = None) -> None:
        from engine.registry import Registry
        from models.recommend.onnx_export import session

        model = Registry(ws).get(name, version)
        if model.metadata.get("kind") != KIND:
            raise InputError(
                f"model {name!r} is not a recommender (kind {model.metadata.get('kind') or 'classifier'}); "
                "train one with `shopctl train recommendations` or pass --model NAME"
            )
        self.name = name
        self.version = model.version
        self.metadata = model.metadata
        self.k_max = int(model.metadata["k"])
        config = ws.settings.recommend
        self.session = session(model.read_onnx(), threads=config.threads)
        self.batch_users = config.batch_users
        items = pl.read_parquet(io.BytesIO(model.read_file("items.parquet")))
        self.items = items.get_column("product_id").to_list()
        self.n_items = len(self.items)
        self.item_index = {item: index for index, item in enumerate(self.items)}
        popular = json.loads(model.read_file("popular.json"))
        self.popular = np.asarray(popular["items"], dtype=np.int64)
        self.popular_scores = np.asarray(popular["scores"], dtype=np.float64)
        self._similar_bytes = model.read_file("similar.parquet")
        histories = pl.read_parquet(io.BytesIO(model.read_file("history.parquet")))
        users = histories.get_column("user_id")
        starts = users.is_first_distinct()
        self.users = users.filter(starts).to_list()
        self.user_row = {user: row for row, user in enumerate(self.users)}
        self.indptr = np.append(np.flatnonzero(starts.to_numpy()), histories.height).astype(np.int64)
        self.columns = histories.get_column("item").to_numpy()
        self.weights = histories.get_column("weight").to_numpy().astype(np.float32)
        bought = histories.get_column("purchased").to_numpy()
        self.excluded = bought if model.metadata.get("exclude_purchased", True) else np.zeros_like(bought)

    def _matrices(self, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        history = np.zeros((len(rows), self.n_items), dtype=np.float32)
        exclude = np.zeros((len(rows), self.n_items), dtype=np.float32)
        for offset, row in enumerate(rows):
            span = slice(self.indptr[row], self.indptr[row + 1])
            history[offset, self.columns[span]] = self.weights[span]
            exclude[offset, self.columns[span][self.excluded[span]]] = 1.0
        return history, exclude

    def recommend(self, user_ids: Sequence[str], k: int = 10) -> pl.DataFrame:
        """Long format: one row per (user_id, rank) with product_id, score, source, model, model_version."""
        if k < 1:
            raise InputError(f"--k {k}: must be at least 1")
        k = min(k, self.k_max)
        columns: dict[str, list[Any]] = {name: [] for name in OUTPUT_SCHEMA}
        for start in range(0, len(user_ids), self.batch_users):
            chunk = list(user_ids[start : start + self.batch_users])
            known = [(user, self.user_row[user]) for user in chunk if user in self.user_row]
            personal: dict[str, tuple[np.ndarray, np.ndarray]] = {}
            if known:
                history, exclude = self._matrices([row for _, row in known])
                indices, scores = self.session.run(
                    ["indices", "scores"], {"history": history, "exclude": exclude}
                )
                for offset, (user, _) in enumerate(known):
                    personal[user] = (indices[offset, :k], scores[offset, :k])
            for user in chunk:
                if user in personal:
                    indices, scores = personal[user]
                    source = "personal"
                else:
                    indices, scores = self.popular[:k], self.popular_scores[:k]
                    source = "popular"
                count = len(indices)
                columns["user_id"] += [user] * count
                columns["rank"] += list(range(1, count + 1))
                columns["product_id"] += [self.items[int(index)] for index in indices]
                columns["score"] += [float(score) for score in scores]
                columns["source"] += [source] * count
                columns["model"] += [self.name] * count
                columns["model_version"] += [self.version] * count
        return pl.DataFrame(columns, schema=OUTPUT_SCHEMA)

    def similar(self, product_id: str, k: int = 10) -> pl.DataFrame:
        """The products most similar to product_id (item-kNN neighbours); InputError for a product never seen."""
        if product_id not in self.item_index:
            raise InputError(
                f"--similar-to {product_id!r}: product never seen by {self.name} v{self.version} "
                f"({self.n_items} products known); check the id or retrain"
            )
        table = pl.read_parquet(io.BytesIO(self._similar_bytes))
        return (
            table.filter(pl.col("product_id") == product_id, pl.col("rank") <= k)
            .sort("rank")
            .with_columns(pl.lit(self.name).alias("model"), pl.lit(self.version).alias("model_version"))
        )


def read_users(path: Any) -> list[str]:
    """The user_id column of a CSV, Parquet or JSON-lines file; InputError naming the file otherwise."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise InputError(f"--input {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path)
        elif suffix == ".csv":
            frame = pl.read_csv(path, infer_schema=False)
        else:
            raise InputError(f"--input {path}: use a .csv, .parquet or .jsonl file")
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        raise InputError(f"--input {path}: cannot read it ({str(error).splitlines()[0]})") from None
    if "user_id" not in frame.columns:
        raise InputError(f"--input {path}: no user_id column (columns: {', '.join(frame.columns) or 'none'})")
    return [str(user) for user in frame.get_column("user_id").drop_nulls().to_list()]


def require_model(ws: Workspace, name: str) -> None:
    """NotFoundError naming the known models when name has no versions."""
    from engine.registry import Registry

    if not Registry(ws).versions(name):
        known = ", ".join(Registry(ws).names()) or "none yet"
        raise NotFoundError(
            f"--model {name!r}: no such model (known: {known}); run `shopctl train recommendations`"
        )
