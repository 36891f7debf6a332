"""Column names a CSV can carry (spaces, dashes, dots, unicode, leading digits, names that collide once sanitised)
train, export to ONNX, score and monitor; errors name the user's columns (issue 17 §6).

Before the raw -> ONNX name mapping, skl2onnx renamed "page views" to "page_views" in the graph while every feed
was keyed by the raw name, so `shopctl train` ended in exit 1 "Required inputs (['page_views', ...]) are missing".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_scoring_models import fit_logistic, make_table, metadata_for, to_onnx_bytes
from typer.testing import CliRunner

from console.cli.main import app
from engine.config import TrainingConfig
from engine.registry import Registry
from engine.scoring import ScoringModel, load_model
from engine.workspace import Workspace, init_workspace
from models.onnx_export import (
    RESERVED_NAMES,
    input_metadata,
    onnx_input_names,
    pipeline_predict,
    prepare_features,
)
from models.onnx_export import to_onnx_bytes as pipeline_to_onnx
from models.tables import load_table
from models.training import train

runner = CliRunner()
ROWS = 240
# Raw name -> the ONNX name it must get. "a b" and "a_b" collide once sanitised; "a_b" is valid and keeps itself.
EXPECTED_NAMES = {
    "page views": "page_views",
    "bounce-rate": "bounce_rate",
    "x.y": "x_y",
    "1st": "_1st",
    "a b": "a_b_2",
    "a_b": "a_b",
    "café": "cafe",
    "source channel": "source_channel",
}
C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def direct_scores(onnx_bytes: bytes, inputs: list[dict], features: pl.DataFrame) -> np.ndarray:
    """P(label=1) from onnxruntime on the graph itself (no shopctl scoring code), fed through the metadata mapping."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == [item["name"] for item in inputs]
    feed = {
        item["name"]: features[item["column"]]
        .to_numpy()
        .astype(np.float32 if item["dtype"] == "float32" else object)
        .reshape(-1, 1)
        for item in inputs
    }
    (probabilities,) = session.run(["probabilities"], feed)
    return probabilities[:, 1].astype(np.float64)


@pytest.fixture(scope="module")
def odd_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded binary table whose feature columns are all awkward names (two categorical, the rest numeric)."""
    rng = np.random.default_rng(17)
    pages = rng.poisson(5, ROWS)
    bounce = rng.random(ROWS)
    drink = rng.choice(["latte", "espresso", "mocha"], ROWS)
    channel = rng.choice(["ads", "email"], ROWS)
    logit = -1 + 0.3 * pages - 1.5 * bounce + (drink == "latte") * 1.0 + (channel == "email") * 0.8
    label = (rng.random(ROWS) < 1 / (1 + np.exp(-logit))).astype(int)
    path = tmp_path_factory.mktemp("odd-names") / "odd names.csv"
    pl.DataFrame(
        {
            "page views": pages,
            "bounce-rate": bounce,
            "x.y": rng.normal(size=ROWS),
            "1st": rng.random(ROWS),
            "a b": rng.random(ROWS),
            "a_b": rng.random(ROWS),
            "café": drink,
            "source channel": channel,
            "label": label,
        }
    ).write_csv(path)
    return path


@pytest.fixture(scope="module")
def shop(odd_table: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with `odd_logistic` and `odd_hgb` trained on the odd table through the CLI."""
    root = tmp_path_factory.mktemp("odd-shop") / "shop"
    init_workspace(root)
    for candidate in ("logistic", "hgb"):
        result = runner.invoke(
            app,
            [
                "train",
                f"odd_{candidate}",
                "--table",
                str(odd_table),
                "--target",
                "label",
                "--candidates",
                candidate,
                "-w",
                str(root),
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
    return root


def test_onnx_input_names_sanitise_to_unique_identifiers() -> None:
    assert onnx_input_names(list(EXPECTED_NAMES)) == EXPECTED_NAMES
    # The outputs' names are never an input's; a name with nothing ASCII left still gets one.
    assert onnx_input_names(["label", "probabilities", "variable", "价格", "价格 2", "-"]) == {
        "label": "label_2",
        "probabilities": "probabilities_2",
        "variable": "variable_2",
        "价格": "column",
        "价格 2": "_2",
        "-": "column_2",
    }


@given(st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=12))
def test_onnx_input_names_are_valid_unique_and_keep_valid_names(columns: list[str]) -> None:
    names = onnx_input_names(columns)
    assert list(names) == columns and onnx_input_names(columns) == names
    assert len(set(names.values())) == len(columns)
    assert all(C_IDENTIFIER.fullmatch(name) and name not in RESERVED_NAMES for name in names.values())
    for column in columns:
        if C_IDENTIFIER.fullmatch(column) and column not in RESERVED_NAMES:
            assert names[column] == column


@pytest.mark.parametrize("candidate", ["logistic", "hgb"])
def test_exported_onnx_matches_scikit_learn_on_odd_names(candidate: str, odd_table: Path) -> None:
    frame, spec = load_table(odd_table, "label", TrainingConfig())
    result = train(frame, spec, TrainingConfig(candidates=[candidate]))
    inputs = input_metadata(result.spec)
    assert {item["column"]: item["name"] for item in inputs} == EXPECTED_NAMES
    features = prepare_features(frame, result.spec)
    actual = direct_scores(pipeline_to_onnx(result.pipeline, result.spec), inputs, features)
    expected = pipeline_predict(result.pipeline, features, "binary")
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)


