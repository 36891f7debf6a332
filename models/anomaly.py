"""Unsupervised order-risk detectors and their ONNX export: IsolationForest (skl2onnx) and ECOD (numpy, ours).

Both score "higher = riskier" on the numeric columns of a TableSpec, and both export to one ONNX file with one
[N, 1] float32 input per raw column (the contract of models.onnx_export) and one output `risk` [N, 1]:
- IsolationForest: scikit-learn's forest written as one TreeEnsembleRegressor (leaf = depth + c(leaf samples),
  averaged), then 2^(-E[h]/c(max_samples)) = -score_samples, the forest's anomaly score (iforest_onnx says why
  not skl2onnx).
- ECOD (Li et al., "ECOD: Unsupervised Outlier Detection Using Empirical Cumulative Distribution Functions",
  TKDE 2022): per feature, the tail probabilities of a value under the training rows' empirical CDF,
  U_left = -log F(x) and U_right = -log (1 - F(x-)); the score is the largest of the sums over features of the
  left tails, of the right tails, and of the tail the feature's skewness points to (left when skew < 0).
  F counts training values with a +1 on top and bottom ((count + 1) / (n + 1)), so a value beyond every training
  row has a large but finite score. The CDF is a step function of x, so ONNX holds it exactly as one
  TreeEnsembleRegressor tree per feature and tail (splits at the sorted distinct training values, float32);
  three targets carry the three sums and ReduceMax takes the largest.
Missing values: the order table has none; a NaN goes where ONNX's tree comparisons send it (every comparison
false), and the numpy side does the same so parity holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from engine.spec import TableSpec
from models.onnx_export import TARGET_OPSET, input_metadata, prepare_features

DETECTORS = ("isolation_forest", "ecod")
RISK_OUTPUT = "risk"
# Training rows ECOD keeps per feature (an evenly spaced subsample of the sorted values beyond this).
ECOD_MAX_REFERENCE = 4096
IFOREST_TREES = 200


def feature_matrix(frame: pl.DataFrame, spec: TableSpec) -> np.ndarray:
    """The numeric columns of frame as float32-exact float64 (NaN for null), the way ONNX will see them."""
    return prepare_features(frame, spec).select(spec.numeric).to_numpy().astype(np.float64)


class ECOD:
    """Empirical-CDF outlier detector; fit stores each feature's sorted training values and skewness sign."""

    def __init__(self, max_reference: int = ECOD_MAX_REFERENCE) -> None:
        self.max_reference = max_reference

    def fit(self, features: np.ndarray) -> ECOD:
        values = np.asarray(features, dtype=np.float64)
        rows = len(values)
        if rows > self.max_reference:
            positions = np.linspace(0, rows - 1, self.max_reference).round().astype(int)
            values = np.sort(values, axis=0)[positions]
        self.reference_ = np.sort(values.astype(np.float32), axis=0)
        self.n_reference_ = len(self.reference_)
        finite = np.where(np.isfinite(self.reference_), self.reference_, np.nan).astype(np.float64)
        centred = finite - np.nanmean(finite, axis=0)
        spread = np.nanstd(finite, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            skew = np.nanmean(centred**3, axis=0) / spread**3
        self.left_tail_ = np.nan_to_num(skew) < 0  # the tail the auto sum reads, per feature
        return self

    def tail_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(U_left, U_right), each [rows, features]."""
        values = np.asarray(features, dtype=np.float32)
        rows, width = values.shape
        n = self.n_reference_
        below = np.empty((rows, width))
        above = np.empty((rows, width))
        for column in range(width):
            reference = self.reference_[:, column]
            x = values[:, column]
            at_most = np.searchsorted(reference, x, side="right").astype(np.float64)
            at_least = n - np.searchsorted(reference, x, side="left").astype(np.float64)
            nan = np.isnan(x)
            at_most[nan], at_least[nan] = n, 0.0  # ONNX: every comparison false, the rightmost leaf
            below[:, column], above[:, column] = at_most, at_least
        left = -np.log((below + 1.0) / (n + 1.0))
        right = -np.log((above + 1.0) / (n + 1.0))
        return left.astype(np.float32).astype(np.float64), right.astype(np.float32).astype(np.float64)

    def score_samples(self, features: np.ndarray) -> np.ndarray:
        """The ECOD outlier score of each row (higher = more unusual)."""
        left, right = self.tail_scores(features)
        auto = np.where(self.left_tail_, left, right)
        return np.maximum(np.maximum(left.sum(axis=1), right.sum(axis=1)), auto.sum(axis=1))


def fit_detector(name: str, features: np.ndarray, seed: int) -> Any:
    """A fitted detector by name, on the rows of features."""
    if name == "ecod":
        return ECOD().fit(features)
    if name == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(n_estimators=IFOREST_TREES, random_state=seed).fit(
            np.nan_to_num(features.astype(np.float32), nan=0.0)
        )
    raise ValueError(f"unknown detector {name!r}")


def detector_risk(detector: Any, features: np.ndarray) -> np.ndarray:
    """The detector's "higher = riskier" score (IsolationForest: -score_samples)."""
    if isinstance(detector, ECOD):
        return detector.score_samples(features)
    return -np.asarray(detector.score_samples(features.astype(np.float32)), dtype=np.float64)


def _concat_inputs(spec: TableSpec) -> tuple[list[Any], Any]:
    from onnx import TensorProto, helper

    inputs = input_metadata(spec)
    graph_inputs = [
        helper.make_tensor_value_info(item["name"], TensorProto.FLOAT, [None, 1]) for item in inputs
    ]
    concat = helper.make_node(
        "Concat", [item["name"] for item in inputs], ["features"], axis=1, name="concat"
    )
    return graph_inputs, concat


def _model(nodes: list[Any], graph_inputs: list[Any], initializers: list[Any], name: str) -> bytes:
    from onnx import TensorProto, checker, helper

    output = helper.make_tensor_value_info(RISK_OUTPUT, TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph(nodes, name, graph_inputs, [output], initializer=initializers)
    opsets = [helper.make_opsetid(domain, version) for domain, version in TARGET_OPSET.items()]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="shopctl")
    model.ir_version = 8
    checker.check_model(model)
    return bytes(model.SerializeToString())


def _ecod_trees(detector: ECOD) -> dict[str, list[Any]]:
    """TreeEnsembleRegressor attributes: per feature one left-tail, one right-tail, one auto tree (targets 0-2)."""
    n = detector.n_reference_
    attributes: dict[str, list[Any]] = {
        key: []
        for key in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        )
    }
    tree_id = 0
    for column in range(detector.reference_.shape[1]):
        reference = detector.reference_[:, column]
        reference = reference[np.isfinite(reference)]
        splits = np.unique(reference)
        at_most = np.searchsorted(reference, splits, side="right")
        left_leaves = np.concatenate([[0], at_most]).astype(np.float64)  # x < splits[0], then each interval
        at_least_above = n - at_most  # for splits[i] < x <= splits[i+1]: count of reference >= splits[i+1]
        right_leaves = np.concatenate([[n], at_least_above]).astype(np.float64)
        left_values = (-np.log((left_leaves + 1.0) / (n + 1.0))).astype(np.float32)
        right_values = (-np.log((right_leaves + 1.0) / (n + 1.0))).astype(np.float32)
        auto = left_values if detector.left_tail_[column] else right_values
        auto_mode = "BRANCH_LT" if detector.left_tail_[column] else "BRANCH_LEQ"
        for target, (values, mode) in enumerate(
            ((left_values, "BRANCH_LT"), (right_values, "BRANCH_LEQ"), (auto, auto_mode))
        ):
            _add_step_tree(attributes, tree_id, column, splits.astype(np.float32), values, mode, target)
            tree_id += 1
    return attributes


