"""Small scikit-learn → ONNX models for the registry and scoring tests (helpers), and their parity checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from engine.registry import Registry
from engine.spec import TableSpec
from engine.workspace import Workspace, init_workspace

NUMERIC = ("pages", "seconds")
CATEGORICAL = ("device", "channel")
SPEC = TableSpec(numeric=NUMERIC, categorical=CATEGORICAL, target="converted", id_columns=("session_id",))


def make_table(rows: int = 400, seed: int = 0) -> pl.DataFrame:
    """A seeded session-like table: two numeric and two categorical features, an id and a binary label."""
    rng = np.random.default_rng(seed)
    pages = rng.poisson(4, rows).astype(np.float64)
    seconds = rng.gamma(2.0, 30.0, rows)
    device = rng.choice(["mobile", "desktop", "tablet"], rows)
    channel = rng.choice(["ads", "email", "direct"], rows)
    logit = 0.4 * pages - 2.0 + (device == "desktop") * 0.8 + (channel == "email") * 0.5
    converted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    frame = pl.DataFrame(
        {
            "session_id": [f"s{i:05d}" for i in range(rows)],
            "pages": pages,
            "seconds": seconds,
            "device": device,
            "channel": channel,
            "converted": converted,
        }
    )
    # A few nulls, so the null contract (numeric → NaN, categorical → "") is exercised.
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 37 == 0).then(None).otherwise(pl.col("seconds")).alias("seconds"),
        pl.when(pl.int_range(pl.len()) % 41 == 0).then(None).otherwise(pl.col("device")).alias("device"),
    )


def fit_logistic(frame: pl.DataFrame, C: float = 1.0) -> Any:  # noqa: N803 - scikit-learn's name
    """A scikit-learn pipeline (impute + scale + one-hot + logistic) on the table's features."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), list(NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
        ]
    )
    features = sklearn_frame(frame)
    return make_pipeline(pre, LogisticRegression(C=C, max_iter=500)).fit(
        features, frame["converted"].to_numpy()
    )


def sklearn_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The features as scikit-learn sees them: numeric nulls NaN, categorical nulls the empty string."""
    return frame.select(
        *[pl.col(name).cast(pl.Float64).fill_null(float("nan")) for name in NUMERIC],
        *[pl.col(name).fill_null("") for name in CATEGORICAL],
    )


def to_onnx_bytes(pipeline: Any) -> bytes:
    """Convert with one [N, 1] input per raw column (float32 numeric, string categorical), ZipMap off."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    initial_types = [(name, FloatTensorType([None, 1])) for name in NUMERIC] + [
        (name, StringTensorType([None, 1])) for name in CATEGORICAL
    ]
    onnx_model = convert_sklearn(
        pipeline, initial_types=initial_types, options={id(pipeline): {"zipmap": False}}
    )
    return onnx_model.SerializeToString()


def metadata_for(pipeline: Any, rows: int) -> dict[str, Any]:
    """Registry metadata in the DEVELOPERS.md shape."""
    return {
        "task": "binary",
        "target": "converted",
        "spec": SPEC.to_dict(),
        "inputs": [{"name": name, "dtype": "float32", "kind": "numeric"} for name in NUMERIC]
        + [{"name": name, "dtype": "string", "kind": "categorical"} for name in CATEGORICAL],
        "output": {"name": "probabilities", "column": 1},
        "threshold": 0.5,
        "metrics": {"validation": {"roc_auc": 0.8}, "test": {"roc_auc": 0.79}},
        "candidates": {"logistic": {"validation": {"roc_auc": 0.8}, "test": {"roc_auc": 0.79}}},
        "chosen": "logistic",
        "parity_max_abs_diff": 1e-7,
        "training_window": {"start": "2026-01-01", "end": "2026-02-01"},
        "data_fingerprint": "test",
        "rows": rows,
    }


PROFILE = {"features": {"pages": {"kind": "numeric"}}, "rows": 400}


def register_logistic(
    workspace: Workspace, name: str = "conversion", C: float = 1.0, promote: bool = True
) -> int:  # noqa: N803
    """Fit, convert and register a logistic model; returns its version."""
    frame = make_table()
    pipeline = fit_logistic(frame, C=C)
    return Registry(workspace).register(
        name,
        to_onnx_bytes(pipeline),
        metadata_for(pipeline, frame.height),
        PROFILE,
        promote=promote,
        who="test",
        why="fixture",
    )


def new_workspace(tmp_path: Path) -> Workspace:
    workspace, _ = init_workspace(tmp_path / "ws")
    return workspace


def test_onnx_matches_sklearn_including_nulls() -> None:
    import onnxruntime as ort

    frame = make_table()
    pipeline = fit_logistic(frame)
    session = ort.InferenceSession(to_onnx_bytes(pipeline), providers=["CPUExecutionProvider"])
    features = sklearn_frame(frame)
    feeds = {name: features[name].cast(pl.Float32).to_numpy().reshape(-1, 1) for name in NUMERIC}
    feeds.update({name: features[name].to_numpy().reshape(-1, 1) for name in CATEGORICAL})
    onnx_scores = session.run(["probabilities"], feeds)[0][:, 1]
    expected = pipeline.predict_proba(features)[:, 1]
    assert np.abs(onnx_scores - expected).max() < 1e-5


@pytest.fixture
def registered(tmp_path: Path) -> Workspace:
    workspace = new_workspace(tmp_path)
    register_logistic(workspace)
    return workspace


def test_registered_model_metadata_records_hash_and_versions(registered: Workspace) -> None:
    version = Registry(registered).get("conversion")
    assert version.metadata["sha256"] and version.metadata["library_versions"]["onnxruntime"]
    assert version.profile == PROFILE
