"""The reference profile: JSON, small, seeded, and holding what drift and estimation need."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from engine.errors import InputError
from engine.monitoring import profile as profile_module
from engine.monitoring.profile import build_reference_profile, calibrate
from engine.spec import TableSpec


def _frame(rows: int, seed: int = 0) -> tuple[pl.DataFrame, TableSpec, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {f"num_{i}": rng.normal(i, 1 + i, rows) for i in range(25)}
    columns["visits"] = rng.poisson(2, rows).astype(float)
    for position, cardinality in enumerate((3, 10, 50, 300, 1000)):
        columns[f"cat_{position}"] = [f"v{code}" for code in rng.integers(0, cardinality, rows)]
    frame = pl.DataFrame(columns).with_columns(
        pl.when(pl.col("num_1") > 2).then(None).otherwise(pl.col("num_1")).alias("num_1")
    )
    spec = TableSpec(
        numeric=tuple(f"num_{i}" for i in range(25)) + ("visits",),
        categorical=tuple(f"cat_{i}" for i in range(5)),
        target="converted",
    )
    scores = rng.uniform(size=rows)
    labels = (rng.uniform(size=rows) < scores**2).astype(float)
    return frame, spec, scores, labels


@pytest.fixture(scope="module")
def built() -> tuple[dict, pl.DataFrame, TableSpec]:
    frame, spec, scores, labels = _frame(20_000)
    return build_reference_profile(frame, spec, scores, labels, threshold=0.4, seed=3), frame, spec


def test_profile_is_plain_json_and_small(built) -> None:
    reference_profile, _, _ = built
    text = json.dumps(reference_profile, allow_nan=False)
    assert json.loads(text) == reference_profile
    assert len(text) < 2_000_000


def test_numeric_feature_has_bins_quantiles_and_moments(built) -> None:
    reference_profile, frame, _ = built
    feature = reference_profile["features"]["num_3"]
    values = frame.get_column("num_3").to_numpy()
    assert feature["kind"] == "numeric"
    assert sum(feature["bin_counts"]) == frame.height
    assert len(feature["bin_counts"]) == len(feature["bin_edges"]) + 1
    assert feature["mean"] == pytest.approx(values.mean())
    assert feature["std"] == pytest.approx(values.std())
    assert feature["summary"]["p50"] == pytest.approx(np.median(values))
    assert len(feature["quantiles"]) == len(reference_profile["quantile_levels"])
    assert feature["quantiles"][0] == pytest.approx(values.min(), rel=1e-6)


def test_null_rate_is_recorded(built) -> None:
    reference_profile, frame, _ = built
    expected = frame.get_column("num_1").null_count() / frame.height
    assert reference_profile["features"]["num_1"]["null_rate"] == pytest.approx(expected)
    assert expected > 0.1


def test_discrete_numeric_gets_one_bin_per_value(built) -> None:
    reference_profile, frame, _ = built
    feature = reference_profile["features"]["visits"]
    distinct = sorted(frame.get_column("visits").unique().to_list())
    assert feature["discrete"] and feature["bin_edges"] == distinct


def test_categories_are_capped_with_other(monkeypatch: pytest.MonkeyPatch) -> None:
    frame, spec, _, _ = _frame(5000)
    monkeypatch.setattr(profile_module, "TOP_CATEGORIES", 100)
    reference_profile = build_reference_profile(frame, spec, seed=3)
    small, large = reference_profile["features"]["cat_1"], reference_profile["features"]["cat_4"]
    assert len(small["categories"]) == 10 and small["other_count"] == 0
    assert len(large["categories"]) == 100 and large["distinct"] > 900
    assert sum(large["category_counts"]) + large["other_count"] == frame.height
    assert large["category_counts"] == sorted(large["category_counts"], reverse=True)
    codes = [code for code in reference_profile["sample"]["columns"]["cat_4"] if code is not None]
    assert min(codes) == -1 and max(codes) == 99


def test_sample_is_seeded(built) -> None:
    reference_profile, frame, spec = built
    sample = reference_profile["sample"]
    assert sample["rows"] == profile_module.SAMPLE_ROWS
    again = build_reference_profile(frame, spec, seed=3)["sample"]
    other_seed = build_reference_profile(frame, spec, seed=4)["sample"]
    assert again == sample
    assert other_seed["columns"]["num_0"] != sample["columns"]["num_0"]
    # Each sampled row decodes to a real row of the frame: same number (7 digits) and same category.
    categories = reference_profile["features"]["cat_2"]["categories"]
    decoded = pl.DataFrame(
        {
            "num_0": [float(f"{value:.7g}") for value in sample["columns"]["num_0"]],
            "cat_2": [categories[code] for code in sample["columns"]["cat_2"]],
        }
    )
    rounded = frame.select(
        pl.col("num_0").map_elements(lambda value: float(f"{value:.7g}"), return_dtype=pl.Float64), "cat_2"
    )
    assert decoded.join(rounded, on=["num_0", "cat_2"], how="semi").height == sample["rows"]


def test_labels_scores_and_calibration(built) -> None:
    reference_profile, _, _ = built
    assert reference_profile["threshold"] == 0.4
    assert 0.25 < reference_profile["labels"]["base_rate"] < 0.42
    table = reference_profile["calibration"]
    assert table["probability"] == sorted(table["probability"])
    # The labels were drawn with probability score², which the isotonic table recovers.
    assert calibrate(np.array([0.5, 0.9]), reference_profile) == pytest.approx([0.25, 0.81], abs=0.06)
    assert reference_profile["performance"]["roc_auc"] > 0.8
    assert len(reference_profile["score"]["sample"]) == reference_profile["sample"]["rows"]


def test_profile_without_labels_cannot_calibrate() -> None:
    frame, spec, scores, _ = _frame(500)
    reference_profile = build_reference_profile(frame, spec, scores)
    assert reference_profile["calibration"] is None and reference_profile["score"] is not None
    with pytest.raises(InputError, match="calibration"):
        calibrate(scores, reference_profile)


def test_missing_column_and_wrong_lengths_are_input_errors() -> None:
    frame, spec, scores, _ = _frame(100)
    with pytest.raises(InputError, match="num_0"):
        build_reference_profile(frame.drop("num_0"), spec)
    with pytest.raises(InputError, match="scores has 99 values"):
        build_reference_profile(frame, spec, scores[:99])
    with pytest.raises(InputError, match="empty"):
        build_reference_profile(frame.clear(), spec)


def test_all_null_and_non_finite_columns_profile_cleanly() -> None:
    frame = pl.DataFrame(
        {"a": [None, None, None], "b": [1.0, float("inf"), float("nan")], "c": [None, "x", "x"]}
    )
    spec = TableSpec(numeric=("a", "b"), categorical=("c",))
    reference_profile = build_reference_profile(frame.with_columns(pl.col("a").cast(pl.Float64)), spec)
    json.dumps(reference_profile, allow_nan=False)
    assert reference_profile["features"]["a"]["count"] == 0
    assert reference_profile["features"]["b"]["null_rate"] == pytest.approx(2 / 3)
    assert reference_profile["features"]["c"]["categories"] == ["x"]
