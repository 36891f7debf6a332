"""Model choice on small tables: the one-standard-error rule, when CV is used, what it picks, and what it reports."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.config import TrainingConfig
from engine.registry import Registry
from engine.spec import TableSpec
from engine.workspace import init_workspace
from models.onnx_export import prepare_features
from models.selection import fold_scores, make_folds, one_standard_error_choice
from models.training import _fit, train

SPEC = TableSpec(numeric=("a", "b", "c"), categorical=("colour",), target="label", id_columns=())


def _table(rows: int, seed: int, *, linear: bool) -> pl.DataFrame:
    """Three numerics and a colour; the label follows a noisy logistic model, or a non-linear one (a ring in a, b)."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, rows))
    colour = rng.choice(["red", "green", "blue"], rows)
    if linear:
        logit = -1.0 + 0.8 * a - 0.6 * b + 0.3 * c + 0.4 * (colour == "red")
    else:
        logit = 3.0 - 2.5 * (a**2 + b**2)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    start = datetime(2024, 1, 1)
    return pl.DataFrame(
        {
            "when": [start + timedelta(hours=i) for i in range(rows)],
            "a": a,
            "b": b,
            "c": c,
            "colour": colour.tolist(),
            "label": label,
        }
    )


# hgb: mean 0.82, sd 0.0316, SE 0.0141, so anything with mean >= 0.8059 is within one SE.
HGB_FOLDS = [0.80, 0.84, 0.82, 0.86, 0.78]


def test_simpler_candidate_within_one_standard_error_is_chosen() -> None:
    choice = one_standard_error_choice(
        {"hgb": HGB_FOLDS, "logistic": [0.80, 0.82, 0.81, 0.82, 0.80]}, "roc_auc"
    )
    assert (choice.chosen, choice.best) == ("logistic", "hgb")
    assert choice.reason.startswith("logistic within 1 SE of hgb (CV roc_auc 0.810 ± 0.010 vs 0.820 ± 0.032")


def test_simpler_candidate_outside_one_standard_error_loses() -> None:
    choice = one_standard_error_choice(
        {"logistic": [0.80] * 5, "hgb": HGB_FOLDS, "mlp": [0.5] * 5}, "roc_auc"
    )
    assert (choice.chosen, choice.best) == ("hgb", "hgb")
    assert "no simpler candidate within 1 SE (logistic 0.800 ± 0.000)" in choice.reason


def test_lower_is_better_metrics_and_nan_candidates() -> None:
    # log loss: hgb best (0.30, sd 0.02, SE 0.0089); logistic at 0.305 is within, the stack (NaN) never counts.
    choice = one_standard_error_choice(
        {
            "stack": [0.1, float("nan"), 0.1, 0.1, 0.1],
            "hgb": [0.28, 0.32, 0.30, 0.30, 0.30],
            "logistic": [0.305] * 5,
        },
        "log_loss",
    )
    assert (choice.chosen, choice.best) == ("logistic", "hgb")
    assert one_standard_error_choice({"hgb": [0.30] * 5, "logistic": [0.32] * 5}, "log_loss").chosen == "hgb"


def test_cv_is_used_up_to_cv_max_rows_and_not_above() -> None:
    frame = _table(300, 0, linear=True)  # train + validation = 254 rows (stratified rounding)
    below = train(frame, SPEC, TrainingConfig(candidates=["logistic", "hgb"], cv_max_rows=254, cv_folds=3))
    assert below.selection["method"] == "cv" and below.selection["fold_method"] == "stratified"
    assert below.selection["rows"] == 254 and below.selection["folds"] == 3
    for scores in below.candidates.values():
        assert len(scores["cv_folds"]) == 3
        assert scores["cv_mean"] == pytest.approx(np.mean(scores["cv_folds"]))
        assert scores["cv_sd"] == pytest.approx(np.std(scores["cv_folds"], ddof=1))
    above = train(frame, SPEC, TrainingConfig(candidates=["logistic", "hgb"], cv_max_rows=253))
    assert above.selection["method"] == "validation"
    assert "254 train + validation rows > [training] cv_max_rows 253" in above.selection["reason"]
    assert not any("cv_mean" in scores for scores in above.candidates.values())
    # The threshold still comes from the validation rows, so it is the same either way.
    assert below.candidates["logistic"]["threshold"] == above.candidates["logistic"]["threshold"]


def test_time_split_uses_ordered_folds() -> None:
    spec = TableSpec(
        numeric=SPEC.numeric, categorical=SPEC.categorical, target="label", time_column="when", id_columns=()
    )
    result = train(_table(300, 1, linear=True), spec, TrainingConfig(candidates=["logistic"], cv_folds=3))
    assert result.selection["fold_method"] == "time"
    folds = make_folds(np.arange(12) % 2, "binary", ordered=True, folds=3, seed=0)
    assert [score.tolist() for _, score in folds.pairs] == [[3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert all(fit.max() < score.min() for fit, score in folds.pairs)  # never trained on the future


@pytest.mark.parametrize(("linear", "expected"), [(True, "logistic"), (False, "hgb")])
def test_cv_picks_the_model_that_fits_the_truth(linear: bool, expected: str) -> None:
    result = train(_table(600, 2, linear=linear), SPEC, TrainingConfig(candidates=["logistic", "hgb"]))
    assert result.selection["method"] == "cv"
    assert result.chosen == expected, result.selection["reason"]


def test_fold_scores_are_reproducible_with_the_seed() -> None:
    frame = _table(300, 3, linear=True)
    features, labels = prepare_features(frame, SPEC), frame["label"].to_numpy()

    def scores(seed: int) -> list[float]:
        folds = make_folds(labels, "binary", ordered=False, folds=4, seed=seed)
        return fold_scores("logistic", SPEC, features, labels, folds, "roc_auc", seed, _fit)

    first = scores(5)
    assert scores(5) == first
    assert scores(6) != first


def test_too_few_of_a_class_falls_back_to_validation() -> None:
    frame = _table(300, 4, linear=True)
    labels = np.zeros(frame.height, dtype=int)
    labels[[10, 50, 100, 150, 200, 250, 290, 295]] = 1  # 8 positives: the split keeps about 6 out of test
    frame = frame.with_columns(pl.Series("label", labels))
    result = train(frame, SPEC, TrainingConfig(candidates=["logistic"], cv_folds=10))
    assert result.selection["method"] == "validation"
    assert "fewer than 10 folds" in result.selection["reason"]


def test_train_json_and_metadata_carry_the_selection(tmp_path: Path) -> None:
    workspace = init_workspace(tmp_path / "shop")[0]
    table = tmp_path / "table.csv"
    _table(400, 5, linear=True).drop("when").write_csv(table)
    args = ["train", "shop", "--table", str(table), "--target", "label", "--candidates", "logistic,hgb"]
    result = CliRunner().invoke(app, [*args, "-w", str(workspace.root), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["selection"] == "cv" and payload["selection_metric"] == "roc_auc"
    assert payload["selection_reason"].startswith(payload["model"])
    for scores in payload["candidates"].values():
        assert {"validation", "test", "cv_mean", "cv_sd", "cv_folds"} <= set(scores)
        assert len(scores["cv_folds"]) == 5
    metadata = Registry(workspace).get("shop").metadata
    assert metadata["selection"]["method"] == "cv"
    assert metadata["candidates"]["logistic"]["cv_folds"] == payload["candidates"]["logistic"]["cv_folds"]
    human = CliRunner().invoke(app, [*args, "-w", str(workspace.root)])
    assert human.exit_code == 0, human.output
    assert "cv roc_auc mean ± sd" in human.stdout and "chosen: " in human.stdout
