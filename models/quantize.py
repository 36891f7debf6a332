"""Optional dynamic int8 quantization of an MLP's ONNX file, kept only when the metric loss stays within tolerance."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.metrics import binary_metrics, regression_metrics, selection_score
from models.onnx_export import OnnxPredictor


def quantize_bytes(onnx_bytes: bytes) -> bytes:
    """Dynamically quantize the MatMul/Gemm weights of an ONNX model to int8 (onnxruntime.quantization)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="shopctl-quantize-") as folder:
        source = Path(folder) / "model.onnx"
        target = Path(folder) / "model.int8.onnx"
        source.write_bytes(onnx_bytes)
        model = onnx.load_from_string(onnx_bytes)
        quantize_dynamic(model, target, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8)
        return target.read_bytes()


def try_quantize(
    onnx_bytes: bytes,
    inputs: list[dict[str, str]],
    output: dict[str, Any],
    features: pl.DataFrame,
    labels: np.ndarray,
    *,
    task: str,
    metric: str,
    threshold: float,
    tolerance: float,
    baseline: float = 0.0,
) -> tuple[bytes | None, dict[str, Any]]:
    """Quantize and compare metric on the given rows; returns (quantized bytes or None, the comparison record)."""
    quantized = quantize_bytes(onnx_bytes)
    original_scores = OnnxPredictor(onnx_bytes, inputs, output).predict(features)
    quantized_scores = OnnxPredictor(quantized, inputs, output).predict(features)
    if task == "binary":
        before = binary_metrics(labels, original_scores, threshold)
        after = binary_metrics(labels, quantized_scores, threshold)
    else:
        before = regression_metrics(labels, original_scores, baseline)
        after = regression_metrics(labels, quantized_scores, baseline)
    loss = selection_score(before, metric) - selection_score(after, metric)
    kept = bool(loss < tolerance)
    record = {
        "metric": metric,
        "float32": before[metric],
        "int8": after[metric],
        "loss": float(loss),
        "tolerance": tolerance,
        "kept": kept,
        "max_abs_diff": float(np.max(np.abs(quantized_scores - original_scores))) if len(labels) else 0.0,
        "bytes_float32": len(onnx_bytes),
        "bytes_int8": len(quantized),
    }
    return (quantized if kept else None), record
