"""The UCI online-shoppers table trains through `--table` and reaches the published quality band."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import TrainingConfig
from models.onnx_export import parity_max_abs_diff, to_onnx_bytes
from models.tables import load_table
from models.training import train

DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "online_shoppers_intention.csv"

pytestmark = pytest.mark.skipif(not DATASET.exists(), reason=f"{DATASET} is absent (only CI has ../shared)")


def test_column_roles_are_detected_sensibly() -> None:
    _, spec = load_table(DATASET, "Revenue", TrainingConfig())
    assert spec.task == "binary"
    assert set(spec.categorical) == {
        "Month",
        "OperatingSystems",
        "Browser",
        "Region",
        "TrafficType",
        "VisitorType",
        "Weekend",
    }
    assert "PageValues" in spec.numeric and "SpecialDay" in spec.numeric and len(spec.numeric) == 10


def test_reaches_published_quality_on_held_out_rows() -> None:
    frame, spec = load_table(DATASET, "Revenue", TrainingConfig())
    result = train(frame, spec, TrainingConfig(candidates=["logistic", "hgb"]))
    test = result.metrics["test"]
    assert result.split.method == "stratified"
    assert test["roc_auc"] >= 0.92
    assert 0.63 <= test["pr_auc"] <= 0.80
    assert test["f1"] > 0.6
    features, _ = result.part("test")
    assert parity_max_abs_diff(result.pipeline, to_onnx_bytes(result.pipeline, spec), features, spec) < 1e-4
