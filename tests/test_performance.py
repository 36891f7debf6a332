"""Realized performance agrees with scikit-learn and handles one-class windows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from engine.errors import InputError
from engine.monitoring.performance import (
    expected_calibration_error,
    lift_top_decile,
    realized_performance,
)


@pytest.fixture
def labelled() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    scores = rng.beta(2, 5, 5000)
    labels = (rng.random(5000) < scores).astype(int)
    return labels, scores


def test_metrics_match_scikit_learn(labelled) -> None:
    labels, scores = labelled
    result = realized_performance(labels, scores, 0.3)
    predicted = scores >= 0.3
    assert result["roc_auc"] == pytest.approx(metrics.roc_auc_score(labels, scores))
    assert result["pr_auc"] == pytest.approx(metrics.average_precision_score(labels, scores))
    assert result["accuracy"] == pytest.approx(metrics.accuracy_score(labels, predicted))
    assert result["precision"] == pytest.approx(metrics.precision_score(labels, predicted))
    assert result["recall"] == pytest.approx(metrics.recall_score(labels, predicted))
    assert result["f1"] == pytest.approx(metrics.f1_score(labels, predicted))
    assert result["log_loss"] == pytest.approx(metrics.log_loss(labels, y_proba=scores))
    assert result["brier"] == pytest.approx(metrics.brier_score_loss(labels, scores))
    assert result["rows"] == 5000


@pytest.mark.parametrize("case", ["ties", "extremes", "nothing_predicted", "rare_positives"])
def test_numpy_metrics_match_scikit_learn_on_hard_inputs(case: str) -> None:
    """Tied scores (one threshold each), probabilities of exactly 0 and 1 (log loss clipping), a threshold
    nothing reaches (zero division) and a handful of positives: the numpy metrics equal scikit-learn's."""
    rng = np.random.default_rng(3)
    scores = rng.beta(2, 5, 4000)
    threshold = 0.3
    if case == "ties":
        scores = np.round(scores, 2)
    elif case == "extremes":
        scores[:300], scores[300:600] = 0.0, 1.0
    elif case == "nothing_predicted":
        threshold = 1.5
    labels = (rng.random(scores.size) < (0.01 if case == "rare_positives" else scores)).astype(int)
    if case == "extremes":
        labels[:50], labels[300:350] = 1, 0  # confident mistakes: log loss must clip, not overflow
    result = realized_performance(labels, scores, threshold)
    predicted = scores >= threshold
    expected = {
        "roc_auc": metrics.roc_auc_score(labels, scores),
        "pr_auc": metrics.average_precision_score(labels, scores),
        "accuracy": metrics.accuracy_score(labels, predicted),
        "precision": metrics.precision_score(labels, predicted, zero_division=0.0),
        "recall": metrics.recall_score(labels, predicted, zero_division=0.0),
        "f1": metrics.f1_score(labels, predicted, zero_division=0.0),
        "log_loss": metrics.log_loss(labels, y_proba=scores),
        "brier": metrics.brier_score_loss(labels, scores),
    }
    for name, value in expected.items():
        assert result[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_ece_by_hand() -> None:
    probabilities = np.array([0.05, 0.05, 0.95, 0.95, 0.55])
    labels = np.array([0, 1, 1, 1, 0])
    # bins: [0,.1): 2 rows predicted .1 total, observed 1; [.5,.6): .55 vs 0; [.9,1]: 1.9 vs 2.
    expected = (abs(1 - 0.1) + abs(0 - 0.55) + abs(2 - 1.9)) / 5
    assert expected_calibration_error(labels, probabilities) == pytest.approx(expected)


def test_lift_top_decile_by_hand() -> None:
    scores = np.arange(20, dtype=float)
    labels = np.zeros(20)
    labels[[19, 3]] = 1
    # Top 2 rows hold one positive: rate 0.5 over base rate 0.1.
    assert lift_top_decile(labels, scores) == pytest.approx(5.0)
    assert lift_top_decile(np.zeros(20), scores) is None


def test_one_class_window_gives_none_for_auc() -> None:
    result = realized_performance(np.zeros(10), np.linspace(0, 1, 10), 0.5)
    assert result["roc_auc"] is None and result["pr_auc"] is None
    assert result["accuracy"] == pytest.approx(0.5)


def test_bad_labels_are_input_errors() -> None:
    with pytest.raises(InputError, match="0 or 1"):
        realized_performance(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(InputError, match="differ in length"):
        realized_performance(np.array([0, 1]), np.array([0.1]))
