"""Metrics against scikit-learn / scipy references and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, f1_score, log_loss, roc_auc_score

from models.metrics import (
    binary_metrics,
    expected_calibration_error,
    f1_optimal_threshold,
    lift_top_decile,
    regression_metrics,
    selection_score,
)


def _scores(rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    scores = rng.beta(2, 5, size=rows)
    labels = (rng.random(rows) < scores).astype(int)
    return labels, scores


def test_binary_metrics_match_scikit_learn() -> None:
    labels, scores = _scores()
    metrics = binary_metrics(labels, scores, 0.4)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, scores), abs=1e-9)
    assert metrics["brier"] == pytest.approx(np.mean((scores - labels) ** 2), abs=1e-12)
    assert metrics["f1"] == pytest.approx(f1_score(labels, scores >= 0.4), abs=1e-12)
    assert metrics["accuracy"] == pytest.approx(np.mean((scores >= 0.4) == labels), abs=1e-12)
    assert metrics["base_rate"] == pytest.approx(labels.mean())


def test_ece_matches_calibration_curve_weighting() -> None:
    labels, scores = _scores()
    observed, predicted = calibration_curve(labels, scores, n_bins=10, strategy="uniform")
    counts = np.histogram(scores, bins=np.linspace(0, 1, 11))[0]
    counts = counts[counts > 0]
    reference = float(np.sum(counts * np.abs(observed - predicted)) / counts.sum())
    assert expected_calibration_error(labels, scores) == pytest.approx(reference, abs=1e-12)
    # Perfectly calibrated constant scores: zero error.
    assert expected_calibration_error(np.array([0, 1, 0, 1]), np.full(4, 0.5)) == 0.0


def test_lift_top_decile_by_hand() -> None:
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2)  # base rate 0.2
    scores = np.linspace(1, 0, 20)  # the top 2 rows are labels 1, 0
    assert lift_top_decile(labels, scores) == pytest.approx(0.5 / 0.2)


def test_f1_optimal_threshold_beats_every_other_cut() -> None:
    labels, scores = _scores(500)
    best = f1_optimal_threshold(labels, scores)
    best_f1 = f1_score(labels, scores >= best)
    for cut in np.unique(scores):
        assert f1_score(labels, scores >= cut) <= best_f1 + 1e-12


def test_regression_metrics_match_references() -> None:
    rng = np.random.default_rng(5)
    targets = rng.gamma(2.0, 10.0, size=300)
    predictions = targets + rng.normal(0, 3, size=300)
    metrics = regression_metrics(targets, predictions, baseline=float(targets.mean()))
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(targets - predictions)))
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((targets - predictions) ** 2)))
    assert metrics["spearman"] == pytest.approx(spearmanr(targets, predictions).statistic)
    assert metrics["baseline_r2"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["r2"] > 0.8 and metrics["rmse"] < metrics["baseline_rmse"]


def test_selection_score_orientation() -> None:
    assert selection_score({"rmse": 2.0}, "rmse") > selection_score({"rmse": 3.0}, "rmse")
    assert selection_score({"roc_auc": 0.9}, "roc_auc") > selection_score({"roc_auc": 0.8}, "roc_auc")
    assert selection_score({"roc_auc": float("nan")}, "roc_auc") == float("-inf")
