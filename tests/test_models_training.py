"""Training: quality floors on synthetic data with known signal, selection, splits, and determinism."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import onnx
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from engine.config import TrainingConfig
from engine.errors import InputError
from engine.spec import TableSpec
from models.onnx_export import input_metadata, output_metadata, to_onnx_bytes
from models.quantize import try_quantize
from models.training import train

BINARY_KEYS = {"roc_auc", "pr_auc", "f1", "accuracy", "log_loss", "brier", "ece", "lift_top_decile"}
REGRESSION_KEYS = {"mae", "rmse", "r2", "spearman", "baseline_mae", "baseline_rmse", "baseline_r2"}


def _synthetic(rows: int, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """A session-like table whose true conversion probability is known (about 15% positives)."""
    rng = np.random.default_rng(seed)
    page_value = rng.exponential(10, rows)
    pages = rng.poisson(8, rows).astype(float)
    bounce = rng.beta(1, 8, rows)
    device = rng.choice(["mobile", "desktop", "tablet"], rows, p=[0.6, 0.3, 0.1])
    logit = -3.2 + 0.12 * page_value + 0.05 * pages - 6 * bounce + 0.6 * (device == "desktop")
    truth = 1 / (1 + np.exp(-logit))
    converted = (rng.random(rows) < truth).astype(int)
    pages[rng.random(rows) < 0.05] = np.nan
    frame = pl.DataFrame(
        {
            "session_start": [datetime(2024, 1, 1) + timedelta(minutes=7 * i) for i in range(rows)],
            "page_value": page_value,
            "pages": pages,
            "bounce": bounce,
            "device": device.tolist(),
            "converted": converted,
            "spend": 5 * page_value + 2 * np.nan_to_num(pages, nan=8) + rng.normal(0, 5, rows),
        }
    )
    return frame, truth


SPEC = TableSpec(
    numeric=("page_value", "pages", "bounce"),
    categorical=("device",),
    target="converted",
    time_column="session_start",
    id_columns=(),
)


def test_binary_quality_floor_and_selection() -> None:
    frame, truth = _synthetic(2000)
    result = train(frame, SPEC, TrainingConfig(candidates=["logistic", "hgb"]))
    assert result.split.method == "time"
    assert set(result.candidates) == {"logistic", "hgb"}
    for scores in result.candidates.values():
        assert BINARY_KEYS <= set(scores["validation"]) and BINARY_KEYS <= set(scores["test"])
    best = max(result.candidates, key=lambda name: result.candidates[name]["validation"]["roc_auc"])
    assert result.chosen == best
    test_labels = result.labels[result.split.test]
    oracle = roc_auc_score(test_labels, truth[result.split.test])
    assert result.metrics["test"]["roc_auc"] >= oracle - 0.04
    assert result.metrics["test"]["roc_auc"] > 0.8
    assert 0.0 < result.threshold < 1.0
    # Calibrated: no reweighting, so the mean score tracks the base rate.
    assert result.metrics["test"]["ece"] < 0.05


def test_regression_quality_floor() -> None:
    frame, _ = _synthetic(1200)
    spec = TableSpec(numeric=SPEC.numeric, categorical=SPEC.categorical, target="spend", task="regression")
    result = train(frame, spec, TrainingConfig(candidates=["logistic", "hgb"]))
    assert result.split.method == "random"
    assert REGRESSION_KEYS <= set(result.metrics["test"])
    assert result.metrics["test"]["r2"] > 0.8
    assert result.metrics["test"]["rmse"] < 0.5 * result.metrics["test"]["baseline_rmse"]
    assert result.threshold is None


def test_stack_trains_and_converts() -> None:
    frame, _ = _synthetic(500, seed=1)
    result = train(frame, SPEC, TrainingConfig(candidates=["stack"]))
    assert result.chosen == "stack"
    assert result.metrics["test"]["roc_auc"] > 0.7
    onnx.checker.check_model(onnx.load_model_from_string(to_onnx_bytes(result.pipeline, SPEC)))


def test_training_is_deterministic_and_drops_null_labels() -> None:
    frame, _ = _synthetic(600, seed=2)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 0).then(None).otherwise(pl.col("converted")).alias("converted")
    )
    config = TrainingConfig(candidates=["hgb"])
    first = train(frame, SPEC, config)
    second = train(frame, SPEC, config)
    assert first.dropped_rows == 12
    assert first.metrics == second.metrics


def test_unknown_target_column_is_an_input_error() -> None:
    frame, _ = _synthetic(100)
    spec = TableSpec(numeric=SPEC.numeric, categorical=(), target="bought")
    with pytest.raises(InputError, match="no target column 'bought'"):
        train(frame, spec, TrainingConfig())


def test_mlp_quantization_is_recorded() -> None:
    frame, _ = _synthetic(800, seed=3)
    result = train(frame, SPEC, TrainingConfig(candidates=["mlp"]))
    onnx_bytes = to_onnx_bytes(result.pipeline, SPEC)
    features, labels = result.part("validation")
    quantized, record = try_quantize(
        onnx_bytes,
        input_metadata(SPEC),
        output_metadata("binary"),
        features,
        labels,
        task="binary",
        metric="roc_auc",
        threshold=result.threshold,
        tolerance=0.005,
    )
    assert record["metric"] == "roc_auc" and record["kept"] == (record["loss"] < 0.005)
    assert record["max_abs_diff"] < 0.05
    assert (quantized is not None) == record["kept"]
    assert record["bytes_int8"] != record["bytes_float32"]
    if quantized is not None:
        ops = {node.op_type for node in onnx.load_model_from_string(quantized).graph.node}
        assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul"}


def test_empty_numeric_column_is_dropped_from_the_model() -> None:
    frame, _ = _synthetic(400, seed=4)
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("unused"), pl.lit(None, dtype=pl.String).alias("country")
    )
    spec = TableSpec(numeric=(*SPEC.numeric, "unused"), categorical=("device", "country"), target="converted")
    result = train(frame, spec, TrainingConfig(candidates=["logistic", "hgb"]))
    assert result.empty_columns == ("unused",)
    assert result.spec.numeric == SPEC.numeric and result.spec.categorical == ("device", "country")
    onnx_bytes = to_onnx_bytes(result.pipelines["hgb"], result.spec)
    assert [item.name for item in onnx.load_model_from_string(onnx_bytes).graph.input] == list(
        result.spec.features
    )
