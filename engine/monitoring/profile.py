"""The reference profile: what monitoring keeps from training data, as plain JSON stored beside each model.

Drift, score drift, the domain classifier and performance estimation all compare against this profile and never
against raw training data, so it holds everything they need: per-feature quantile bins and counts, fine quantiles,
category frequencies (top-K plus "other"), null rates, a seeded row sample, the score distribution, the base rate,
a calibration table and the reference performance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.monitoring.performance import realized_performance
from engine.monitoring.stats import bin_counts_sorted, sorted_quantiles
from engine.spec import TableSpec

PROFILE_FORMAT = 1
COARSE_BINS = 10


def _fine_levels() -> np.ndarray:
    """Quantile levels every 0.5% plus geometric steps into both tails (down to about 5e-6).

    Wasserstein distance is read off these quantiles; with an even grid alone, the 0.5% beyond the last inner
    level of a long-tailed column (prices, durations) would be spread evenly up to the maximum and overstate it.
    """
    inner = np.linspace(0.005, 0.995, 199)
    tail = 0.005 * 2.0 ** -np.arange(10, 0, -1)
    levels = np.concatenate([[0.0], tail, inner, 1.0 - tail[::-1], [1.0]])
    return np.array([float(f"{level:.7g}") for level in levels])


FINE_LEVELS = _fine_levels()
SUMMARY_LEVELS = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
DISCRETE_UNIQUE = 20
TOP_CATEGORIES = 1000
SAMPLE_ROWS = 2000
CALIBRATION_POINTS = 51


def _round(values: np.ndarray) -> list[float]:
    """Seven significant digits (float32 precision) keep the JSON small without changing any statistic."""
    return [float(f"{value:.7g}") for value in np.asarray(values, dtype=np.float64).tolist()]


def sorted_finite_columns(frame: pl.DataFrame, names: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each named column's finite values as a sorted float64 array, sorted by one (parallel) polars query."""
    if not names:
        return {}
    for name in names:
        dtype = frame.schema[name]
        if not (dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null):
            raise InputError(f"column {name!r} holds {dtype}, but the model uses it as a numeric feature")
    # Nulls (NaN made null first) sort to the front, so the finite values are one slice after them.
    ordered = frame.select([pl.col(name).cast(pl.Float64).fill_nan(None).sort() for name in names])
    columns = {}
    for name in names:
        series = ordered.get_column(name)
        values = series.to_numpy()[series.null_count() :]
        if values.size and not (np.isfinite(values[0]) and np.isfinite(values[-1])):
            values = values[np.isfinite(values)]
        columns[name] = values
    return columns


def numeric_profile(sorted_values: np.ndarray, total_rows: int) -> dict[str, Any]:
    """Profile of one numeric column from its sorted finite values (nulls and non-finite count as missing)."""
    count = int(sorted_values.size)
    profile: dict[str, Any] = {
        "kind": "numeric",
        "rows": total_rows,
        "count": count,
        "null_rate": 1.0 - count / total_rows if total_rows else 0.0,
    }
    if count == 0:
        profile.update(bin_edges=[], bin_counts=[0], quantiles=[], summary={})
        return profile
    distinct = int(np.count_nonzero(np.diff(sorted_values))) + 1
    if distinct <= DISCRETE_UNIQUE:
        # Few distinct values: one bin per value, so a count feature keeps its exact distribution.
        edges = np.unique(sorted_values)
    else:
        edges = np.unique(sorted_quantiles(sorted_values, np.linspace(0, 1, COARSE_BINS + 1)[1:-1]))
    fine = sorted_quantiles(sorted_values, FINE_LEVELS)
    profile.update(
        distinct=distinct,
        discrete=distinct <= DISCRETE_UNIQUE,
        mean=float(sorted_values.mean()),
        std=float(sorted_values.std()),
        min=float(sorted_values[0]),
        max=float(sorted_values[-1]),
        bin_edges=edges.tolist(),
        bin_counts=bin_counts_sorted(sorted_values, edges).tolist(),
        quantiles=_round(fine),
        summary={
            name: float(sorted_quantiles(sorted_values, np.array([level]))[0])
            for name, level in SUMMARY_LEVELS.items()
        },
    )
    return profile


def categorical_profile(series: pl.Series) -> dict[str, Any]:
    """Profile of one categorical column: top categories with counts, the rest pooled as "other"."""
    values = series.cast(pl.String)
    total_rows = values.len()
    null_count = values.null_count()
    counts = values.drop_nulls().value_counts(name="n")
    counts = counts.sort(["n", counts.columns[0]], descending=[True, False])
    categories = counts.get_column(counts.columns[0]).to_list()
    frequencies = counts.get_column("n").to_list()
    return {
        "kind": "categorical",
        "rows": total_rows,
        "count": total_rows - null_count,
        "null_rate": null_count / total_rows if total_rows else 0.0,
        "distinct": len(categories),
        "categories": categories[:TOP_CATEGORIES],
        "category_counts": frequencies[:TOP_CATEGORIES],
        "other_count": int(sum(frequencies[TOP_CATEGORIES:])),
    }


