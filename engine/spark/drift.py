"""Drift of a Parquet batch against a model's reference profile, with the counts aggregated on Spark.

The statistics need, per numeric feature, the distinct finite values with their counts (from which the bin
counts against the profile's edges, the quantile distances and KS follow) and, per categorical feature, the
value frequencies. Spark computes those with one unpivot + groupBy each; only those counts reach the driver,
where engine.monitoring.drift turns them into the same FeatureDrift results as the local path
(numeric_drift_from_runs, categorical_drift_from_counts, assemble_report). The model's scores are computed on
the executors with the same mapInArrow scorer as `score --engine spark` (or read from a `score` column), and
aggregated the same way. The domain classifier needs full rows: it is local-only (multivariate is None here).
"""

from __future__ import annotations

from typing import Any

from engine.errors import InputError
from engine.monitoring.drift import (
    DriftReport,
    assemble_report,
    categorical_drift_from_counts,
    numeric_drift_from_runs,
)
from engine.spark.io import first_line, read_parquet, user_error
from engine.workspace import Workspace

MAX_RUNS = 5_000_000  # distinct values of one numeric feature brought to the driver (80 MB at most)


def _numeric_runs(frame: Any, columns: list[str]) -> dict[str, tuple[Any, Any]]:
    """column -> (sorted distinct finite values, their counts), aggregated on the executors."""
    import numpy as np
    from pyspark.sql import functions as F

    if not columns:
        return {}
    doubles = frame.select([F.col(f"`{name}`").cast("double").alias(name) for name in columns])
    long = doubles.unpivot([], columns, "feature", "value")
    finite = long.where(
        F.col("value").isNotNull()
        & ~F.isnan("value")
        & (F.col("value") != float("inf"))
        & (F.col("value") != float("-inf"))
    )
    grouped = finite.groupBy("feature", "value").count()
    sizes = {row["feature"]: int(row["count"]) for row in grouped.groupBy("feature").count().collect()}
    too_many = {name: size for name, size in sizes.items() if size > MAX_RUNS}
    if too_many:
        name, size = next(iter(too_many.items()))
        raise InputError(
            f"feature {name!r} has {size:,} distinct values (more than {MAX_RUNS:,} to bring to the driver); "
            f'set [monitor] drift_overrides.{name}.method = "psi" or round the column'
        )
    runs: dict[str, tuple[Any, Any]] = {}
    collected: dict[str, list[tuple[float, int]]] = {name: [] for name in columns}
    for row in grouped.toLocalIterator():
        collected[row["feature"]].append((row["value"], row["count"]))
    for name in columns:
        pairs = sorted(collected[name])
        runs[name] = (
            np.array([value for value, _ in pairs], dtype=np.float64),
            np.array([count for _, count in pairs], dtype=np.int64),
        )
    return runs


def _category_counts(frame: Any, columns: list[str]) -> dict[str, dict[str, int]]:
    from pyspark.sql import functions as F

    if not columns:
        return {}
    strings = frame.select([F.col(f"`{name}`").cast("string").alias(name) for name in columns])
    long = strings.unpivot([], columns, "feature", "value").where(F.col("value").isNotNull())
    counts: dict[str, dict[str, int]] = {name: {} for name in columns}
    for row in long.groupBy("feature", "value").count().toLocalIterator():
        counts[row["feature"]][row["value"]] = int(row["count"])
    return counts


def spark_drift_report(
    ws: Workspace,
    name: str,
    input: str,  # noqa: A002 - the same keyword as score
    *,
    version: int | None = None,
    master: str | None = None,
    spark: Any = None,
) -> DriftReport:
    """Feature and score drift of a Parquet file/folder against model `name`'s profile (its champion unless
    version), equal to engine.monitoring.drift.drift_report on the same rows (multivariate: None)."""
    from engine.registry import Registry
    from engine.spark.scoring import SCORE_COLUMN, scored_frame
    from engine.spark.session import spark_session

    model_version = Registry(ws).get(name, version)
    profile = model_version.profile
    config = ws.settings.monitor
    spark = spark or spark_session(ws, master)
    frame = read_parquet(spark, input)
    features = profile["features"]
    missing = [feature for feature in features if feature not in frame.columns]
    if missing:
        raise InputError(
            f"{input}: lacks feature column(s) {', '.join(missing)} that model {name!r} "
            f"v{model_version.version}'s profile has; pass the table the model scores"
        )
    numeric = [feature for feature, item in features.items() if item["kind"] == "numeric"]
    categorical = [feature for feature, item in features.items() if item["kind"] != "numeric"]
    try:
        rows = frame.count()
        if rows == 0:
            raise InputError(f"{input}: has no rows; nothing to check")
        runs = _numeric_runs(frame, numeric)
        categories = _category_counts(frame, categorical)
        score_runs = None
        if profile.get("score"):
            scores = (
                frame.select(SCORE_COLUMN)
                if SCORE_COLUMN in frame.columns
                else scored_frame(ws, model_version, frame, input)
            )
            score_runs = _numeric_runs(scores, [SCORE_COLUMN])[SCORE_COLUMN]
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - an executor's InputError comes back wrapped in Spark's
        raised = user_error(error)
        if raised is not None:
            raise raised from None
        raise InputError(f"{input}: Spark drift counts failed: {first_line(error)}") from None
    sample = profile["sample"]["columns"]
    results = []
    for feature, item in features.items():
        if item["kind"] == "numeric":
            values, counts = runs[feature]
            results.append(
                numeric_drift_from_runs(feature, item, profile, sample[feature], values, counts, rows, config)
            )
        else:
            results.append(categorical_drift_from_counts(feature, item, categories[feature], rows, config))
    score = None
    if score_runs is not None:
        score_profile = profile["score"]
        score = numeric_drift_from_runs(
            "score",
            score_profile,
            profile,
            score_profile["sample"],
            score_runs[0],
            score_runs[1],
            rows,
            config,
        )
    return assemble_report(results, rows, config, score, None)
