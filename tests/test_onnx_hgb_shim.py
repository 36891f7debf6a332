"""The HistGradientBoosting shim: the stock conversion failure it fixes and the threshold flip it prevents."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from engine.spec import TableSpec
from models.hgb_shim import float32_threshold
from models.onnx_export import OnnxPredictor, input_metadata, output_metadata, to_onnx_bytes


def test_stock_skl2onnx_fails_on_hgb_with_missing_values() -> None:
    """Documents the upstream defect the shim exists for (run in a fresh interpreter, without the shim)."""
    script = textwrap.dedent(
        """
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingClassifier
        from skl2onnx import to_onnx
        rng = np.random.default_rng(0)
        X = rng.normal(size=(300, 2)); X[::7, 0] = np.nan
        model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, (X[:, 1] > 0).astype(int))
        try:
            to_onnx(model, X.astype(np.float32))
            print("converted")
        except ValueError as error:
            print("failed", "TreeEnsembleClassifier" in str(error))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "failed True"


def test_float32_threshold_rounds_down_only_when_rounding_went_up() -> None:
    a = np.float32(1.0000001)
    b = np.nextafter(a, np.float32(2))
    midpoint = (float(a) + float(b)) / 2  # ties to even: rounds up to b in float32
    assert np.float32(midpoint) == b
    assert float32_threshold(midpoint) == a
    assert float32_threshold(midpoint, adjust=False) == b
    assert float32_threshold(2.5) == np.float32(2.5)  # exact values are kept
    below = float(np.float32(0.1)) - 1e-12  # rounds up to float32(0.1): must step down
    assert float32_threshold(below) < below < float(np.float32(0.1))


def _adjacent_pair() -> tuple[np.float32, np.float32]:
    """Two adjacent float32 values whose float64 midpoint rounds up to the larger one."""
    a = np.float32(1.0000001)
    b = np.nextafter(a, np.float32(2))
    return a, b


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_threshold_flip_is_fixed(kind: str) -> None:
    a, b = _adjacent_pair()
    # HGB puts its split at the float64 midpoint of the two values; in float32 that midpoint equals b.
    x = np.array([a] * 200 + [b] * 200, dtype=np.float64)
    y = np.array([0] * 200 + [1] * 200)
    spec = TableSpec(
        numeric=("x",), categorical=(), target="y", task="binary" if kind == "classifier" else "regression"
    )
    frame = pl.DataFrame({"x": x})
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    estimator = (
        HistGradientBoostingClassifier(max_iter=3, random_state=0)
        if kind == "classifier"
        else HistGradientBoostingRegressor(max_iter=3, random_state=0)
    )
    pipeline = Pipeline(
        [("encode", ColumnTransformer([("numeric", "passthrough", ["x"])])), ("model", estimator)]
    )
    pipeline.fit(frame, y)
    threshold = estimator._predictors[0][0].nodes[0]["num_threshold"]
    assert np.float32(threshold) == b  # the trap is armed
    if kind == "classifier":
        expected = pipeline.predict_proba(frame)[:, 1]
    else:
        expected = pipeline.predict(frame)
    inputs, output = input_metadata(spec), output_metadata(spec.task)
    fixed = OnnxPredictor(to_onnx_bytes(pipeline, spec), inputs, output).predict(frame)
    unfixed = OnnxPredictor(
        to_onnx_bytes(pipeline, spec, adjust_hgb_thresholds=False), inputs, output
    ).predict(frame)
    assert np.max(np.abs(fixed - expected)) < 1e-5
    flipped = np.abs(unfixed - expected) > 1e-3
    assert flipped.sum() == 200 and flipped[200:].all()  # every row at b goes the wrong way without the fix


def test_stock_scikit_learn_cannot_fit_an_all_missing_feature() -> None:
    """Documents the scikit-learn 1.9 defect models/hgb_binning.py exists for (fresh interpreter, no patch)."""
    script = textwrap.dedent(
        """
        import numpy as np
        import sklearn
        from sklearn.ensemble import HistGradientBoostingClassifier
        X = np.random.default_rng(0).normal(size=(60, 2)); X[:, 1] = np.nan
        try:
            HistGradientBoostingClassifier(max_iter=3).fit(X, (X[:, 0] > 0).astype(int))
            print(sklearn.__version__, "fitted")
        except ValueError as error:
            print(sklearn.__version__, "failed", "window shape" in str(error))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    version, *outcome = result.stdout.split()
    from models.hgb_binning import patch_empty_feature_binning

    # The patch is applied exactly when the stock estimator fails (and retires itself once upstream fixes it).
    assert (outcome == ["failed", "True"]) == patch_empty_feature_binning(), (version, outcome)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_all_missing_feature_fits_and_converts_with_parity(kind: str) -> None:
    """A column with no value at all (a field the tracker stopped sending) trains, is never split on, and the
    ONNX model scores like scikit-learn, whatever the column holds at scoring time."""
    from models.candidates import make_candidate
    from models.onnx_export import prepare_features

    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    spec = TableSpec(
        numeric=("x", "gone"),
        categorical=(),
        target="y",
        task="binary" if kind == "classifier" else "regression",
    )
    raw = pl.DataFrame({"x": x, "gone": pl.Series([None] * 400, dtype=pl.Float64)})
    train = prepare_features(raw, spec)  # float32-exact, as training sees it
    y = (x + rng.normal(scale=0.5, size=400) > 0).astype(int) if kind == "classifier" else x * 2.0
    pipeline = make_candidate("hgb", spec, [], 0).fit(train, y)
    model = pipeline[-1]
    assert all(
        node["feature_idx"] == 0
        for tree in model._predictors
        for p in tree
        for node in p.nodes
        if not node["is_leaf"]
    )
    scoring = prepare_features(
        raw.with_columns(gone=pl.Series(rng.normal(size=400))), spec
    )  # values appear after training
    expected = pipeline.predict_proba(scoring)[:, 1] if kind == "classifier" else pipeline.predict(scoring)
    inputs, output = input_metadata(spec), output_metadata(spec.task)
    scored = OnnxPredictor(to_onnx_bytes(pipeline, spec), inputs, output).predict(scoring)
    assert np.max(np.abs(scored - expected)) < 1e-5
