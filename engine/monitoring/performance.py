"""Realized performance of a binary classifier once labels arrive (scikit-learn's definitions, computed with
numpy, plus ECE and lift)."""

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


def _ranking(labels: np.ndarray, scores: np.ndarray) -> tuple[float | None, float | None]:
    """ROC AUC and average precision from one descending sort, with tied scores treated as one threshold.

    The same definitions as scikit-learn's roc_auc_score and average_precision_score (checked against them in
    tests/test_performance.py), without their input validation, which costs seconds on a million rows.
    """
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_labels = scores[order], labels[order]
    # The last position of every run of equal scores: each distinct threshold, highest first.
    last = np.flatnonzero(np.r_[ranked_scores[1:] != ranked_scores[:-1], True])
    true_positives = np.cumsum(ranked_labels, dtype=np.float64)[last]
    false_positives = (last + 1) - true_positives
    positives, negatives = true_positives[-1], false_positives[-1]
    roc_auc = None
    if positives > 0 and negatives > 0:
        tpr = np.r_[0.0, true_positives / positives]
        fpr = np.r_[0.0, false_positives / negatives]
        roc_auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)
    pr_auc = None
    if positives > 0:
        precision = true_positives / (last + 1)
        recall = true_positives / positives
        pr_auc = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return roc_auc, pr_auc


def realized_performance(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float | None]:
    """Every performance metric of scores against 0/1 labels; metrics undefined on one class are None."""
    labels = _binary_labels(labels)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.size != scores.size:
        raise InputError(f"labels ({labels.size}) and scores ({scores.size}) differ in length")
    if labels.size == 0:
        raise InputError("no labelled rows to measure performance on")
    probabilities = np.clip(scores, 0.0, 1.0)
    predicted = scores >= threshold
    actual = labels == 1
    true_positive = int(np.count_nonzero(predicted & actual))
    false_positive = int(np.count_nonzero(predicted)) - true_positive
    false_negative = int(np.count_nonzero(actual)) - true_positive
    roc_auc, pr_auc = _ranking(labels, scores)
    # scikit-learn's log loss: the columns 1 - p and p, each clipped to [eps, 1 - eps] of float64.
    eps = np.finfo(np.float64).eps
    chosen = np.where(actual, probabilities, 1.0 - probabilities)
    log_loss = -float(np.mean(np.log(np.clip(chosen, eps, 1.0 - eps))))
    return {
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
        "accuracy": float(np.count_nonzero(predicted == actual) / labels.size),
        "precision": _ratio(true_positive, true_positive + false_positive),
        "recall": _ratio(true_positive, true_positive + false_negative),
        "f1": _ratio(2 * true_positive, 2 * true_positive + false_positive + false_negative),
        "log_loss": log_loss,
        "brier": float(np.mean((probabilities - labels) ** 2)),
        "ece": expected_calibration_error(labels, probabilities),
        "lift_top_decile": lift_top_decile(labels, scores),
        "rows": int(labels.size),
        "base_rate": float(labels.mean()),
    }


def _ratio(numerator: int, denominator: int) -> float:
    """numerator / denominator, 0.0 when nothing was counted (scikit-learn's zero_division=0.0)."""
    return float(numerator / denominator) if denominator else 0.0
