"""Model choice on small tables: k-fold cross-validation on train + validation, and the one-standard-error rule.

On a few thousand rows one validation split is noise: the demo's repurchase task chose HGB on validation ROC AUC
0.808 and it tested at 0.709, below logistic's 0.732. Below `[training] cv_max_rows` every candidate is scored on
`cv_folds` folds of the train + validation rows (ordered folds, each validating on rows after its training rows,
when the split is by time; stratified shuffled folds for classifiers otherwise; shuffled folds for regressors).
The choice is the simplest candidate whose mean is within one standard error (sd / sqrt(k)) of the best mean
(Breiman et al., "Classification and Regression Trees", 1984): a more complex model must win by more than the
folds disagree with each other.

The stack is cross-validated as one estimator: in each outer fold its StackingClassifier fits the meta-model on
the members' out-of-fold predictions over that fold's training rows only (its own inner folds), so the outer
validation rows are seen by neither members nor meta-model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from engine.spec import TableSpec
from models.candidates import CANDIDATES, category_lists, make_candidate
from models.metrics import LOWER_IS_BETTER, binary_metrics, regression_metrics
from models.onnx_export import pipeline_predict


@dataclass(frozen=True)
class Folds:
    """Row positions (into the pooled train + validation rows) of each fold, and how they were made."""

    pairs: list[tuple[np.ndarray, np.ndarray]]
    method: str  # "time", "stratified" or "kfold"


@dataclass(frozen=True)
class Choice:
    """The one-standard-error choice: the chosen candidate, the best by mean, and why."""

    chosen: str
    best: str
    reason: str


def make_folds(labels: np.ndarray, task: str, *, ordered: bool, folds: int, seed: int) -> Folds | str:
    """Folds over rows 0..len(labels)-1 (in time order when ordered), or a sentence saying why there can be none."""
    from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

    rows = np.arange(len(labels))
    if ordered:
        pairs, method = list(TimeSeriesSplit(n_splits=folds).split(rows)), "time"
    elif task == "binary":
        smallest = int(np.bincount(labels.astype(int), minlength=2).min())
        if smallest < folds:
            return f"the rarer class has {smallest} rows in train + validation, fewer than {folds} folds"
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        pairs, method = list(splitter.split(rows, labels)), "stratified"
    else:
        pairs, method = list(KFold(n_splits=folds, shuffle=True, random_state=seed).split(rows)), "kfold"
    if task == "binary":
        for index, (fit_rows, score_rows) in enumerate(pairs, start=1):
            for part, positions in (("training", fit_rows), ("validation", score_rows)):
                if np.unique(labels[positions]).size < 2:
                    return f"fold {index} of {folds} ({method}) has one class in its {part} rows"
    return Folds(pairs, method)


def fold_scores(
    name: str,
    spec: TableSpec,
    features: pl.DataFrame,
    labels: np.ndarray,
    folds: Folds,
    metric: str,
    seed: int,
    fit: Any,
) -> list[float]:
    """Metric of candidate name on each fold's validation rows, fitted on the fold's training rows with fit()."""
    scores: list[float] = []
    for fit_rows, score_rows in folds.pairs:
        fit_features = features[fit_rows]
        # The one-hot vocabulary comes from the fold's own training rows, as it does from the train rows later.
        pipeline = make_candidate(name, spec, category_lists(fit_features, spec.categorical), seed)
        fit(pipeline, fit_features, labels[fit_rows])
        predictions = pipeline_predict(pipeline, features[score_rows], spec.task)
        truth = labels[score_rows]
        if spec.task == "binary":
            # Only ranking and probability metrics select (engine.config), so the threshold does not matter here.
            value = binary_metrics(truth, predictions, 0.5)[metric]
        else:
            value = regression_metrics(truth, predictions, float(labels[fit_rows].mean()))[metric]
        scores.append(float(value))
    return scores


def summary(scores: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of fold scores; NaN when any fold is NaN."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0 or not np.isfinite(values).all():
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def _complexity(name: str) -> int:
    return CANDIDATES.index(name) if name in CANDIDATES else len(CANDIDATES)


def one_standard_error_choice(scores: Mapping[str, Sequence[float]], metric: str) -> Choice:
    """The simplest candidate (order of models.candidates.CANDIDATES) whose mean fold score is within one standard
    error of the best mean; scores are in the metric's own units (lower is better for log loss, RMSE, ...)."""
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    stats = {name: summary(values) for name, values in scores.items()}
    valid = [name for name, (mean, _) in stats.items() if math.isfinite(mean)]
    if not valid:
        raise ValueError(f"no candidate has a finite cross-validated {metric}")
    by_complexity = sorted(valid, key=_complexity)
    best = max(by_complexity, key=lambda name: sign * stats[name][0])  # ties: the simpler (first) one
    best_mean, best_sd = stats[best]
    best_se = best_sd / math.sqrt(len(scores[best]))
    chosen = next(name for name in by_complexity if sign * stats[name][0] >= sign * best_mean - best_se)

    def shown(name: str) -> str:
        mean, sd = stats[name]
        return f"{mean:.3f} ± {sd:.3f}"

    if chosen == best:
        simpler = [name for name in by_complexity if _complexity(name) < _complexity(best)]
        beaten = "; ".join(f"{name} {shown(name)}" for name in simpler)
        reason = f"{best} best by {len(scores[best])}-fold CV {metric} ({shown(best)}, SE {best_se:.3f})" + (
            f"; no simpler candidate within 1 SE ({beaten})" if beaten else ""
        )
    else:
        reason = (
            f"{chosen} within 1 SE of {best} (CV {metric} {shown(chosen)} vs {shown(best)}, "
            f"SE {best_se:.3f}): the simpler model"
        )
    return Choice(chosen, best, reason)
