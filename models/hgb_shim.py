"""ONNX converters for HistGradientBoosting that fix two skl2onnx 1.20 defects, registered over the stock ones.

1. skl2onnx builds `nodes_missing_value_tracks_true` from HGB's `missing_go_to_left` (numpy uint8) mixed with the
   Python ints of leaf nodes, and onnx refuses the mixed list: conversion fails. We emit plain ints.
2. skl2onnx stores HGB split thresholds rounded to nearest float32, but scikit-learn compares the (float32-exact)
   input with the float64 threshold. When rounding goes up, an input equal to the rounded value goes left in ONNX
   and right in scikit-learn. We store the largest float32 not above the threshold (what skl2onnx already does for
   DecisionTree/RandomForest), which makes `x <= t` identical for every float32 input.

Option `adjust_thresholds` (default True) exists so bench/bench_onnx_parity.py can measure the unfixed behaviour.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_REGISTERED = False

# Options the stock converters accept, plus ours.
_CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
    "raw_scores": [True, False],
    "adjust_thresholds": [True, False],
}
_REGRESSOR_OPTIONS = {"adjust_thresholds": [True, False]}


def float32_threshold(threshold: float, adjust: bool = True) -> np.float32:
    """The float32 split value that keeps `x <= threshold` exact for float32 inputs (round down when adjusting)."""
    rounded = np.float32(threshold)
    if adjust and float(rounded) > float(threshold):
        rounded = np.nextafter(rounded, np.float32(-np.inf), dtype=np.float32)
    return np.float32(rounded)


def tree_attributes(
    predictors: list[list[Any]], *, adjust_thresholds: bool = True, classifier: bool
) -> dict[str, Any]:
    """TreeEnsemble attribute lists for a single-output HGB model (binary classifier or regressor)."""
    prefix = "class" if classifier else "target"
    attributes: dict[str, Any] = {
        key: []
        for key in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            f"{prefix}_treeids",
            f"{prefix}_nodeids",
            f"{prefix}_ids",
            f"{prefix}_weights",
        )
    }
    for tree_id, per_iteration in enumerate(predictors):
        if len(per_iteration) != 1:
            raise NotImplementedError(
                "hgb_shim converts binary classifiers and single-output regressors only"
            )
        nodes = per_iteration[0].nodes
        if "is_categorical" in nodes.dtype.names and bool(np.any(nodes["is_categorical"])):
            raise NotImplementedError(
                "hgb_shim does not convert native categorical splits; one-hot encode instead"
            )
        for node_id, node in enumerate(nodes):
            attributes["nodes_treeids"].append(tree_id)
            attributes["nodes_nodeids"].append(node_id)
            if node["is_leaf"]:
                attributes["nodes_featureids"].append(0)
                attributes["nodes_modes"].append("LEAF")
                attributes["nodes_values"].append(np.float32(0.0))
                attributes["nodes_truenodeids"].append(0)
                attributes["nodes_falsenodeids"].append(0)
                attributes["nodes_missing_value_tracks_true"].append(0)
                attributes[f"{prefix}_treeids"].append(tree_id)
                attributes[f"{prefix}_nodeids"].append(node_id)
                attributes[f"{prefix}_ids"].append(0)
                attributes[f"{prefix}_weights"].append(np.float32(node["value"]))
            else:
                attributes["nodes_featureids"].append(int(node["feature_idx"]))
                attributes["nodes_modes"].append("BRANCH_LEQ")
                attributes["nodes_values"].append(float32_threshold(node["num_threshold"], adjust_thresholds))
                attributes["nodes_truenodeids"].append(int(node["left"]))
                attributes["nodes_falsenodeids"].append(int(node["right"]))
                # The fix for defect 1: a plain int, never numpy uint8/bool.
                attributes["nodes_missing_value_tracks_true"].append(int(bool(node["missing_go_to_left"])))
    attributes["nodes_values"] = np.asarray(attributes["nodes_values"], dtype=np.float32)
    attributes[f"{prefix}_weights"] = np.asarray(attributes[f"{prefix}_weights"], dtype=np.float32)
    return attributes


def _float_input(scope: Any, operator: Any, container: Any) -> str:
    from skl2onnx.common.data_types import FloatTensorType
    from skl2onnx.proto import onnx_proto

    input_name = operator.inputs[0].full_name
    if isinstance(operator.inputs[0].type, FloatTensorType):
        return input_name
    cast_name = scope.get_unique_variable_name("hgb_float_input")
    container.add_node(
        "Cast",
        input_name,
        cast_name,
        to=onnx_proto.TensorProto.FLOAT,
        name=scope.get_unique_operator_name("Cast"),
    )
    return cast_name


def convert_hgb_classifier(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter for a binary HistGradientBoostingClassifier: label and [P(0), P(1)] outputs."""
    model = operator.raw_operator
    options = container.get_options(model, dict(raw_scores=False, adjust_thresholds=True))
    if model.n_trees_per_iteration_ != 1:
        raise NotImplementedError("hgb_shim converts binary HistGradientBoostingClassifier only")
    attributes = tree_attributes(
        model._predictors, adjust_thresholds=options["adjust_thresholds"], classifier=True
    )
    classes = list(model.classes_)
    if all(isinstance(value, str) for value in classes):
        attributes["classlabels_strings"] = [str(value) for value in classes]
    else:
        attributes["classlabels_int64s"] = [int(value) for value in classes]
    attributes["base_values"] = np.asarray(np.ravel(model._baseline_prediction), dtype=np.float32)
    attributes["post_transform"] = "NONE" if options["raw_scores"] else "LOGISTIC"
    container.add_node(
        "TreeEnsembleClassifier",
        _float_input(scope, operator, container),
        [operator.outputs[0].full_name, operator.outputs[1].full_name],
        op_domain="ai.onnx.ml",
        op_version=1,
        name=scope.get_unique_operator_name("TreeEnsembleClassifier"),
        **attributes,
    )


def convert_hgb_regressor(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter for a single-output HistGradientBoostingRegressor."""
    model = operator.raw_operator
    options = container.get_options(model, dict(adjust_thresholds=True))
    attributes = tree_attributes(
        model._predictors, adjust_thresholds=options["adjust_thresholds"], classifier=False
    )
    attributes["n_targets"] = 1
    attributes["base_values"] = np.asarray(np.ravel(model._baseline_prediction), dtype=np.float32)
    attributes["post_transform"] = "NONE"
    container.add_node(
        "TreeEnsembleRegressor",
        _float_input(scope, operator, container),
        operator.outputs[0].full_name,
        op_domain="ai.onnx.ml",
        op_version=1,
        name=scope.get_unique_operator_name("TreeEnsembleRegressor"),
        **attributes,
    )


def register_hgb_shim() -> None:
    """Replace skl2onnx's HistGradientBoosting converters with ours (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    update_registered_converter(
        HistGradientBoostingClassifier,
        "SklearnHistGradientBoostingClassifier",
        calculate_linear_classifier_output_shapes,
        convert_hgb_classifier,
        options=_CLASSIFIER_OPTIONS,
    )
    update_registered_converter(
        HistGradientBoostingRegressor,
        "SklearnHistGradientBoostingRegressor",
        calculate_linear_regressor_output_shapes,
        convert_hgb_regressor,
        options=_REGRESSOR_OPTIONS,
    )
    _REGISTERED = True
