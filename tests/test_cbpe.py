"""CBPE: the estimate tracks realized performance within its band when labels follow the calibrated scores."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from engine.errors import InputError
from engine.monitoring.cbpe import ESTIMATED_METRICS, estimate_performance, expected_roc_auc
from engine.monitoring.performance import realized_performance
from engine.monitoring.profile import build_reference_profile
from engine.spec import TableSpec


def _true_probability(scores: np.ndarray) -> np.ndarray:
    # A miscalibrated model: the real probability is the score squared, which calibration must undo.
    return scores**2


@pytest.fixture(scope="module")
def reference_profile() -> dict:
    rng = np.random.default_rng(5)
    scores = rng.beta(2, 2, 30_000)
    labels = (rng.random(scores.size) < _true_probability(scores)).astype(float)
    frame = pl.DataFrame({"x": scores})
    return build_reference_profile(
        frame, TableSpec(numeric=("x",), categorical=()), scores, labels, threshold=0.5
    )


def test_estimate_tracks_realized_within_band_over_windows(reference_profile: dict) -> None:
    rng = np.random.default_rng(17)
    misses = 0
    for window in range(8):
        # The score distribution shifts from window to window (covariate shift), the concept does not.
        scores = rng.beta(1.5 + 0.4 * window, 2.0, 2000)
        labels = (rng.random(scores.size) < _true_probability(scores)).astype(float)
        estimate = estimate_performance(scores, reference_profile, 0.5, seed=window)
        realized = realized_performance(labels, scores, 0.5)
        for name in ESTIMATED_METRICS:
            band = estimate[name]
            assert band["lower"] < band["value"] < band["upper"]
            assert band["upper"] - band["lower"] < 0.2
            assert abs(band["value"] - realized[name]) < 0.05
            misses += not band["lower"] <= realized[name] <= band["upper"]
    assert misses == 0


def test_band_narrows_with_window_size(reference_profile: dict) -> None:
    rng = np.random.default_rng(3)
    small = estimate_performance(rng.beta(2, 2, 500), reference_profile)
    large = estimate_performance(rng.beta(2, 2, 20_000), reference_profile)
    for name in ESTIMATED_METRICS:
        assert large[name]["upper"] - large[name]["lower"] < (small[name]["upper"] - small[name]["lower"]) / 3


def test_expected_roc_auc_equals_weighted_auc_of_soft_labels() -> None:
    rng = np.random.default_rng(8)
    scores = np.round(rng.random(300), 2)  # rounding creates ties
    probabilities = rng.random(300)
    duplicated_scores = np.concatenate([scores, scores])
    duplicated_labels = np.concatenate([np.ones(300), np.zeros(300)])
    weights = np.concatenate([probabilities, 1 - probabilities])
    expected = roc_auc_score(duplicated_labels, duplicated_scores, sample_weight=weights)
    assert expected_roc_auc(scores, probabilities) == pytest.approx(expected)


def test_estimate_is_seeded(reference_profile: dict) -> None:
    scores = np.random.default_rng(1).beta(2, 2, 1000)
    assert estimate_performance(scores, reference_profile, seed=4) == estimate_performance(
        scores, reference_profile, seed=4
    )


def test_nothing_predicted_positive_gives_no_precision(reference_profile: dict) -> None:
    estimate = estimate_performance(np.full(100, 0.1), reference_profile, 0.5)
    assert estimate["precision"]["value"] is None
    assert estimate["accuracy"]["value"] is not None


def test_profile_without_calibration_is_an_input_error() -> None:
    frame = pl.DataFrame({"x": [0.1, 0.2, 0.3]})
    reference_profile = build_reference_profile(frame, TableSpec(numeric=("x",), categorical=()))
    with pytest.raises(InputError, match="calibration"):
        estimate_performance(np.array([0.5]), reference_profile)


def test_large_window_band_from_a_subsample_matches_the_full_simulation(
    reference_profile: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.monitoring import cbpe

    scores = np.random.default_rng(6).beta(2, 2, 4 * cbpe.SIMULATION_ROWS // 2)
    rescaled = estimate_performance(scores, reference_profile)
    monkeypatch.setattr(cbpe, "SIMULATION_ROWS", scores.size)
    full = estimate_performance(scores, reference_profile)
    for name in ESTIMATED_METRICS:
        assert rescaled[name]["value"] == full[name]["value"]
        width, full_width = (band[name]["upper"] - band[name]["lower"] for band in (rescaled, full))
        assert width == pytest.approx(full_width, rel=0.2)
