"""Candidate scikit-learn pipelines per task: logistic/ridge, HistGradientBoosting, MLP, and a stack of all three.

Every candidate is one Pipeline from raw columns to prediction, so the whole thing exports to one ONNX file:
- numeric columns pass through untouched to the trees (HGB handles NaN natively and sees exact float32 values,
  so its splits match ONNX bit for bit); linear and MLP models get median imputation and standard scaling;
- categorical columns are one-hot encoded over their most frequent training values (at most MAX_CATEGORIES);
  unknown or rare values encode as all zeros.
No class reweighting: probabilities stay calibrated (monitoring estimates accuracy from them); imbalance is handled
by stratified splits and an F1-optimal decision threshold chosen on validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from engine.spec import TableSpec

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

# scikit-learn is imported inside the functions: importing it loads rich (see models/metrics.py).

CANDIDATES = ("logistic", "hgb", "mlp", "stack")
MAX_CATEGORIES = 50
STACK_FOLDS = 3

# HistGradientBoosting settings (classifier and regressor). Scoring cost is onnxruntime's tree kernel, about 20-30 ns
# per tree per row, so the ensemble is kept small: learning rate 0.15, 15 leaves, depth 5, early stopping after 10
# flat rounds, and keep_best_iteration (below) drops those 10 rounds after fitting. About 30 trees instead of the
# ~85 of learning rate 0.05 with 31 leaves, at the same test ROC AUC, PR AUC and log loss on the simulator (two
# shops, three seeds) and UCI online shoppers (three splits): table in docs/scoring.md.
HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.15,
    "max_iter": 300,
    "max_leaf_nodes": 15,
    "max_depth": 5,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 10,
}
# MLP settings. One hidden layer of 16 with L2 1e-2, early stopping after 10 flat epochs on 15% of the train rows
# (binary: on log loss, models/mlp.py). Against (32, 16) with L2 1e-3, 5-fold ROC AUC 0.700 vs 0.692 on the demo's
# repurchase table (923 rows) and 0.920 vs 0.918 on UCI online shoppers, at a third of the fit time on UCI.
MLP_PARAMS: dict[str, Any] = {
    "hidden_layer_sizes": (16,),
    "alpha": 1e-2,
    "learning_rate_init": 1e-3,
    "early_stopping": True,
    "validation_fraction": 0.15,
    "n_iter_no_change": 10,
    "max_iter": 300,
}


def keep_best_iteration(pipeline: Any) -> int:
    """Drop the trees each early-stopped HistGradientBoosting in a fitted pipeline grew after its best validation
    score, the n_iter_no_change rounds that ended it (what LightGBM and XGBoost call the best iteration); returns
    how many trees were dropped. Its validation split is its own (validation_fraction of the train rows), so the
    choice sees no test row. On the simulator and UCI online shoppers this removes a quarter of the trees with test
    ROC AUC, PR AUC and log loss equal or better in 8 of 9 fits (docs/scoring.md); scoring cost follows trees.
    A stack's members are trimmed after its final estimator learnt from their untrimmed out-of-fold scores: the
    dropped trees changed the validation loss by less than tol, and the reported metrics are the trimmed model's.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    model = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    members = [model, *getattr(model, "estimators_", [])]
    dropped = 0
    for member in members:
        member = member.steps[-1][1] if hasattr(member, "steps") else member
        if not isinstance(member, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
            continue
        scores = getattr(member, "validation_score_", None)
        if scores is None or len(scores) < 2:
            continue  # no early stopping on a validation split: nothing to choose from
        best = max(1, int(np.argmax(scores)))  # scores[0] is before the first tree; higher is better
        dropped += len(member._predictors) - best
        member._predictors = member._predictors[:best]
        member.train_score_ = member.train_score_[: best + 1]
        member.validation_score_ = scores[: best + 1]
    return dropped


def category_lists(frame: pl.DataFrame, columns: tuple[str, ...]) -> list[list[str]]:
    """Per categorical column, its most frequent values (up to MAX_CATEGORIES), sorted; the one-hot vocabulary."""
    vocabularies: list[list[str]] = []
    for column in columns:
        counts = frame[column].value_counts(sort=True)
        ordered = counts.sort(["count", column], descending=[True, False])
        vocabularies.append(sorted(str(value) for value in ordered[column].head(MAX_CATEGORIES).to_list()))
    return vocabularies


def _scaled() -> Pipeline:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    # keep_empty_features: a sparse column with no value in some fit (a stacking ensemble's inner fold) is kept
    # and filled with 0 instead of dropped with a warning; the ONNX Imputer fills its statistics_ (0) the same.
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    return Pipeline([("impute", imputer), ("scale", StandardScaler())])


def _encoder(spec: TableSpec, categories: list[list[str]], *, scale_numeric: bool) -> ColumnTransformer:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    parts: list[tuple[str, Any, list[str]]] = []
    if spec.numeric:
        parts.append(("numeric", _scaled() if scale_numeric else "passthrough", list(spec.numeric)))
    if spec.categorical:
        parts.append(
            (
                "categorical",
                OneHotEncoder(
                    categories=categories, handle_unknown="ignore", sparse_output=False, dtype=float
                ),
                list(spec.categorical),
            )
        )
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def _estimator(name: str, task: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPRegressor

    binary = task == "binary"
    if name == "logistic":
        return LogisticRegression(C=1.0, max_iter=2000) if binary else Ridge(alpha=1.0)
    if name == "hgb":
        from models.hgb_binning import patch_empty_feature_binning

        patch_empty_feature_binning()  # scikit-learn 1.9 cannot bin an all-missing feature (a fold of a sparse one)
        kind = HistGradientBoostingClassifier if binary else HistGradientBoostingRegressor
        return kind(**HGB_PARAMS, random_state=seed)
    if name == "mlp":
        if binary:
            from models.mlp import LogLossMLPClassifier  # imports scikit-learn

            return LogLossMLPClassifier(**MLP_PARAMS, random_state=seed)
        return MLPRegressor(**MLP_PARAMS, random_state=seed)
    raise ValueError(f"unknown candidate {name!r}")


def make_candidate(name: str, spec: TableSpec, categories: list[list[str]], seed: int) -> Pipeline:
    """An unfitted pipeline from raw feature columns to prediction for candidate name."""
    from sklearn.ensemble import StackingClassifier, StackingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import Pipeline

    task = spec.task
    if name in ("logistic", "mlp"):
        return Pipeline(
            [
                ("encode", _encoder(spec, categories, scale_numeric=True)),
                ("model", _estimator(name, task, seed)),
            ]
        )
    if name == "hgb":
        return Pipeline(
            [
                ("encode", _encoder(spec, categories, scale_numeric=False)),
                ("model", _estimator(name, task, seed)),
            ]
        )
    if name == "stack":
        # One shared encoder with raw numerics (HGB needs exact values); the linear and MLP members scale inside.
        members = [
            ("logistic", Pipeline([("scale", _scaled()), ("model", _estimator("logistic", task, seed))])),
            ("hgb", _estimator("hgb", task, seed)),
            ("mlp", Pipeline([("scale", _scaled()), ("model", _estimator("mlp", task, seed))])),
        ]
        if task == "binary":
            from models.stacking import LogitLogisticRegression  # imports scikit-learn

            # The members' log-odds, not their probabilities: see models/stacking.py.
            stack: Any = StackingClassifier(
                members,
                final_estimator=LogitLogisticRegression(max_iter=2000),
                cv=StratifiedKFold(STACK_FOLDS, shuffle=True, random_state=seed),
                stack_method="predict_proba",
            )
        else:
            stack = StackingRegressor(
                members,
                final_estimator=Ridge(alpha=1.0),
                cv=KFold(STACK_FOLDS, shuffle=True, random_state=seed),
            )
        return Pipeline([("encode", _encoder(spec, categories, scale_numeric=False)), ("model", stack)])
    raise ValueError(f"unknown candidate {name!r}; expected one of {', '.join(CANDIDATES)}")
