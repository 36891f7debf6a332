"""Candidate settings: HGB's ensemble size (its scoring cost) and the bench measuring what training produces."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.spec import TableSpec
from models.candidates import HGB_PARAMS, MLP_PARAMS, make_candidate

ROOT = Path(__file__).resolve().parents[1]
SPEC = TableSpec(numeric=("a", "b"), categorical=("c",), target="y", task="binary")


def test_hgb_candidate_uses_the_shared_settings() -> None:
    # 10 rounds without improvement, not 20: about 10% fewer trees to score, same validation quality
    # (docs/scoring.md, "HistGradientBoosting cost").
    assert HGB_PARAMS["n_iter_no_change"] == 10 and HGB_PARAMS["early_stopping"] is True
    hgb = make_candidate("hgb", SPEC, [["x", "y"]], seed=3).named_steps["model"]
    assert {key: hgb.get_params()[key] for key in HGB_PARAMS} == HGB_PARAMS
    assert hgb.random_state == 3
    stack = make_candidate("stack", SPEC, [["x", "y"]], seed=3).named_steps["model"]
    members = dict(stack.estimators)
    assert {key: members["hgb"].get_params()[key] for key in HGB_PARAMS} == HGB_PARAMS
    mlp = members["mlp"].named_steps["model"]
    assert {key: mlp.get_params()[key] for key in MLP_PARAMS} == MLP_PARAMS


def test_scoring_bench_fits_the_training_settings() -> None:
    spec = importlib.util.spec_from_file_location("bench_scoring", ROOT / "bench" / "bench_scoring.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.HGB_PARAMS is HGB_PARAMS and bench.MLP_PARAMS is MLP_PARAMS
