"""Export a fitted pipeline to one ONNX file with one input per raw column, and check it against scikit-learn.

Where parity can break, and what we do about it:
- float32 inputs: ONNX sees numeric values as float32, so `prepare_features` rounds numeric columns through float32
  before training and before every scikit-learn prediction. The model is defined on float32 values, and a value
  like 1234567.891 becomes 1234567.875 the same way in training, in the parity check and in production scoring.
- tree thresholds: models.hgb_shim stores each split as the largest float32 not above it, exact for float32 inputs.
- computed values feeding trees (a scaler before HGB) differ by float32 rounding; our candidates never put a
  transform in front of HGB for that reason.
- missing values: numeric nulls become NaN; categorical nulls become "" (an ordinary category, or unknown).

Input names: a raw column name can be anything a CSV header holds ("page views", "bounce-rate", "café", "1st"),
while an ONNX name should be a C identifier and skl2onnx rewrites any other (so "page views" came out as
"page_views" and the feed by raw name no longer matched). `onnx_input_names` picks the ONNX name of each column
itself, metadata `inputs` records both ({"name": ONNX name, "column": raw name}), and every feed is built by
column and keyed by name.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.spec import TableSpec
from models.hgb_shim import register_hgb_shim

TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
MISSING_CATEGORY = ""
# skl2onnx names the graph's outputs first (label, probabilities for classifiers; variable for regressors) and
# suffixes an input that would take one of those names, so no input is given one.
RESERVED_NAMES = frozenset({"label", "probabilities", "variable"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def onnx_input_names(columns: Sequence[str]) -> dict[str, str]:
    """A valid, unique ONNX input name (a C identifier) per raw column, the same for the same columns.

    A name that already is one keeps itself (so every model trained before names were mapped reads the same);
    any other is folded to ASCII ("café" -> "cafe"), each run of other characters becomes "_", a leading digit
    gets a "_" in front ("1st" -> "_1st"), and a name already taken gets the first free suffix _2, _3, ...
    ("a b" beside "a_b" -> "a_b_2").
    """
    names: dict[str, str] = {
        column: column for column in columns if _IDENTIFIER.fullmatch(column) and column not in RESERVED_NAMES
    }
    taken = set(names.values()) | RESERVED_NAMES
    for column in columns:
        if column in names:
            continue
        ascii_name = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode("ascii")
        base = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_name).strip("_") or "column"
        if base[0].isdigit():
            base = f"_{base}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        names[column] = name
        taken.add(name)
    return {column: names[column] for column in columns}


def input_column(item: Mapping[str, Any]) -> str:
    """The raw column an input reads: metadata `column`, or its ONNX name for models recorded without one."""
    return str(item.get("column", item["name"]))


def input_metadata(spec: TableSpec) -> list[dict[str, str]]:
    """The ONNX inputs, in order, as DEVELOPERS.md describes them: name (ONNX), column (raw), dtype, kind."""
    names = onnx_input_names([*spec.numeric, *spec.categorical])
    return [
        {"name": names[column], "column": column, "dtype": "float32", "kind": "numeric"}
        for column in spec.numeric
    ] + [
        {"name": names[column], "column": column, "dtype": "string", "kind": "categorical"}
        for column in spec.categorical
    ]


def output_metadata(task: str) -> dict[str, Any]:
    """Which ONNX output (and column) holds the prediction."""
    return {"name": "probabilities", "column": 1} if task == "binary" else {"name": "variable"}


def _require_columns(frame: pl.DataFrame, names: list[str]) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise InputError(
            f"input lacks feature column(s) {', '.join(missing[:10])}; the model needs {', '.join(names[:20])}"
        )


def prepare_features(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """The feature columns as the model sees them: float32-exact Float64 numerics (NaN for null), String categories."""
    _require_columns(frame, list(spec.features))
    numeric = [
        pl.col(name).cast(pl.Float32, strict=False).cast(pl.Float64).fill_null(float("nan")).alias(name)
        for name in spec.numeric
    ]
    categorical = [
        pl.col(name).cast(pl.String).fill_null(MISSING_CATEGORY).alias(name) for name in spec.categorical
    ]
    return frame.select(numeric + categorical)


def onnx_feed(frame: pl.DataFrame, inputs: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The onnxruntime feed for a frame: one [N, 1] array per input (float32 or object strings), read from the
    input's raw column and keyed by its ONNX name."""
    _require_columns(frame, [input_column(item) for item in inputs])
    feed: dict[str, np.ndarray] = {}
    for item in inputs:
        column = frame[input_column(item)]
        if item["dtype"] == "string":
            values = column.cast(pl.String).fill_null(MISSING_CATEGORY).to_numpy().astype(object)
        else:
            values = (
                column.cast(pl.Float32, strict=False).fill_null(float("nan")).to_numpy().astype(np.float32)
            )
        feed[item["name"]] = values.reshape(-1, 1)
    return feed


