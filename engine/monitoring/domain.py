"""Multivariate drift with a domain classifier: can a model tell the reference sample from the current window?

A cross-validated ROC AUC near 0.5 means the joint distribution is unchanged; well above it means some
combination of features moved, and the permutation importance on held-out folds names the features that
separate the two (NannyML and Evidently use the same idea).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.monitoring.stats import average_ranks

DOMAIN_AUC_THRESHOLD = 0.55
MIN_ROWS = 50
FOLDS = 3
TOP_FEATURES = 5
MAX_CATEGORIES = 250


def _encode(values: list[Any] | pl.Series, kind: str, categories: list[str]) -> np.ndarray:
    """Numeric as float with NaN for missing; categorical as the profile's category index ("other" last)."""
    if kind == "numeric":
        series = pl.Series(values, dtype=pl.Float64) if isinstance(values, list) else values.cast(pl.Float64)
        encoded = series.fill_nan(None).to_numpy().astype(np.float64)
        encoded[~np.isfinite(encoded)] = np.nan
        return encoded
    # Gradient boosting takes at most MAX_CATEGORIES categories; rarer ones share the "other" code.
    other = float(min(len(categories), MAX_CATEGORIES))
    if isinstance(values, list):  # the profile sample already holds codes, -1 meaning "other"
        codes = np.array([np.nan if code is None else float(code) for code in values], dtype=np.float64)
        codes[codes < 0] = other
    else:
        index = {name: float(position) for position, name in enumerate(categories[:MAX_CATEGORIES])}
        strings = values.cast(pl.String).to_list()
        codes = np.array(
            [np.nan if value is None else index.get(value, other) for value in strings], np.float64
        )
    return np.where(codes > other, other, codes)


def _roc_auc(is_current: np.ndarray, predicted: np.ndarray) -> float:
    """ROC AUC from the rank sum (Mann-Whitney U), ties counted half: scikit-learn's value, without its checks."""
    positives = int(is_current.sum())
    negatives = is_current.size - positives
    rank_sum = average_ranks(predicted)[is_current == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def domain_classifier(
    profile: dict[str, Any], current: pl.DataFrame, *, seed: int = 0
) -> dict[str, Any] | None:
    """Cross-validated AUC of reference-sample-vs-current and the features that separate them (None if too few rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    from models.hgb_binning import patch_empty_feature_binning

    patch_empty_feature_binning()  # a feature with no value in the sample or the window must not stop the check

    names = [name for name in profile["features"] if profile["features"][name].get("count", 0) > 0]
    reference_rows = profile["sample"]["rows"]
    if not names or reference_rows < MIN_ROWS or current.height < MIN_ROWS:
        return None
    rng = np.random.default_rng(seed)
    current_index = np.sort(
        rng.choice(current.height, size=min(current.height, reference_rows), replace=False)
    )
    current_sample = current.select(names)[current_index]
    columns, categorical_mask = [], []
    for name in names:
        feature = profile["features"][name]
        categories = feature.get("categories", [])
        reference_part = _encode(profile["sample"]["columns"][name], feature["kind"], categories)
        current_part = _encode(current_sample.get_column(name), feature["kind"], categories)
        columns.append(np.concatenate([reference_part, current_part]))
        categorical_mask.append(feature["kind"] == "categorical")
    features = np.column_stack(columns)
    is_current = np.concatenate([np.zeros(reference_rows, np.int64), np.ones(current_index.size, np.int64)])

    out_of_fold = np.zeros(is_current.size)
    importance = np.zeros(len(names))
    splitter = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    # One OpenMP thread: the samples are small and the machine is shared, where more threads only spin.
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in splitter.split(features, is_current):
            model = HistGradientBoostingClassifier(
                max_iter=40,
                max_leaf_nodes=15,
                learning_rate=0.15,
                early_stopping=False,
                categorical_features=np.array(categorical_mask),
                random_state=seed,
            ).fit(features[train], is_current[train])
            held_out = features[test]
            # Permutation importance on the held-out fold (how much AUC drops when one feature is shuffled),
            # all shuffled copies scored in one call.
            copies = np.tile(held_out, (len(names) + 1, 1))
            for position in range(len(names)):
                rows = slice((position + 1) * len(test), (position + 2) * len(test))
                copies[rows, position] = rng.permutation(held_out[:, position])
            predicted = model.predict_proba(copies)[:, 1].reshape(len(names) + 1, len(test))
            out_of_fold[test] = predicted[0]
            fold_auc = _roc_auc(is_current[test], predicted[0])
            for position in range(len(names)):
                importance[position] += fold_auc - _roc_auc(is_current[test], predicted[position + 1])
    importance /= FOLDS
    auc = float(_roc_auc(is_current, out_of_fold))
    ranked = sorted(zip(names, importance.tolist(), strict=True), key=lambda item: (-item[1], item[0]))
    return {
        "auc": auc,
        "threshold": DOMAIN_AUC_THRESHOLD,
        "drifted": auc > DOMAIN_AUC_THRESHOLD,
        "rows_reference": int(reference_rows),
        "rows_current": int(current_index.size),
        "top_features": [
            {"name": name, "importance": value} for name, value in ranked[:TOP_FEATURES] if value > 0
        ],
    }
