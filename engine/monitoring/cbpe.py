"""Performance before labels: confidence-based performance estimation (CBPE, as in NannyML).

Scores are first calibrated with the profile's isotonic table; each calibrated probability is then the expected
value of that row's label, which gives an expected confusion matrix (accuracy, precision, recall, F1) and expected
ROC curve. The band is ±3 standard deviations of the metric when labels are drawn from those probabilities
(seeded Monte Carlo), i.e. the sampling error of a window of this size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import InputError
from engine.monitoring.profile import calibrate
from engine.monitoring.stats import average_ranks

ESTIMATED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")
SIMULATIONS = 200
SIMULATION_ROWS = 50_000
BAND_SIGMAS = 3.0
_BATCH_CELLS = 4_000_000


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _confusion_metrics(true_pos, false_pos, false_neg, true_neg) -> dict[str, np.ndarray]:
    total = true_pos + false_pos + false_neg + true_neg
    return {
        "accuracy": _ratio(true_pos + true_neg, total),
        "precision": _ratio(true_pos, true_pos + false_pos),
        "recall": _ratio(true_pos, true_pos + false_neg),
        "f1": _ratio(2 * true_pos, 2 * true_pos + false_pos + false_neg),
    }


def expected_roc_auc(scores: np.ndarray, probabilities: np.ndarray) -> float | None:
    """ROC AUC with each row counted as probability p positive and 1 - p negative (ties count half)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, positive, negative = scores[order], probabilities[order], 1.0 - probabilities[order]
    # Group tied scores so a tie contributes half, as in the rank-based AUC.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    positive_groups = np.add.reduceat(positive, np.concatenate([[0], boundaries]))
    negative_groups = np.add.reduceat(negative, np.concatenate([[0], boundaries]))
    total_positive, total_negative = positive_groups.sum(), negative_groups.sum()
    if total_positive <= 0 or total_negative <= 0:
        return None
    negatives_above = np.cumsum(negative_groups) - negative_groups
    pairs = positive_groups * (total_negative - negatives_above - negative_groups / 2.0)
    return float(pairs.sum() / (total_positive * total_negative))


def _simulated_metrics(
    scores: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray, seed: int
) -> dict:
    """Each metric's value over label sets drawn from the calibrated probabilities (batched, vectorised)."""
    rng = np.random.default_rng(seed)
    ranks = average_ranks(scores)
    batch = max(1, min(SIMULATIONS, _BATCH_CELLS // max(scores.size, 1)))
    collected: dict[str, list[np.ndarray]] = {name: [] for name in ESTIMATED_METRICS}
    for start in range(0, SIMULATIONS, batch):
        draws = min(batch, SIMULATIONS - start)
        labels = rng.random((draws, scores.size)) < probabilities
        positives = labels.sum(axis=1).astype(np.float64)
        negatives = scores.size - positives
        true_pos = labels @ predicted
        false_pos = predicted.sum() - true_pos
        false_neg = positives - true_pos
        true_neg = negatives - false_pos
        for name, values in _confusion_metrics(true_pos, false_pos, false_neg, true_neg).items():
            collected[name].append(values)
        rank_sum = labels @ ranks
        collected["roc_auc"].append(
            _ratio(rank_sum - positives * (positives + 1) / 2.0, positives * negatives)
        )
    return {name: np.concatenate(values) for name, values in collected.items()}


def estimate_performance(
    scores: np.ndarray, profile: dict[str, Any], threshold: float | None = None, *, seed: int = 0
) -> dict[str, dict[str, float | None]]:
    """Estimated accuracy, precision, recall, F1 and ROC AUC of unlabelled scores, each with a sampling band."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        raise InputError("no finite scores to estimate performance from")
    threshold = profile.get("threshold", 0.5) if threshold is None else threshold
    probabilities = np.clip(calibrate(scores, profile), 0.0, 1.0)
    predicted = (scores >= threshold).astype(np.float64)
    expected_counts = np.array(
        [
            np.sum(probabilities * predicted),
            np.sum((1 - probabilities) * predicted),
            np.sum(probabilities * (1 - predicted)),
            np.sum((1 - probabilities) * (1 - predicted)),
        ]
    )
    point: dict[str, float | None] = {
        name: float(value) for name, value in _confusion_metrics(*expected_counts).items()
    }
    point["roc_auc"] = expected_roc_auc(scores, probabilities)
    # The sampling error shrinks as 1/sqrt(n): on a large window, simulate a seeded subsample and rescale.
    rows = scores.size
    subsample = np.arange(rows)
    if rows > SIMULATION_ROWS:
        subsample = np.sort(np.random.default_rng(seed).choice(rows, SIMULATION_ROWS, replace=False))
    scale = np.sqrt(subsample.size / rows)
    simulated = _simulated_metrics(scores[subsample], probabilities[subsample], predicted[subsample], seed)
    estimate: dict[str, dict[str, float | None]] = {}
    for name in ESTIMATED_METRICS:
        value = point[name]
        spread = simulated[name][np.isfinite(simulated[name])]
        if value is None or not np.isfinite(value):
            estimate[name] = {"value": None, "lower": None, "upper": None}
            continue
        sigma = float(spread.std()) * scale if spread.size > 1 else 0.0
        estimate[name] = {
            "value": value,
            "lower": max(0.0, value - BAND_SIGMAS * sigma),
            "upper": min(1.0, value + BAND_SIGMAS * sigma),
        }
    return estimate