def _add_step_tree(
    attributes: dict[str, list[Any]],
    tree_id: int,
    column: int,
    splits: np.ndarray,
    leaves: np.ndarray,
    mode: str,
    target: int,
) -> None:
    """A balanced tree that maps x to leaves[k], k = the interval of x among splits (len(leaves) = len(splits)+1).

    BRANCH_LT sends x < split left (intervals closed on the left, the left-tail CDF); BRANCH_LEQ sends x <= split
    left (closed on the right, the right tail). NaN fails every comparison and lands in the last leaf.
    """
    counter = [0]

    def build(low: int, high: int) -> int:  # leaves[low..high]
        node = counter[0]
        counter[0] += 1
        attributes["nodes_treeids"].append(tree_id)
        attributes["nodes_nodeids"].append(node)
        attributes["nodes_featureids"].append(column)
        if low == high:
            attributes["nodes_modes"].append("LEAF")
            attributes["nodes_values"].append(0.0)
            attributes["nodes_truenodeids"].append(0)
            attributes["nodes_falsenodeids"].append(0)
            attributes["target_treeids"].append(tree_id)
            attributes["target_nodeids"].append(node)
            attributes["target_ids"].append(target)
            attributes["target_weights"].append(float(leaves[low]))
            return node
        middle = (low + high + 1) // 2  # leaves[low..middle-1] lie below splits[middle-1]
        position = len(attributes["nodes_modes"])
        attributes["nodes_modes"].append(mode)
        attributes["nodes_values"].append(float(splits[middle - 1]))
        attributes["nodes_truenodeids"].append(-1)
        attributes["nodes_falsenodeids"].append(-1)
        attributes["nodes_truenodeids"][position] = build(low, middle - 1)
        attributes["nodes_falsenodeids"][position] = build(middle, high)
        return node

    build(0, len(leaves) - 1)


