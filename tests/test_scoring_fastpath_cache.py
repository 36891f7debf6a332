"""The rewrite cache: a cached model scores exactly as a freshly rewritten one, without importing onnx."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_scoring_models import CATEGORICAL, NUMERIC, fit_logistic, make_table, metadata_for, to_onnx_bytes

import engine.scoring.fastpath as fastpath
from engine.scoring import ScoringModel
from engine.scoring.fastpath.cache import cache_key, plan_from_dict, plan_to_dict

INPUTS = [(name, "float32") for name in NUMERIC] + [(name, "string") for name in CATEGORICAL]


@pytest.fixture(scope="module")
def fitted() -> tuple[object, object, bytes]:
    table = make_table(seed=5)
    pipeline = fit_logistic(table)
    return table, pipeline, to_onnx_bytes(pipeline)


def test_a_cached_rewrite_is_the_same_graph_and_plan(fitted, tmp_path: Path) -> None:
    _, _, onnx_bytes = fitted
    fresh = fastpath.optimise_graph(onnx_bytes, INPUTS, outputs=["probabilities"], cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # stored only when asked
    fastpath.save_rewrite(tmp_path, onnx_bytes, INPUTS, ["probabilities"], *fresh)
    assert len(list(tmp_path.glob("*.onnx"))) == 1 and len(list(tmp_path.glob("*.json"))) == 1
    cached = fastpath.optimise_graph(onnx_bytes, INPUTS, outputs=["probabilities"], cache_dir=tmp_path)
    assert cached[0] == fresh[0]
    assert plan_to_dict(cached[1]) == plan_to_dict(fresh[1]) and cached[1].matrices and cached[1].encoders
    assert plan_to_dict(plan_from_dict(plan_to_dict(fresh[1]))) == plan_to_dict(fresh[1])
    # Another output list is another entry.
    assert cache_key(onnx_bytes, INPUTS, ["probabilities"]) != cache_key(onnx_bytes, INPUTS, None)


def test_a_damaged_entry_is_recomputed(fitted, tmp_path: Path) -> None:
    table, pipeline, onnx_bytes = fitted
    metadata = metadata_for(pipeline, table.height)
    expected = ScoringModel(onnx_bytes, metadata, name="m").predict(table)
    unused = ScoringModel(onnx_bytes, metadata, name="m", graph_cache=tmp_path)
    assert not list(tmp_path.iterdir())  # not stored before the model has scored
    unused.predict(table.head(3))
    (graph,) = tmp_path.glob("*.onnx")
    graph.write_bytes(b"not a graph")
    model = ScoringModel(onnx_bytes, metadata, name="m", graph_cache=tmp_path)
    assert np.array_equal(model.predict(table), expected)
    assert graph.read_bytes() != b"not a graph"  # rewritten
    assert np.array_equal(
        ScoringModel(onnx_bytes, metadata, name="m", graph_cache=tmp_path).predict(table), expected
    )


def test_an_unwritable_cache_is_skipped(fitted, tmp_path: Path) -> None:
    table, pipeline, onnx_bytes = fitted
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    model = ScoringModel(
        onnx_bytes, metadata_for(pipeline, table.height), name="m", graph_cache=blocker / "x"
    )
    assert model._plan.matrices


def test_scoring_a_cached_model_imports_no_onnx(fitted, tmp_path: Path) -> None:
    table, pipeline, onnx_bytes = fitted
    (tmp_path / "model.onnx").write_bytes(onnx_bytes)
    table.write_parquet(tmp_path / "table.parquet")
    (tmp_path / "metadata.json").write_text(json.dumps(metadata_for(pipeline, table.height)))
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        import polars as pl
        from engine.scoring import ScoringModel
        folder = Path({str(tmp_path)!r})
        model = ScoringModel((folder / "model.onnx").read_bytes(), json.loads((folder / "metadata.json").read_text()),
                             name="m", graph_cache=folder / "cache")
        scores = model.predict(pl.read_parquet(folder / "table.parquet"))
        print(json.dumps({{"onnx": "onnx" in sys.modules, "scores": scores.tolist(), "plan": bool(model._plan.matrices)}}))
        """
    )
    runs = [
        json.loads(
            subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        )
        for _ in range(2)
    ]
    assert (
        runs[0]["onnx"] and not runs[1]["onnx"]
    )  # the first run rewrote the graph, the second read the cache
    assert runs[1]["plan"] and runs[0]["scores"] == runs[1]["scores"]
