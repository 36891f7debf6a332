"""Model quality metrics: ranking, calibration and thresholded scores for classifiers; errors for regressors."""

from __future__ import annotations

import numpy as np

# scikit-learn is imported inside the functions: importing it loads rich (through sklearn.callback), and the
# engine must stay importable without console libraries (tests/test_import_hygiene.py); it also keeps CLI start-up fast.

PROBABILITY_EPS = 1e-7


def f1_optimal_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold that maximises F1 (predict positive when score >= threshold)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    if len(thresholds) == 0:
        return 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1[:-1]))
    return float(thresholds[best])


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |observed rate - mean score| over equal-width score bins."""
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    bin_index = np.minimum((scores * bins).astype(int), bins - 1)
    total = 0.0
    for index in range(bins):
        members = bin_index == index
        if members.any():
            total += members.sum() * abs(labels[members].mean() - scores[members].mean())
    return float(total / len(scores))


def lift_top_decile(labels: np.ndarray, scores: np.ndarray) -> float:
    """Positive rate among the 10% highest scores divided by the overall positive rate."""
    labels = np.asarray(labels, dtype=float)
    base_rate = labels.mean()
    if base_rate == 0:
        return float("nan")
    top = max(1, int(np.ceil(0.1 * len(scores))))
    order = np.argsort(-np.asarray(scores), kind="stable")[:top]
    return float(labels[order].mean() / base_rate)


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """All classifier metrics for scores P(label=1), thresholded at threshold for the label-based ones."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    predicted = (scores >= threshold).astype(int)
    both_classes = labels.min() != labels.max()
    clipped = np.clip(scores, PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    return {
        "roc_auc": float(roc_auc_score(labels, scores)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(labels, scores)) if both_classes else float("nan"),
        "log_loss": float(log_loss(labels, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "ece": expected_calibration_error(labels, scores),
        "lift_top_decile": lift_top_decile(labels, scores),
        "base_rate": float(labels.mean()),
        "rows": int(len(labels)),
    }


def regression_metrics(targets: np.ndarray, predictions: np.ndarray, baseline: float) -> dict[str, float]:
    """MAE, RMSE, R² and Spearman of the predictions, and the same errors of a constant baseline prediction."""
    from scipy.stats import spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    targets = np.asarray(targets, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    constant = np.full_like(targets, baseline)
    spearman = float(spearmanr(targets, predictions).statistic) if np.ptp(predictions) > 0 else float("nan")
    return {
        "mae": float(mean_absolute_error(targets, predictions)),
        "rmse": float(np.sqrt(mean_squared_error(targets, predictions))),
        "r2": float(r2_score(targets, predictions)),
        "spearman": spearman,
        "baseline_mae": float(mean_absolute_error(targets, constant)),
        "baseline_rmse": float(np.sqrt(mean_squared_error(targets, constant))),
        "baseline_r2": float(r2_score(targets, constant)),
        "rows": int(len(targets)),
    }


# Metrics where lower is better; selection flips their sign.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse"})


def selection_score(metrics: dict[str, float], metric: str) -> float:
    """A number where higher is better, for choosing the winning candidate on metric."""
    value = metrics[metric]
    if value != value:  # NaN never wins
        return float("-inf")
    return -value if metric in LOWER_IS_BETTER else value