def test_train_records_the_mapping_and_score_writes_finite_scores(
    shop: Path, odd_table: Path, tmp_path: Path
) -> None:
    ws = Workspace(shop)
    table = pl.read_csv(odd_table)
    for name in ("odd_logistic", "odd_hgb"):
        version = Registry(ws).get(name)
        metadata = version.metadata
        assert {item["column"]: item["name"] for item in metadata["inputs"]} == EXPECTED_NAMES
        assert metadata["parity_max_abs_diff"] <= ws.settings.training.parity_tolerance
        output = tmp_path / f"{name}.parquet"
        result = runner.invoke(
            app,
            ["score", name, "--input", str(odd_table), "--output", str(output), "-w", str(shop), "--json"],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["rows"] == ROWS
        scores = pl.read_parquet(output).get_column("score")
        assert scores.len() == ROWS and scores.null_count() == 0
        assert np.isfinite(scores.to_numpy()).all() and scores.n_unique() > 1
        # The file's scores (fast path: numeric blocks, category codes, matrices) are the graph's own, and the
        # row-dict path agrees.
        direct = direct_scores(version.read_onnx(), metadata["inputs"], table)
        np.testing.assert_allclose(scores.to_numpy(), direct, rtol=0, atol=1e-6)
        model = load_model(ws, name)
        assert model._plan.blocks or model._plan.matrices
        np.testing.assert_allclose(model.predict(table), scores.to_numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(model.predict(table.head(5).to_dicts()), scores.to_numpy()[:5], atol=1e-6)


def test_monitor_run_on_odd_names(shop: Path, odd_table: Path) -> None:
    result = runner.invoke(
        app, ["monitor", "run", "--model", "odd_hgb", "--input", str(odd_table), "-w", str(shop), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["models"] == [{"name": "odd_hgb", "version": 1, "rows": ROWS}]
    checks = {check["name"]: check["status"] for check in payload["checks"]}
    assert {"quality", "drift", "performance"} <= set(checks) and "skipped" not in checks.values()


def test_errors_name_the_raw_columns(shop: Path, odd_table: Path, tmp_path: Path) -> None:
    table = pl.read_csv(odd_table)
    lacking = tmp_path / "lacking.csv"
    table.drop("bounce-rate").write_csv(lacking)
    result = runner.invoke(
        app, ["score", "odd_logistic", "-i", str(lacking), "-o", str(tmp_path / "o.csv"), "-w", str(shop)]
    )
    assert result.exit_code == 2 and "'bounce-rate'" in result.stderr and "bounce_rate" not in result.stderr
    wrong = tmp_path / "wrong.parquet"
    table.with_columns(pl.lit("many").alias("page views")).write_parquet(wrong)
    result = runner.invoke(
        app, ["score", "odd_logistic", "-i", str(wrong), "-o", str(tmp_path / "o.csv"), "-w", str(shop)]
    )
    assert result.exit_code == 2 and "'page views' is String" in result.stderr
    model = load_model(Workspace(shop), "odd_logistic")
    row = table.head(1).to_dicts()[0]
    with pytest.raises(Exception, match=r"column '1st' is 'first'"):
        model.predict({**row, "1st": "first"})


def test_models_recorded_without_columns_read_their_input_names() -> None:
    """Older metadata has no `column`: each input reads the column of its own name."""
    frame = make_table()
    pipeline = fit_logistic(frame)
    onnx_bytes, metadata = to_onnx_bytes(pipeline), metadata_for(pipeline, frame.height)
    assert all("column" not in item for item in metadata["inputs"])
    with_columns = {**metadata, "inputs": [{**item, "column": item["name"]} for item in metadata["inputs"]]}
    np.testing.assert_array_equal(
        ScoringModel(onnx_bytes, metadata).predict(frame),
        ScoringModel(onnx_bytes, with_columns).predict(frame),
    )
