"""The stack's final estimator: logistic regression on the members' log-odds with non-negative weights, and its
ONNX converter."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.linear_model import LogisticRegression

from models.stacking import HIGH, LOW, LogitLogisticRegression, logit, register_stack_converter


def _members(rows: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three members' probabilities of one rare event, each a noisier view of the true log-odds."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-3.5, 1.5, rows)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-truth))).astype(int)
    members = [1 / (1 + np.exp(-(truth + rng.normal(0, noise, rows)))) for noise in (0.5, 0.7, 1.0)]
    return np.column_stack(members), labels


def test_it_is_logistic_regression_on_log_odds_when_no_weight_wants_to_be_negative() -> None:
    probabilities, labels = _members()
    ours = LogitLogisticRegression(max_iter=2000).fit(probabilities, labels)
    stock = LogisticRegression(max_iter=2000, tol=1e-10).fit(logit(probabilities), labels)
    assert np.all(ours.coef_ > 0)
    assert np.abs(ours.predict_proba(probabilities) - stock.predict_proba(logit(probabilities))).max() < 1e-5
    assert np.array_equal(ours.predict(probabilities), stock.predict(logit(probabilities)))
    # Calibrated on its own data: the mean prediction is the base rate.
    assert ours.predict_proba(probabilities)[:, 1].mean() == pytest.approx(labels.mean(), abs=2e-3)


def test_a_member_that_points_the_wrong_way_gets_weight_zero() -> None:
    probabilities, labels = _members()
    flipped = probabilities.copy()
    flipped[:, 2] = 1 - flipped[:, 2]
    model = LogitLogisticRegression(max_iter=2000).fit(flipped, labels)
    assert model.coef_[0, 2] == 0.0 and np.all(model.coef_[0, :2] > 0)
    stock = LogisticRegression(max_iter=2000).fit(logit(flipped), labels)
    assert stock.coef_[0, 2] < 0  # what the unconstrained fit does with it


def test_logit_clips_so_certain_members_stay_finite() -> None:
    values = logit(np.array([0.0, 1.0, 0.5]))
    assert np.all(np.isfinite(values)) and values[2] == 0.0
    assert values[0] == pytest.approx(np.log(LOW / (1 - LOW))) and values[1] == pytest.approx(
        np.log(HIGH / (1 - HIGH))
    )


def test_onnx_conversion_matches_including_zero_and_one() -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    probabilities, labels = _members(5_000, seed=1)
    model = LogitLogisticRegression(max_iter=2000).fit(probabilities, labels)
    register_stack_converter()
    onnx_model = convert_sklearn(
        model,
        initial_types=[("p", FloatTensorType([None, 3]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 18, "ai.onnx.ml": 3},
    )
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    edge = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1e-9, 0.5, 1.0], [0.999, 0.998, 0.2]])
    inputs = np.vstack([probabilities[:500], edge]).astype(np.float32)
    label, onnx_probabilities = session.run(None, {"p": inputs})
    expected = model.predict_proba(inputs.astype(np.float64))
    assert np.abs(onnx_probabilities - expected).max() < 1e-5
    assert np.array_equal(label, model.predict(inputs.astype(np.float64)))
