"""The binary stack's final estimator: a logistic regression on the members' log-odds, and its ONNX converter.

scikit-learn's StackingClassifier hands its final estimator the members' probabilities. A logistic regression on
probabilities is linear in p, while the members' evidence is linear in log-odds: at a 3% base rate most rows sit
near p = 0, where the combination cannot follow the members' calibration, and the stack came out with the best
ranking and the worst log loss of all candidates (simulator, test split: 0.0679 against 0.0635 for HGB alone).
The same regression on logit(p) gives 0.0632 at the same ROC AUC; docs/models.md has the comparison.

`LogitLogisticRegression` is a LogisticRegression that takes probabilities and fits/predicts on their logits
(clipped to [LOW, HIGH], so a member's 0 or 1 stays finite). Its converter writes the same arithmetic in ONNX:
Clip, Log(p) - Log(1 - p), MatMul + Add, Sigmoid, [1 - p, p]. Importing this module imports scikit-learn, so
callers import it inside functions (see models/candidates.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

# The clip. In ONNX the members' probabilities come out of float32 sigmoids whose error is absolute, about 1e-7
# (onnxruntime's vectorised logistic; ~4% relative at p = 2e-6), and log-odds divide it by p(1 - p). Clipping to
# [1e-4, 1 - 1e-4] bounds that at ~1e-3 in log-odds: parity on UCI 5.1e-7, against 2.5e-5 with a 1e-6 clip, at
# the same test metrics (bench/bench_stack_quality.py). Training uses the same clip, so the model is defined with it.
LOW, HIGH = 1e-4, 1 - 1e-4
_REGISTERED = False


def logit(probabilities: Any) -> np.ndarray:
    """log(p / (1 - p)) of probabilities clipped to [LOW, HIGH], computed as ONNX does it."""
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), LOW, HIGH)
    return np.log(clipped) - np.log(1 - clipped)


class LogitLogisticRegression(LogisticRegression):
    """LogisticRegression on the log-odds of its (probability) inputs, with non-negative weights; labels 0/1.

    Every member predicts the same target, so a negative weight only means two correlated members' out-of-fold
    noise was fitted (Breiman's stacked regressions constrain weights to be non-negative for this reason). On log-odds
    the damage is larger than on probabilities: an overconfident member's ±9 moves the sum a long way. The fit
    minimises the same objective as LogisticRegression (L2 with `C`, no penalty on the intercept) with L-BFGS-B and
    bounds on the weights; prediction is LogisticRegression's own on logit(X) (through decision_function).
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogitLogisticRegression:  # noqa: N803
        from scipy.optimize import minimize

        features = logit(X)
        labels = np.asarray(y)
        self.classes_ = np.unique(labels)
        if self.classes_.size != 2:
            raise ValueError(f"LogitLogisticRegression needs two classes, got {self.classes_.size}")
        target = (labels == self.classes_[1]).astype(np.float64)
        weights = (
            np.ones(len(target)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        )
        total = float(weights.sum())
        weights = weights / total  # the objective per unit weight, so the tolerances below mean something
        penalty = 0.5 / (float(self.C) * total)  # LogisticRegression's C·Σloss + ½‖w‖², divided by C·total
        width = features.shape[1]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            coef = theta[:width]
            z = features @ coef + theta[width]
            loss = float(np.sum(weights * (np.logaddexp(0.0, z) - target * z)) + penalty * coef @ coef)
            residual = weights * (0.5 * (1.0 + np.tanh(0.5 * z)) - target)  # sigmoid(z) - y, without overflow
            return loss, np.append(features.T @ residual + 2 * penalty * coef, residual.sum())

        start = np.append(np.full(width, 1.0 / width), 0.0)
        bounds = [(0.0, None)] * width + [(None, None)]
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": self.max_iter, "ftol": 1e-12, "gtol": 1e-9},
        )
        self.coef_ = result.x[:width].reshape(1, width)
        self.intercept_ = result.x[width:].copy()
        self.n_features_in_ = width
        self.n_iter_ = np.array([result.nit], dtype=np.int32)
        return self

    def decision_function(self, X: Any) -> np.ndarray:  # noqa: N803
        # LogisticRegression's predict, predict_proba and predict_log_proba all go through decision_function.
        return super().decision_function(logit(X))


def convert_logit_logistic(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: outputs (label int64 [N], probabilities float [N, 2]) like a binary LinearClassifier."""
    from skl2onnx.proto import onnx_proto

    model = operator.raw_operator
    if [int(value) for value in model.classes_] != [0, 1] or model.coef_.shape[0] != 1:
        raise NotImplementedError("LogitLogisticRegression converts binary 0/1 labels only")

    def name(stem: str) -> str:
        return scope.get_unique_variable_name(f"stack_logit_{stem}")

    def constant(stem: str, values: Any, dtype: Any = np.float32) -> str:
        tensor = name(stem)
        values = np.asarray(values, dtype=dtype)
        proto_type = onnx_proto.TensorProto.INT64 if dtype == np.int64 else onnx_proto.TensorProto.FLOAT
        container.add_initializer(tensor, proto_type, list(values.shape), values.ravel().tolist())
        return tensor

    def node(op_type: str, inputs: list[str], output: str | None = None, **attributes: Any) -> str:
        output = output or name(op_type.lower())
        container.add_node(
            op_type, inputs, output, name=scope.get_unique_operator_name(f"StackLogit{op_type}"), **attributes
        )
        return output

    low, high, one = (
        constant("low", np.array(LOW)),
        constant("high", np.array(HIGH)),
        constant("one", np.ones(1)),
    )
    clipped = node("Clip", [operator.inputs[0].full_name, low, high])
    log_odds = node("Sub", [node("Log", [clipped]), node("Log", [node("Sub", [one, clipped])])])
    weights = constant("weights", model.coef_.T)  # [k, 1]
    intercept = constant("intercept", model.intercept_.reshape(1, 1))
    positive = node("Sigmoid", [node("Add", [node("MatMul", [log_odds, weights]), intercept])])
    node("Concat", [node("Sub", [one, positive]), positive], operator.outputs[1].full_name, axis=1)
    above = node("Greater", [positive, constant("half", np.array(0.5))])
    label = node("Cast", [above], to=onnx_proto.TensorProto.INT64)
    node("Reshape", [label, constant("shape", [-1], np.int64)], operator.outputs[0].full_name)


def register_stack_converter() -> None:
    """Tell skl2onnx how to convert LogitLogisticRegression (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    update_registered_converter(
        LogitLogisticRegression,
        "ShopctlLogitLogisticRegression",
        calculate_linear_classifier_output_shapes,
        convert_logit_logistic,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False], "raw_scores": [True, False]},
    )
    _REGISTERED = True
