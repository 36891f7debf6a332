"""Fit every candidate on the train rows, choose one, and report everyone on validation and test.

The choice is by cross-validation on train + validation with the one-standard-error rule when those rows number
at most `[training] cv_max_rows` (models/selection.py), else the best on the validation rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from engine.config import TrainingConfig
from engine.errors import InputError
from engine.spec import TableSpec
from models.candidates import CANDIDATES, category_lists, keep_best_iteration, make_candidate
from models.metrics import binary_metrics, f1_optimal_threshold, regression_metrics, selection_score
from models.onnx_export import pipeline_predict, prepare_features
from models.selection import Folds, fold_scores, make_folds, one_standard_error_choice, summary
from models.splits import Split, split_rows

Progress = Callable[[str, int, int], None]


@dataclass
class TrainResult:
    """The chosen fitted pipeline, its threshold, every candidate's scores, and the rows it was judged on.

    `table` holds the labelled rows as given, `features` the same rows as the model sees them; the split's
    positions index both. `selection` says how the candidate was chosen: method "cv" or "validation", the metric,
    the folds and a human reason; with CV each candidate also has cv_mean, cv_sd and cv_folds.
    """

    spec: TableSpec
    chosen: str
    pipeline: Any
    threshold: float | None
    metrics: dict[str, dict[str, float]]
    candidates: dict[str, dict[str, Any]]
    split: Split
    table: pl.DataFrame
    features: pl.DataFrame
    labels: np.ndarray
    baseline: float
    pipelines: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    dropped_rows: int = 0
    empty_columns: tuple[str, ...] = ()

    def part(self, name: str) -> tuple[pl.DataFrame, np.ndarray]:
        """Prepared features and labels of one split part ("train", "validation", "test")."""
        positions = getattr(self.split, name)
        return self.features[positions], self.labels[positions]


def _without_empty_numerics(train_rows: pl.DataFrame, spec: TableSpec) -> tuple[TableSpec, tuple[str, ...]]:
    """spec minus numeric columns with no value in the train rows (nothing to learn, and they break imputation)."""
    empty = tuple(
        name
        for name in spec.numeric
        if train_rows[name].cast(pl.Float64, strict=False).is_nan().fill_null(True).all()
    )
    if not empty:
        return spec, ()
    remaining = tuple(name for name in spec.numeric if name not in empty)
    if not remaining and not spec.categorical:
        raise InputError(
            f"every feature column is empty in the train rows ({', '.join(empty)}); nothing to learn"
        )
    return replace(spec, numeric=remaining), empty


def _fit(pipeline: Any, features: pl.DataFrame, labels: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        # Early stopping ends the MLP before max_iter often enough; the warning is noise on an operator's terminal.
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(features, labels)
    keep_best_iteration(pipeline)  # HGB: drop the trees grown after the best validation score
    return pipeline


def _scores(
    spec: TableSpec, labels: np.ndarray, predictions: np.ndarray, threshold: float | None, baseline: float
) -> dict[str, float]:
    if spec.task == "binary":
        return binary_metrics(labels, predictions, threshold if threshold is not None else 0.5)
    return regression_metrics(labels, predictions, baseline)


def train(
    frame: pl.DataFrame,
    spec: TableSpec,
    training_config: TrainingConfig,
    progress: Progress | None = None,
) -> TrainResult:
    """Train the configured candidates on frame (labels in spec.target) and choose the best on validation."""
    # Load scikit-learn's OpenMP runtime first: threadpool_limits only limits the libraries already loaded, and
    # HGB's binning and grower otherwise spin a thread per core on a busy box (online_retail chain, 300 users).
    import sklearn.ensemble  # noqa: F401

    with threadpool_limits(limits=training_config.threads or None):
        return _train(frame, spec, training_config, progress)


def _train(
    frame: pl.DataFrame, spec: TableSpec, training_config: TrainingConfig, progress: Progress | None
) -> TrainResult:
    target = spec.target
    if target is None or target not in frame.columns:
        raise InputError(f"the table has no target column '{target}'")
    names = [name for name in training_config.candidates if name in CANDIDATES]
    if not names:
        raise InputError(
            f"no known candidates in {training_config.candidates}; choose from {', '.join(CANDIDATES)}"
        )
    labelled = frame.filter(pl.col(target).is_not_null())
    dropped = frame.height - labelled.height
    if labelled.height == 0:
        raise InputError(f"every row has a null target '{target}'; nothing to learn from")
    split = split_rows(labelled, spec, training_config.split, training_config.seed)
    spec, empty_columns = _without_empty_numerics(labelled[split.train], spec)
    features = prepare_features(labelled, spec)
    labels = labelled[target].to_numpy().astype(int if spec.task == "binary" else float)
    train_features, train_labels = features[split.train], labels[split.train]
    validation_features, validation_labels = features[split.validation], labels[split.validation]
    test_features, test_labels = features[split.test], labels[split.test]
    categories = category_lists(train_features, spec.categorical)
    baseline = float(train_labels.mean())
    metric = (
        training_config.selection_metric
        if spec.task == "binary"
        else training_config.regression_selection_metric
    )

    pool = np.concatenate([split.train, split.validation])  # in time order when the split is by time
    folds, why_not_cv = _cv_folds(labels[pool], spec, split, training_config)
    candidates: dict[str, dict[str, Any]] = {}
    pipelines: dict[str, Any] = {}
    for step, name in enumerate(names):
        cv: dict[str, Any] = {}
        if folds is not None:
            if progress:
                progress(f"cross-validating {name}", step, len(names))
            scores = fold_scores(
                name, spec, features[pool], labels[pool], folds, metric, training_config.seed, _fit
            )
            mean, sd = summary(scores)
            cv = {"cv_mean": mean, "cv_sd": sd, "cv_folds": scores}
        if progress:
            progress(f"training {name}", step, len(names))
        pipeline = _fit(
            make_candidate(name, spec, categories, training_config.seed), train_features, train_labels
        )
        validation_predictions = pipeline_predict(pipeline, validation_features, spec.task)
        threshold = (
            f1_optimal_threshold(validation_labels, validation_predictions) if spec.task == "binary" else None
        )
        candidates[name] = {
            "validation": _scores(spec, validation_labels, validation_predictions, threshold, baseline),
            "test": _scores(
                spec, test_labels, pipeline_predict(pipeline, test_features, spec.task), threshold, baseline
            ),
            "threshold": threshold,
            **cv,
        }
        pipelines[name] = pipeline
    if progress:
        progress("trained", len(names), len(names))
    selection: dict[str, Any] = {"metric": metric, "rows": len(pool)}
    finite = (
        folds is not None and any(np.isfinite(candidates[name]["cv_mean"]) for name in names)
    )  # a candidate whose fold score is NaN (a diverged fit) is never chosen; all NaN falls back to validation
    if folds is not None and finite:
        choice = one_standard_error_choice({name: candidates[name]["cv_folds"] for name in names}, metric)
        chosen = choice.chosen
        selection.update(
            method="cv",
            folds=len(folds.pairs),
            fold_method=folds.method,
            best=choice.best,
            reason=choice.reason,
        )
    else:
        # Ties go to the earlier (simpler) candidate in the configured order.
        chosen = max(
            names,
            key=lambda name: (selection_score(candidates[name]["validation"], metric), -names.index(name)),
        )
        value = candidates[chosen]["validation"][metric]
        not_cv = why_not_cv or f"every candidate's cross-validated {metric} is NaN"
        selection.update(
            method="validation", reason=f"{chosen} best on validation {metric} ({value:.3f}); {not_cv}"
        )
    return TrainResult(
        spec=spec,
        chosen=chosen,
        pipeline=pipelines[chosen],
        threshold=candidates[chosen]["threshold"],
        metrics={"validation": candidates[chosen]["validation"], "test": candidates[chosen]["test"]},
        candidates=candidates,
        split=split,
        table=labelled,
        features=features,
        labels=labels,
        baseline=baseline,
        pipelines=pipelines,
        selection=selection,
        dropped_rows=dropped,
        empty_columns=empty_columns,
    )


def _cv_folds(
    pool_labels: np.ndarray, spec: TableSpec, split: Split, training_config: TrainingConfig
) -> tuple[Folds | None, str | None]:
    """Cross-validation folds over the pooled train + validation rows, or (None, why one validation split is used)."""
    rows = len(pool_labels)
    if rows > training_config.cv_max_rows:
        return None, f"{rows} train + validation rows > [training] cv_max_rows {training_config.cv_max_rows}"
    folds = make_folds(
        pool_labels,
        spec.task,
        ordered=split.method == "time",
        folds=training_config.cv_folds,
        seed=training_config.seed,
    )
    if isinstance(folds, str):
        return None, f"no cross-validation: {folds}"
    return folds, None
