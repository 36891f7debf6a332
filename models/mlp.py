"""The binary MLP candidate: scikit-learn's MLPClassifier with early stopping on validation log loss.

scikit-learn's own early stopping scores the held-out fraction by accuracy. With a minority class, accuracy sits
at the majority rate from the first epochs and hardly moves, so training stopped after a few epochs, long before
the network ranked anything: on the demo's repurchase table (923 customers, 25% repurchase) its 5-fold ROC AUC
was 0.53, on UCI online shoppers 0.91 (docs/models.md). Scoring the same held-out rows by log loss instead gives
0.70 and 0.92. Only `_score` differs, so the fitted weights are an MLPClassifier's and skl2onnx's own MLP
converter writes the ONNX graph (registered for this class below). Importing this module imports scikit-learn, so
callers import it inside functions (see models/candidates.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neural_network import MLPClassifier

from models.metrics import PROBABILITY_EPS

_REGISTERED = False


class LogLossMLPClassifier(MLPClassifier):
    """MLPClassifier whose early stopping keeps the epoch with the best validation log loss (not accuracy)."""

    def _score(self, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
        # Called by MLPClassifier's early stopping on its validation_fraction rows (labels as given); higher is
        # better. The binary log loss in numpy: sklearn.metrics.log_loss validates its inputs on every call, which
        # cost 2 ms an epoch, 15 of 24 s when training on 300 customers (online_retail preset).
        probabilities = self._forward_pass_fast(X, check_input=False)
        if probabilities.shape[1] != 1 or not np.isfinite(probabilities).all():
            return float("nan")
        clipped = np.clip(probabilities.ravel(), PROBABILITY_EPS, 1 - PROBABILITY_EPS)
        positive = np.asarray(y).ravel() == self.classes_[1]
        losses = -np.where(positive, np.log(clipped), np.log1p(-clipped))
        return -float(np.average(losses, weights=sample_weight))


def register_mlp_converter() -> None:
    """Tell skl2onnx to convert LogLossMLPClassifier with its stock MLPClassifier converter (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from skl2onnx.operator_converters.multilayer_perceptron import convert_sklearn_mlp_classifier

    update_registered_converter(
        LogLossMLPClassifier,
        "ShopctlLogLossMLPClassifier",
        calculate_linear_classifier_output_shapes,
        convert_sklearn_mlp_classifier,
        options={
            "zipmap": [True, False, "columns"],
            "output_class_labels": [False, True],
            "nocl": [True, False],
        },
    )
    _REGISTERED = True