def _sample_column(series: pl.Series, kind: str, categories: list[str]) -> list[Any]:
    if kind == "numeric":
        values = series.cast(pl.Float64).to_numpy()
        finite = np.isfinite(values)
        rounded = _round(np.where(finite, values, 0.0))
        return [value if ok else None for value, ok in zip(rounded, finite.tolist(), strict=True)]
    # Categories are stored as their index in the profile's list; -1 is "other", None a missing value.
    index = {name: position for position, name in enumerate(categories)}
    return [None if value is None else index.get(value, -1) for value in series.cast(pl.String).to_list()]


def calibration_table(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """Isotonic fit of labels on scores, kept as a piecewise-linear table over score quantiles."""
    from sklearn.isotonic import IsotonicRegression

    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    grid = np.unique(np.quantile(scores, np.linspace(0, 1, CALIBRATION_POINTS)))
    return {"score": _round(grid), "probability": _round(isotonic.predict(grid))}


def calibrate(scores: np.ndarray, profile: dict[str, Any]) -> np.ndarray:
    """Map raw scores to calibrated probabilities with the profile's calibration table."""
    table = profile.get("calibration")
    if not table:
        raise InputError(
            "reference profile has no calibration table (it was built without labels); "
            "retrain the model with labelled data to estimate performance"
        )
    return np.interp(np.asarray(scores, dtype=np.float64), table["score"], table["probability"])


def _check_columns(frame: pl.DataFrame, spec: TableSpec) -> None:
    missing = [name for name in spec.features if name not in frame.columns]
    if missing:
        raise InputError(
            f"reference frame lacks feature column(s) {', '.join(missing)}; "
            "pass the training table the spec describes"
        )
    if frame.height == 0:
        raise InputError("reference frame is empty; a profile needs at least one row")


def _check_vector(name: str, values: np.ndarray | None, rows: int) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size != rows:
        raise InputError(f"{name} has {values.size} values but the reference frame has {rows} rows")
    return values


def build_reference_profile(
    frame: pl.DataFrame,
    spec: TableSpec,
    scores: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    threshold: float = 0.5,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarise a reference (training) frame, its scores and labels into a JSON-serialisable profile."""
    _check_columns(frame, spec)
    rows = frame.height
    scores = _check_vector("scores", scores, rows)
    labels = _check_vector("labels", labels, rows)
    numeric_sorted = sorted_finite_columns(frame, spec.numeric)
    features: dict[str, Any] = {}
    for name in spec.numeric:
        features[name] = numeric_profile(numeric_sorted[name], rows)
    for name in spec.categorical:
        features[name] = categorical_profile(frame.get_column(name))

    rng = np.random.default_rng(seed)
    sample_index = np.sort(rng.choice(rows, size=min(rows, SAMPLE_ROWS), replace=False))
    sample_frame = frame.select(spec.features)[sample_index]
    sample = {
        name: _sample_column(
            sample_frame.get_column(name), features[name]["kind"], features[name].get("categories", [])
        )
        for name in spec.features
    }
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "rows": rows,
        "seed": seed,
        "threshold": threshold,
        "quantile_levels": FINE_LEVELS.tolist(),
        "spec": spec.to_dict(),
        "features": features,
        "sample": {"rows": int(sample_index.size), "columns": sample},
        "score": None,
        "labels": None,
        "calibration": None,
        "performance": None,
    }
    if scores is not None:
        score_profile = numeric_profile(np.sort(scores[np.isfinite(scores)]), rows)
        score_profile["sample"] = _sample_column(pl.Series(scores[sample_index]), "numeric", [])
        profile["score"] = score_profile
    if labels is not None:
        known = np.isfinite(labels)
        mean = float(labels[known].mean()) if known.any() else None
        profile["labels"] = {
            "count": int(known.sum()),
            "base_rate" if spec.task == "binary" else "mean": mean,
        }
        usable = known & np.isfinite(scores) if scores is not None else np.zeros(rows, dtype=bool)
        if spec.task == "binary" and scores is not None and usable.any():
            if len(np.unique(labels[usable])) == 2:
                profile["calibration"] = calibration_table(labels[usable], scores[usable])
            profile["performance"] = realized_performance(labels[usable], scores[usable], threshold)
    return profile
