"""Every candidate converts to ONNX and matches scikit-learn, including NaNs, unknown categories and adversarial
numeric values near split thresholds."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import onnx
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from engine.scoring import ScoringModel
from engine.spec import TableSpec
from models.candidates import CANDIDATES, category_lists, make_candidate
from models.hgb_shim import float32_threshold
from models.onnx_export import (
    OnnxPredictor,
    input_metadata,
    output_metadata,
    parity_max_abs_diff,
    pipeline_predict,
    prepare_features,
    to_onnx_bytes,
    with_metadata,
)

TOLERANCE = 1e-4


def _fit_small(candidate: str, spec: TableSpec, train: pl.DataFrame) -> Any:
    """A candidate with fewer boosting rounds and epochs (same structure, so the same conversion path), fitted."""
    features = prepare_features(train, spec)
    pipeline = make_candidate(candidate, spec, category_lists(features, spec.categorical), seed=0)
    for estimator in pipeline.get_params().values():
        if isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
            estimator.set_params(max_iter=40)
        elif isinstance(estimator, MLPClassifier | MLPRegressor):
            estimator.set_params(max_iter=60)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline.fit(features, train[spec.target].to_numpy())


def _table(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, rows)
    amount[rng.random(rows) < 0.1] = np.nan
    visits = rng.poisson(3, rows).astype(float)
    ratio = rng.random(rows)
    channel = rng.choice(["ads", "mail", "direct", None], rows, p=[0.4, 0.3, 0.25, 0.05])
    region = rng.integers(1, 6, rows)
    logit = 0.03 * np.nan_to_num(amount, nan=20) + 0.4 * visits - 2 * ratio + (channel == "mail") - 2
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pl.DataFrame(
        {
            "amount": amount,
            "visits": visits,
            "ratio": ratio,
            "channel": channel.tolist(),
            "region": region,
            "label": label,
            "spend": np.nan_to_num(amount, nan=5.0) * 3 + visits * 10 + rng.normal(0, 5, rows),
        }
    )


def _spec(task: str) -> TableSpec:
    return TableSpec(
        numeric=("amount", "visits", "ratio"),
        categorical=("channel", "region"),
        target="label" if task == "binary" else "spend",
        task=task,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    train = _table(600, 1)
    scoring = _table(300, 2).with_columns(
        # Values training never saw: an unknown channel, an unknown region code, a null everywhere.
        pl.Series("channel", ["tiktok", None] + _table(300, 2)["channel"].to_list()[2:]),
        pl.Series("region", [99, 3] + _table(300, 2)["region"].to_list()[2:]),
        pl.Series("amount", [None, 1234567.891] + _table(300, 2)["amount"].to_list()[2:]),
        # Nulls in columns that had none in training (HGB then sends them down its larger child).
        pl.Series("visits", [None, None, None] + _table(300, 2)["visits"].to_list()[3:]),
        pl.Series("ratio", [0.5, None, -1e30] + _table(300, 2)["ratio"].to_list()[3:]),
    )
    return train, scoring


@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize("candidate", CANDIDATES)
def test_candidate_parity(candidate: str, task: str, tables: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, scoring = tables
    spec = _spec(task)
    pipeline = _fit_small(candidate, spec, train)
    onnx_bytes = to_onnx_bytes(pipeline, spec)
    model = onnx.load_model_from_string(onnx_bytes)
    assert [item.name for item in model.graph.input] == list(spec.features)
    assert {item.name for item in model.graph.output} >= {output_metadata(task)["name"]}
    assert "ZipMap" not in {node.op_type for node in model.graph.node}
    assert parity_max_abs_diff(pipeline, onnx_bytes, prepare_features(scoring, spec), spec) < TOLERANCE
    # Raw rows (nulls, unknown categories, a value that float32 rounds) go through the same feed.
    predictor = OnnxPredictor(onnx_bytes, input_metadata(spec), output_metadata(task))
    assert np.all(np.isfinite(predictor.predict(scoring)))
    # And as production scores it: through the scoring fast path's graph rewrites (engine/scoring/fastpath/).
    metadata = {"inputs": input_metadata(spec), "output": output_metadata(task)}
    scored = ScoringModel(onnx_bytes, metadata, name="parity").predict(scoring)
    expected = pipeline_predict(pipeline, prepare_features(scoring, spec), task)
    scale = 1.0 if task == "binary" else max(1.0, float(np.abs(expected).max()))
    assert np.abs(scored - expected).max() / scale < TOLERANCE
    plan = ScoringModel(onnx_bytes, metadata, name="parity")._plan
    assert plan.trees == (1 if task == "binary" and candidate in ("hgb", "stack") else 0)
    assert plan.folded == (1 if candidate == "stack" else 0)
    # The encoded matrix is fed whole: with the numerics for the trees, the one-hot part alone where they are scaled.
    (matrix,) = plan.matrices
    assert {column for column, _ in matrix.segments} == (
        set(spec.features) if candidate in ("hgb", "stack") else set(spec.categorical)
    )
    if candidate == "stack" and task == "binary":
        assert plan.pruned > 0  # the members' label (ArgMax) chains are never fetched


def test_inputs_follow_the_contract() -> None:
    assert input_metadata(_spec("binary")) == [
        {"name": "amount", "column": "amount", "dtype": "float32", "kind": "numeric"},
        {"name": "visits", "column": "visits", "dtype": "float32", "kind": "numeric"},
        {"name": "ratio", "column": "ratio", "dtype": "float32", "kind": "numeric"},
        {"name": "channel", "column": "channel", "dtype": "string", "kind": "categorical"},
        {"name": "region", "column": "region", "dtype": "string", "kind": "categorical"},
    ]
    assert output_metadata("binary") == {"name": "probabilities", "column": 1}
    assert output_metadata("regression") == {"name": "variable"}


def test_float32_input_rounding_is_part_of_the_model() -> None:
    features = prepare_features(
        pl.DataFrame({"amount": [1234567.891, None], "channel": [None, "x"]}),
        TableSpec(numeric=("amount",), categorical=("channel",)),
    )
    assert features["amount"][0] == 1234567.875  # what ONNX sees, so what training and parity see too
    assert np.isnan(features["amount"][1])
    assert features["channel"].to_list() == ["", "x"]


def _thresholds(pipeline: object) -> np.ndarray:
    model = pipeline.named_steps["model"]  # type: ignore[attr-defined]
    values = [
        node["num_threshold"]
        for predictors in model._predictors
        for predictor in predictors
        for node in predictor.nodes
        if not node["is_leaf"] and node["feature_idx"] < 3
    ]
    return np.unique(np.asarray(values))


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_hgb_parity_on_adversarial_values_near_thresholds(
    task: str, tables: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    train, _ = tables
    spec = _spec(task)
    pipeline = _fit_small("hgb", spec, train)
    thresholds = _thresholds(pipeline)
    assert len(thresholds) > 10
    probes: list[float] = []
    for threshold in thresholds:
        nearest = np.float32(threshold)
        below = float32_threshold(threshold)
        probes += [
            float(threshold),
            float(nearest),
            float(below),
            float(np.nextafter(below, np.float32(np.inf))),
            float(np.nextafter(nearest, np.float32(np.inf))),
            float(np.nextafter(nearest, np.float32(-np.inf))),
            float(threshold) + 1e-9,
            float(threshold) - 1e-9,
        ]
    rows = len(probes)
    rng = np.random.default_rng(0)
    # Every probe value in every numeric column, the other columns sampled from training.
    sample = train.sample(rows, with_replacement=True, seed=0)
    adversarial = pl.concat(
        [sample.with_columns(pl.Series(column, rng.permutation(probes))) for column in spec.numeric]
    )
    onnx_bytes = to_onnx_bytes(pipeline, spec)
    # Float32 summation of the leaves leaves ~1e-6; one flipped split would move a prediction by a whole leaf value.
    prepared = prepare_features(adversarial, spec)
    assert parity_max_abs_diff(pipeline, onnx_bytes, prepared, spec) < TOLERANCE
    if task == "binary":
        # The probes are sharp enough that the unadjusted thresholds of stock skl2onnx flip some of them.
        unfixed = to_onnx_bytes(pipeline, spec, adjust_hgb_thresholds=False)
        assert parity_max_abs_diff(pipeline, unfixed, prepared, spec) > TOLERANCE


def test_with_metadata_keeps_predictions(tables: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    train, scoring = tables
    spec = _spec("binary")
    pipeline = _fit_small("logistic", spec, train)
    onnx_bytes = with_metadata(to_onnx_bytes(pipeline, spec), {"shopctl.threshold": 0.3})
    props = {prop.key: prop.value for prop in onnx.load_model_from_string(onnx_bytes).metadata_props}
    assert props["shopctl.threshold"] == "0.3"
    scores = OnnxPredictor(onnx_bytes, input_metadata(spec), output_metadata("binary")).predict(scoring)
    expected = pipeline_predict(pipeline, prepare_features(scoring, spec), "binary")
    assert np.max(np.abs(scores - expected)) < TOLERANCE


@pytest.mark.parametrize("candidate", ["logistic", "stack"])
def test_a_numeric_column_empty_in_training_is_kept_filled_with_zero_and_converts(
    candidate: str, tables: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    # A sparse column can have no value at all in a fit (a stacking ensemble's inner fold): the imputer keeps it
    # (filled with 0) instead of warning and dropping it, so the ONNX graph, which fills its statistics, agrees.
    train, scoring = tables
    spec = _spec("binary")
    empty = spec.numeric[0]
    train = train.with_columns(pl.lit(None, dtype=pl.Float64).alias(empty))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        pipeline = _fit_small(candidate, spec, train)
    onnx_bytes = to_onnx_bytes(pipeline, spec)
    assert parity_max_abs_diff(pipeline, onnx_bytes, prepare_features(scoring, spec), spec) < TOLERANCE
