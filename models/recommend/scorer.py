"""The one scoring form every recommender exports: a weighted sum of row-normalised linear parts.

A part scores a batch of histories H [B, n_items] as `H[:, items] @ left (@ right)` placed back on `items`
(every item when `items` is None), plus a per-item `bias`. Each part is divided by its row's largest absolute
value, so parts on different scales blend by weight and a single part keeps its ranking. The ONNX graph
(models/recommend/onnx_export.py) computes exactly this; `score` is its numpy reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPSILON = 1e-12
MASKED = np.float32(-3.0e38)


@dataclass
class Part:
    """One linear part: left [m, f] and optional right [f, m] over the item subset (or bias alone)."""

    left: np.ndarray | None = None
    right: np.ndarray | None = None
    bias: np.ndarray | None = None
    items: np.ndarray | None = None  # int64 column subset of the vocabulary, None = every item
    weight: float = 1.0

    def nbytes(self) -> int:
        return sum(array.nbytes for array in (self.left, self.right, self.bias) if array is not None)


@dataclass
class LinearScorer:
    """What a fitted recommender serves: parts over n_items."""

    n_items: int
    parts: list[Part] = field(default_factory=list)

    def score(self, history: np.ndarray) -> np.ndarray:
        """Scores [B, n_items] (float32) of a batch of histories (the numpy reference of the ONNX graph)."""
        history = np.asarray(history, dtype=np.float32)
        total = np.zeros((history.shape[0], self.n_items), dtype=np.float32)
        for part in self.parts:
            total += np.float32(part.weight) * normalised(_part_scores(part, history, self.n_items))
        return total


def _part_scores(part: Part, history: np.ndarray, n_items: int) -> np.ndarray:
    scores = np.zeros((history.shape[0], n_items), dtype=np.float32)
    if part.left is not None:
        chosen = history if part.items is None else history[:, part.items]
        inner = chosen @ part.left
        if part.right is not None:
            inner = inner @ part.right
        if part.items is None:
            scores = inner.astype(np.float32)
        else:
            scores[:, part.items] = inner
    if part.bias is not None:
        scores = scores + part.bias[None, :].astype(np.float32)
    return scores


def normalised(scores: np.ndarray) -> np.ndarray:
    scale = np.abs(scores).max(axis=1, keepdims=True) + np.float32(EPSILON)
    return (scores / scale).astype(np.float32)


def top_k(scores: np.ndarray, exclude: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores [B, k] of the best items per row, excluded items (exclude > 0) last."""
    scores = scores.copy()
    if exclude is not None:
        scores[exclude > 0] = MASKED
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    chosen = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-chosen, axis=1, kind="stable")
    indices = np.take_along_axis(part, order, axis=1)
    return indices.astype(np.int64), np.take_along_axis(scores, indices, axis=1)
