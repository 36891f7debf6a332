"""scikit-learn 1.9 HistGradientBoosting cannot fit a feature whose values are all missing; this restores 1.8's rule.

1.9 computes a feature's bin thresholds with `sliding_window_view(distinct_values, 2)`, which raises "window shape
cannot be larger than input array shape" when the feature has no observed value at all (0 distinct values). 1.8
returned no thresholds (the feature then has only the missing-values bin, so no split can use it). A whole column
of nulls is ordinary in shop data (a field a tracker stopped sending), and inside a stacking ensemble's or a
cross-validation's folds a sparse column is all-null in some fold even when the training rows have values: the
demo's 15-row inner folds of the repurchase table hit it, on some start dates and not others.

`patch_empty_feature_binning()` wraps the private threshold function so that a feature with no non-missing value
gets an empty threshold array, exactly 1.8's result. It probes first and changes nothing on a scikit-learn that
does not have the defect, so it retires itself when upstream fixes it. Idempotent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_PATCHED = False


def _has_defect(find: Any) -> bool:
    try:
        find(np.array([np.nan, np.nan]), 255)
    except ValueError:
        return True
    return False


def patch_empty_feature_binning() -> bool:
    """Make HGB fit features that are all missing (no thresholds); True when the patch is (already) in place."""
    global _PATCHED
    if _PATCHED:
        return True
    from sklearn.ensemble._hist_gradient_boosting import binning

    original = getattr(binning, "_find_binning_thresholds", None)
    if original is None or not _has_defect(original):
        return False

    def find_binning_thresholds(col_data: Any, max_bins: int, *args: Any, **kwargs: Any) -> Any:
        if not np.any(~np.isnan(col_data)):
            return np.asarray([], dtype=binning.X_DTYPE)
        return original(col_data, max_bins, *args, **kwargs)

    binning._find_binning_thresholds = find_binning_thresholds
    _PATCHED = True
    return True
