"""Candidate settings: HGB's ensemble size (its scoring cost) and the bench measuring what training produces."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.spec import TableSpec
from models.candidates import HGB_PARAMS, MLP_PARAMS, keep_best_iteration, make_candidate
from models.onnx_export import prepare_features, to_onnx_bytes

ROOT = Path(__file__).resolve().parents[1]
SPEC = TableSpec(numeric=("a", "b"), categorical=("c",), target="y", task="binary")


def test_hgb_candidate_uses_the_shared_settings() -> None:
    # Small ensembles (~30 trees of 15 leaves) at the same quality: docs/scoring.md, "What changed".
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
    # It builds and converts the candidates through the training code itself, so it scores what training makes.
    assert bench.make_candidate is make_candidate and bench.keep_best_iteration is keep_best_iteration
    assert bench.to_onnx_bytes is to_onnx_bytes and bench.prepare_features is prepare_features


def test_keep_best_iteration_drops_the_trees_after_the_best_validation_score() -> None:
    import numpy as np
    import polars as pl

    from models.candidates import keep_best_iteration

    rng = np.random.default_rng(0)
    rows = 4_000
    frame = pl.DataFrame(
        {"a": rng.normal(size=rows), "b": rng.normal(size=rows), "c": rng.choice(["x", "y"], rows)}
    )
    logit = 1.5 * frame["a"].to_numpy() - frame["b"].to_numpy() + (frame["c"] == "x").to_numpy()
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    hgb = make_candidate("hgb", SPEC, [["x", "y"]], seed=0).fit(frame, labels)
    model = hgb.named_steps["model"]
    grown, scores = model.n_iter_, model.validation_score_.copy()
    assert grown < HGB_PARAMS["max_iter"]  # it stopped early, so some trailing rounds did not improve
    best = int(np.argmax(scores))
    staged = list(model.staged_predict_proba(hgb.named_steps["encode"].transform(frame)))[best - 1][:, 1]
    assert keep_best_iteration(hgb) == grown - best > 0
    assert model.n_iter_ == best and len(model.validation_score_) == best + 1
    assert np.array_equal(hgb.predict_proba(frame)[:, 1], staged)  # the model as it was at its best round
    assert keep_best_iteration(hgb) == 0  # idempotent

    stack = make_candidate("stack", SPEC, [["x", "y"]], seed=0).fit(frame, labels)
    member = stack.named_steps["model"].estimators_[1]
    grown = member.n_iter_
    assert keep_best_iteration(stack) == grown - member.n_iter_ > 0  # the stack's HGB member is trimmed too