def pipeline_predict(pipeline: Any, features: pl.DataFrame, task: str) -> np.ndarray:
    """scikit-learn predictions: P(label=1) for classifiers, values for regressors."""
    if task == "binary":
        return np.asarray(pipeline.predict_proba(features)[:, 1], dtype=float)
    return np.asarray(pipeline.predict(features), dtype=float).ravel()


def to_onnx_bytes(pipeline: Any, spec: TableSpec, *, adjust_hgb_thresholds: bool = True) -> bytes:
    """Convert a fitted pipeline (raw columns in) to serialized ONNX with ZipMap off."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    register_hgb_shim()
    from models.stacking import register_stack_converter  # imports scikit-learn

    register_stack_converter()
    from models.mlp import register_mlp_converter  # imports scikit-learn

    register_mlp_converter()
    inputs = input_metadata(spec)
    initial_types = [
        (
            item["name"],
            FloatTensorType([None, 1]) if item["dtype"] == "float32" else StringTensorType([None, 1]),
        )
        for item in inputs
    ]
    renamed = {item["column"]: item["name"] for item in inputs if item["column"] != item["name"]}
    converted = _selecting_by_name(pipeline, renamed) if renamed else pipeline
    options: dict[Any, Any] = {
        HistGradientBoostingClassifier: {"adjust_thresholds": adjust_hgb_thresholds},
        HistGradientBoostingRegressor: {"adjust_thresholds": adjust_hgb_thresholds},
    }
    if spec.task == "binary":
        options[id(converted)] = {"zipmap": False}
    model = convert_sklearn(
        converted, initial_types=initial_types, options=options, target_opset=TARGET_OPSET
    )
    graph_inputs = [item.name for item in model.graph.input]
    if graph_inputs != [item["name"] for item in inputs]:
        raise RuntimeError(
            f"skl2onnx renamed the inputs {[item['name'] for item in inputs]} to {graph_inputs}"
        )
    return model.SerializeToString()


def _selecting_by_name(estimator: Any, names: dict[str, str]) -> Any:
    """A shallow copy of estimator whose ColumnTransformers select columns by ONNX name instead of raw name.

    skl2onnx finds a ColumnTransformer's columns among the initial types by name; the fitted transformers are shared,
    only the column lists differ, and only the converter ever sees the copy.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, ColumnTransformer):
        renamed = copy.copy(estimator)
        renamed.transformers_ = [
            (name, transformer, _renamed_columns(columns, names))
            for name, transformer, columns in estimator.transformers_
        ]
        return renamed
    if isinstance(estimator, Pipeline):
        renamed = copy.copy(estimator)
        renamed.steps = [(name, _selecting_by_name(step, names)) for name, step in estimator.steps]
        return renamed
    return estimator


def _renamed_columns(columns: Any, names: dict[str, str]) -> Any:
    if isinstance(columns, str):
        return names.get(columns, columns)
    if isinstance(columns, list | tuple | np.ndarray):
        return [names.get(column, column) if isinstance(column, str) else column for column in columns]
    return columns  # a slice, an int or a boolean mask selects by position


class OnnxPredictor:
    """An onnxruntime session over serialized ONNX bytes that returns the prediction column."""

    def __init__(self, onnx_bytes: bytes, inputs: list[dict[str, str]], output: dict[str, Any]) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session_ = onnxruntime.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.inputs = inputs
        self.output = output

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Predictions for the rows of frame (P(label=1) or values), as float64."""
        (result,) = self.session_.run([self.output["name"]], onnx_feed(frame, self.inputs))
        result = np.asarray(result, dtype=np.float64)
        if "column" in self.output:
            return result[:, self.output["column"]]
        return result.ravel()


def parity_max_abs_diff(pipeline: Any, onnx_bytes: bytes, features: pl.DataFrame, spec: TableSpec) -> float:
    """Largest |ONNX - scikit-learn| over the rows of features (already prepared).

    Probabilities are compared absolutely; regression values relative to the prediction scale, max(1, max |value|)
    over the rows, since float32 carries about seven significant digits of the largest magnitude summed (a spend of
    1,000.00 cannot agree to 1e-4 absolutely, nor can a small prediction built from large leaf values).
    """
    predictor = OnnxPredictor(onnx_bytes, input_metadata(spec), output_metadata(spec.task))
    expected = pipeline_predict(pipeline, features, spec.task)
    actual = predictor.predict(features)
    if len(expected) == 0:
        return 0.0
    difference = np.abs(actual - expected)
    if spec.task != "binary":
        difference = difference / max(1.0, float(np.max(np.abs(expected))))
    return float(np.max(difference))


def with_metadata(onnx_bytes: bytes, properties: dict[str, Any]) -> bytes:
    """The same model with properties stored as JSON strings in its metadata_props (readable without shopctl)."""
    import json

    import onnx

    model = onnx.load_model_from_string(onnx_bytes)
    existing = {prop.key: prop for prop in model.metadata_props}
    for key, value in properties.items():
        text = json.dumps(value, sort_keys=True)
        if key in existing:
            existing[key].value = text
        else:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, text
    return model.SerializeToString()
