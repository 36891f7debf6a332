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

    def _matrices(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dense history and exclude matrices [len(rows), n_items] of the given history rows."""
        history = np.zeros((rows.size, self.n_items), dtype=np.float32)
        exclude = np.zeros((rows.size, self.n_items), dtype=np.float32)
        lengths = self.indptr[rows + 1] - self.indptr[rows]
        positions = np.repeat(self.indptr[rows] - np.cumsum(lengths) + lengths, lengths) + np.arange(
            lengths.sum()
        )
        owners = np.repeat(np.arange(rows.size), lengths)
        columns = self.columns[positions]
        history[owners, columns] = self.weights[positions]
        banned = self.excluded[positions]
        exclude[owners[banned], columns[banned]] = 1.0
        return history, exclude

    def recommend(self, user_ids: Sequence[str], k: int = 10) -> pl.DataFrame:
        """Long format: one row per (user_id, rank) with product_id, score, source, model, model_version."""
        if k < 1:
            raise InputError(f"--k {k}: must be at least 1")
        k = min(k, self.k_max, self.popular.size)
        users = list(user_ids)
        rows = np.fromiter((self.user_row.get(user, -1) for user in users), dtype=np.int64, count=len(users))
        indices = np.broadcast_to(self.popular[:k], (len(users), k)).copy()
        scores = np.broadcast_to(self.popular_scores[:k], (len(users), k)).astype(np.float64)
        known = np.flatnonzero(rows >= 0)
        for start in range(0, known.size, self.batch_users):
            chunk = known[start : start + self.batch_users]
            history, exclude = self._matrices(rows[chunk])
            top, values = self.session.run(["indices", "scores"], {"history": history, "exclude": exclude})
            indices[chunk] = top[:, :k]
            scores[chunk] = values[:, :k]
        source = np.where(rows >= 0, "personal", "popular")
        items = np.asarray(self.items, dtype=object)
        return pl.DataFrame(
            {
                "user_id": pl.Series(np.repeat(np.asarray(users, dtype=object), k), dtype=pl.String),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), len(users)),
                "product_id": pl.Series(items[indices.ravel()], dtype=pl.String),
                "score": scores.ravel(),
                "source": pl.Series(np.repeat(source, k), dtype=pl.String),
                # new_from_index repeats a value without a query (pl.repeat runs one: 0.15 ms a call)
                "model": pl.Series([self.name], dtype=pl.String).new_from_index(0, len(users) * k),
                "model_version": pl.Series([self.version], dtype=pl.Int64).new_from_index(0, len(users) * k),
            },
            schema=OUTPUT_SCHEMA,
        )

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
