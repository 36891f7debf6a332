"""Realized performance of a binary classifier once labels arrive (scikit-learn metrics plus ECE and lift)."""

from __future__ import annotations

import numpy as np

from engine.errors import InputError

METRICS = (
    "roc_auc",
    "pr_auc",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "log_loss",
    "brier",
    "ece",
    "lift_top_decile",
)
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
    "lift_top_decile": True,
}
ECE_BINS = 10


def _binary_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.float64).ravel()
    if not np.all(np.isin(labels, (0.0, 1.0))):
        raise InputError("labels must be 0 or 1 (binary task); found other values")
    return labels.astype(np.int64)


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-width probability bins, weighted by the rows in each bin."""
    index = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    predicted = np.bincount(index, weights=probabilities, minlength=bins)
    observed = np.bincount(index, weights=labels, minlength=bins)
    return float(np.abs(observed - predicted).sum() / labels.size)


def lift_top_decile(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Positive rate among the highest-scored tenth of rows divided by the overall positive rate."""
    base_rate = labels.mean()
    if base_rate == 0:
        return None
    top = max(1, int(np.ceil(labels.size / 10)))
    order = np.argsort(-scores, kind="stable")[:top]
    return float(labels[order].mean() / base_rate)


def realized_performance(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float | None]:
    """Every performance metric of scores against 0/1 labels; metrics undefined on one class are None."""
    from sklearn import metrics

    labels = _binary_labels(labels)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.size != scores.size:
        raise InputError(f"labels ({labels.size}) and scores ({scores.size}) differ in length")
    if labels.size == 0:
        raise InputError("no labelled rows to measure performance on")
    probabilities = np.clip(scores, 0.0, 1.0)
    predicted = (scores >= threshold).astype(np.int64)
    both_classes = np.unique(labels).size == 2
    return {
        "roc_auc": float(metrics.roc_auc_score(labels, scores)) if both_classes else None,
        "pr_auc": float(metrics.average_precision_score(labels, scores)) if labels.any() else None,
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "precision": float(metrics.precision_score(labels, predicted, zero_division=0.0)),
        "recall": float(metrics.recall_score(labels, predicted, zero_division=0.0)),
        "f1": float(metrics.f1_score(labels, predicted, zero_division=0.0)),
        "log_loss": float(metrics.log_loss(labels, probabilities, labels=[0, 1])),
        "brier": float(metrics.brier_score_loss(labels, probabilities, pos_label=1)),
        "ece": expected_calibration_error(labels, probabilities),
        "lift_top_decile": lift_top_decile(labels, scores),
        "rows": int(labels.size),
        "base_rate": float(labels.mean()),
    }