def ecod_onnx(detector: ECOD, spec: TableSpec) -> bytes:
    """One ONNX file: per-column inputs -> Concat -> step trees (3 targets) -> ReduceMax -> risk [N, 1]."""
    from onnx import helper, numpy_helper

    graph_inputs, concat = _concat_inputs(spec)
    trees = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["tail_sums"],
        domain="ai.onnx.ml",
        n_targets=3,
        aggregate_function="SUM",
        post_transform="NONE",
        name="ecod_tails",
        **_ecod_trees(detector),  # type: ignore[arg-type]
    )
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "max_axes")
    reduce = helper.make_node(
        "ReduceMax", ["tail_sums", "max_axes"], [RISK_OUTPUT], keepdims=1, name="ecod_max"
    )
    return _model([concat, trees, reduce], graph_inputs, [axes], "shopctl_ecod")


def _average_path_length(samples: np.ndarray) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary tree of n points (scikit-learn's)."""
    samples = np.asarray(samples, dtype=np.float64)
    lengths = np.zeros_like(samples)
    lengths[samples == 2] = 1.0
    many = samples > 2
    euler = 0.5772156649015329
    lengths[many] = 2.0 * (np.log(samples[many] - 1.0) + euler) - 2.0 * (samples[many] - 1.0) / samples[many]
    return lengths


def _float32_at_most(values: np.ndarray) -> np.ndarray:
    """The largest float32 not above each value: x <= t exactly when x <= this, for float32 x."""
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def _iforest_trees(detector: Any) -> dict[str, list[Any]]:
    """TreeEnsembleRegressor attributes whose SUM is the mean path length E[h(x)] over the forest's trees."""
    columns: dict[str, list[np.ndarray]] = {}
    trees = len(detector.estimators_)
    for tree_id, (estimator, features) in enumerate(
        zip(detector.estimators_, detector.estimators_features_, strict=True)
    ):
        tree = estimator.tree_
        nodes = tree.node_count
        left, right = tree.children_left, tree.children_right
        depth = np.zeros(nodes)
        for node in range(nodes):  # children always follow their parent in scikit-learn's arrays
            if left[node] >= 0:
                depth[left[node]] = depth[right[node]] = depth[node] + 1
        leaf = left < 0
        leaf_ids = np.flatnonzero(leaf)
        path = depth[leaf_ids] + _average_path_length(tree.n_node_samples[leaf_ids])
        parts = {
            "nodes_treeids": np.full(nodes, tree_id),
            "nodes_nodeids": np.arange(nodes),
            "nodes_featureids": np.where(leaf, 0, np.asarray(features)[np.maximum(tree.feature, 0)]),
            "nodes_modes": np.where(leaf, "LEAF", "BRANCH_LEQ"),
            "nodes_values": np.where(leaf, 0.0, _float32_at_most(tree.threshold).astype(np.float64)),
            "nodes_truenodeids": np.where(leaf, 0, left),
            "nodes_falsenodeids": np.where(leaf, 0, right),
            "target_treeids": np.full(len(leaf_ids), tree_id),
            "target_nodeids": leaf_ids,
            "target_ids": np.zeros(len(leaf_ids), dtype=np.int64),
            "target_weights": path / trees,
        }
        for key, value in parts.items():
            columns.setdefault(key, []).append(value)
    return {key: np.concatenate(values).tolist() for key, values in columns.items()}


def iforest_onnx(detector: Any, spec: TableSpec) -> bytes:
    """One ONNX file: per-column inputs -> Concat -> the forest's path lengths -> 2^(-E[h]/c(max_samples)) = risk.

    The forest is written by us, not skl2onnx: skl2onnx 1.20 took 83 s to convert 200 trees on this 2-core box
    (the graph is the same TreeEnsembleRegressor); parity with -score_samples is checked before registration.
    """
    from onnx import helper, numpy_helper

    graph_inputs, concat = _concat_inputs(spec)
    trees = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["mean_path"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        name="iforest_paths",
        **_iforest_trees(detector),  # type: ignore[arg-type]
    )
    scale = -1.0 / float(_average_path_length(np.array([detector.max_samples_]))[0])
    constants = [
        numpy_helper.from_array(np.array([[scale]], dtype=np.float32), "iforest_scale"),
        numpy_helper.from_array(np.array([[2.0]], dtype=np.float32), "iforest_base"),
    ]
    nodes = [
        concat,
        trees,
        helper.make_node("Mul", ["mean_path", "iforest_scale"], ["exponent"], name="iforest_exponent"),
        helper.make_node("Pow", ["iforest_base", "exponent"], [RISK_OUTPUT], name="iforest_risk"),
    ]
    return _model(nodes, graph_inputs, constants, "shopctl_isolation_forest")


def detector_onnx(name: str, detector: Any, spec: TableSpec) -> bytes:
    """ONNX bytes of a fitted detector (see the module docstring for each graph)."""
    return ecod_onnx(detector, spec) if name == "ecod" else iforest_onnx(detector, spec)
