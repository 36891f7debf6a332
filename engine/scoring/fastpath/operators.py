"""Rewrites of the graph's operators: duplicates once, binary trees as logits, scalers as arithmetic or folded.

None changes the feeds. Trees-as-logits and folding change float rounding (the probe bounds it); the rest are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.scoring.fastpath.feeds import FeedPlan
from engine.scoring.fastpath.graph import (
    attribute_of,
    consumers_of,
    keep_only,
    read_names,
    rename_inputs,
    replace_node,
)

SAME_TYPE_OPS = {"Imputer", "Identity"}
FLOAT = 1  # onnx TensorProto.FLOAT
# Folding a Scaler moves offset·scale into the bias, where float32 keeps it to ~6e-8 of its size: folded only when
# every |offset·scale| is at most this (a column whose mean lies thousands of deviations from zero stays a Sub + Mul).
FOLD_LIMIT = 8.0
LINEAR_OPS = {"LinearClassifier", "LinearRegressor"}


def merge_duplicates(graph, plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Compute once what several nodes compute identically: same op, domain, inputs and attributes.

    Repeated until nothing merges (merging two imputers makes the scalers after them identical too). A node whose
    output is a graph output is kept as it is.
    """
    graph_outputs = {item.name for item in graph.output}
    while True:
        seen: dict[tuple, Any] = {}
        renames: dict[str, str] = {}
        doomed = []
        for node in graph.node:
            key = (
                node.domain,
                node.op_type,
                tuple(renames.get(name, name) for name in node.input),
                tuple(
                    sorted(attribute.SerializeToString(deterministic=True) for attribute in node.attribute)
                ),
            )
            kept = seen.setdefault(key, node)
            if kept is node or graph_outputs & set(node.output) or len(kept.output) != len(node.output):
                continue
            renames.update(zip(node.output, kept.output, strict=True))
            doomed.append(node)
        if not doomed:
            return
        for node in doomed:
            graph.node.remove(node)
        rename_inputs(graph.node, renames)
        plan.merged += len(doomed)


def binary_trees_as_logits(graph, plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
    """TreeEnsembleClassifier (two classes, one scored class, LOGISTIC, label unread) -> TreeEnsembleRegressor over the
    same nodes and leaf values, Sigmoid, then [1 - p, p] under the classifier's probability name."""
    from onnx import helper, numpy_helper

    read = read_names(graph)
    for node in list(graph.node):
        if node.op_type != "TreeEnsembleClassifier" or node.domain != "ai.onnx.ml" or len(node.output) != 2:
            continue
        if node.output[0] in read:  # the label is used: keep the classifier
            continue
        attrs = {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}
        labels = attrs.get("classlabels_int64s") or attrs.get("classlabels_strings") or []
        weights = attrs.get("class_weights") or []
        if (
            len(labels) != 2
            or len(set(attrs.get("class_ids", []))) != 1
            or attrs.get("post_transform", b"NONE") != b"LOGISTIC"
            or len(attrs.get("base_values", [])) > 1
            or any(name.endswith("_as_tensor") for name in attrs)
            # onnxruntime reads all-positive binary weights as probabilities, not as a logit: keep those as they are
            or all(weight >= 0 for weight in weights)
        ):
            continue
        stem = f"shopctl_trees_{plan.trees}"
        regressor = {name: value for name, value in attrs.items() if name.startswith("nodes_")}
        regressor.update(
            target_ids=[0] * len(weights),
            target_nodeids=attrs["class_nodeids"],
            target_treeids=attrs["class_treeids"],
            target_weights=weights,
            base_values=attrs.get("base_values", [0.0]),
            n_targets=1,
            post_transform="NONE",
        )
        graph.initializer.append(numpy_helper.from_array(np.ones(1, np.float32), f"{stem}_one"))
        replacement = [
            helper.make_node(
                "TreeEnsembleRegressor", [node.input[0]], [f"{stem}_logit"], name=stem, domain="ai.onnx.ml",
                **regressor,
            ),
            helper.make_node("Sigmoid", [f"{stem}_logit"], [f"{stem}_p"], name=f"{stem}_sigmoid"),
            helper.make_node("Sub", [f"{stem}_one", f"{stem}_p"], [f"{stem}_q"], name=f"{stem}_negative"),
            helper.make_node("Concat", [f"{stem}_q", f"{stem}_p"], [node.output[1]], name=f"{stem}_pair", axis=1),
        ]  # fmt: skip
        replace_node(graph, node, replacement)
        plan.trees += 1


def scalers_as_arithmetic(model, plan: FeedPlan, *, fold: bool = True) -> None:  # noqa: ANN001 - onnx.ModelProto
    """Replace each ai.onnx.ml Scaler whose input is a float tensor by Sub(offset) then Mul(scale)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if not any(node.op_type == "Scaler" for node in graph.node):
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - no type information: leave the scalers alone
        return
    elem_types = {
        item.name: item.type.tensor_type.elem_type
        for item in [*inferred.input, *inferred.value_info, *inferred.output]
        if item.type.tensor_type.elem_type
    }
    for node in graph.node:  # onnx infers no types for some ai.onnx.ml ops whose output type is their input's
        if node.op_type in SAME_TYPE_OPS and node.input and node.input[0] in elem_types:
            elem_types.setdefault(node.output[0], elem_types[node.input[0]])
    for node in reversed(list(graph.node)):
        if node.op_type != "Scaler" or node.domain != "ai.onnx.ml":
            continue
        if elem_types.get(node.input[0]) != TensorProto.FLOAT:
            continue
        offset = attribute_of(node, "offset")
        scale = attribute_of(node, "scale")
        offsets = np.asarray(list(offset.floats) if offset is not None else [0.0], dtype=np.float32)
        scales = np.asarray(list(scale.floats) if scale is not None else [1.0], dtype=np.float32)
        if fold and _fold_scaler(graph, node, offsets, scales, f"shopctl_fold_{plan.folded}"):
            graph.node.remove(node)
            plan.folded += 1
            continue
        stem = f"shopctl_scaler_{plan.scalers}"
        constants = [
            numpy_helper.from_array(offsets if offsets.size else np.zeros(1, np.float32), f"{stem}_offset"),
            numpy_helper.from_array(scales if scales.size else np.ones(1, np.float32), f"{stem}_scale"),
        ]
        graph.initializer.extend(constants)
        replacement = [
            helper.make_node(
                "Sub", [node.input[0], f"{stem}_offset"], [f"{stem}_centred"], name=f"{stem}_sub"
            ),
            helper.make_node(
                "Mul", [f"{stem}_centred", f"{stem}_scale"], [node.output[0]], name=f"{stem}_mul"
            ),
        ]
        replace_node(graph, node, replacement)
        plan.scalers += 1


def _fold_scaler(graph, scaler, offsets: np.ndarray, scales: np.ndarray, stem: str) -> bool:  # noqa: ANN001
    """Fold y = (x - offsets) * scales into every reader of y, all linear, and rewire them to x; False (graph
    untouched) unless every reader is a LinearClassifier/LinearRegressor or a MatMul by a constant whose result only
    goes to an Add of a constant (an MLP's first layer), either possibly behind a Cast to float."""
    from onnx import helper, numpy_helper

    source, target = scaler.input[0], scaler.output[0]
    constants = {item.name: item for item in graph.initializer}
    outputs = {item.name for item in graph.output}
    if target in outputs:
        return False
    readers: list[tuple[Any, str]] = []  # (node, the name it reads y by)
    casts = []
    for node in consumers_of(graph, target):
        to = attribute_of(node, "to")
        if node.op_type == "Cast" and to is not None and to.i == FLOAT and node.output[0] not in outputs:
            casts.append(node)
            readers += [(reader, node.output[0]) for reader in consumers_of(graph, node.output[0])]
        else:
            readers.append((node, target))
    if not readers:
        return False
    changes: list[tuple[Any, ...]] = []
    widths: set[int] = set()
    for node, name in readers:
        if node.op_type in LINEAR_OPS and node.domain == "ai.onnx.ml" and list(node.input) == [name]:
            coefficients, intercepts = attribute_of(node, "coefficients"), attribute_of(node, "intercepts")
            if coefficients is None or intercepts is None or not intercepts.floats:
                return False
            weights = np.asarray(coefficients.floats, dtype=np.float64)
            if weights.size % len(intercepts.floats):
                return False
            weights = weights.reshape(len(intercepts.floats), -1)  # [classes or targets, features]
            widths.add(weights.shape[1])
            changes.append(("linear", node, weights, np.asarray(intercepts.floats, dtype=np.float64)))
        elif node.op_type == "MatMul" and list(node.input)[0] == name and node.input[1] in constants:
            matrix = numpy_helper.to_array(constants[node.input[1]]).astype(np.float64)
            after = consumers_of(graph, node.output[0])
            if matrix.ndim != 2 or node.output[0] in outputs or len(after) != 1 or after[0].op_type != "Add":
                return False
            add = after[0]
            bias_name = next((item for item in add.input if item != node.output[0]), None)
            if bias_name not in constants or list(add.input).count(node.output[0]) != 1:
                return False
            bias = numpy_helper.to_array(constants[bias_name]).astype(np.float64)
            if bias.size != matrix.shape[1] or bias.ndim > 2:
                return False
            widths.add(matrix.shape[0])
            changes.append(("matmul", node, matrix, add, bias_name, bias))
        else:
            return False
    if len(widths) != 1:
        return False
    width = widths.pop()
    if offsets.size not in (1, width) or scales.size not in (1, width):
        return False
    scale = np.broadcast_to(scales.astype(np.float64), (width,))
    shift = np.broadcast_to(offsets.astype(np.float64), (width,)) * scale
    if not np.all(np.isfinite(shift)) or np.abs(shift).max() > FOLD_LIMIT:
        return False
    for index, change in enumerate(changes):
        if change[0] == "linear":
            _, node, weights, intercepts = change
            folded = weights * scale  # W·((x - o)·s) + b = (W·s)·x + (b - (W·s)·o)
            keep_only(node.attribute, lambda attr: attr.name not in ("coefficients", "intercepts"))
            node.attribute.append(
                helper.make_attribute("coefficients", folded.astype(np.float32).ravel().tolist())
            )
            node.attribute.append(
                helper.make_attribute(
                    "intercepts", (intercepts - weights @ shift).astype(np.float32).tolist()
                )
            )
        else:
            _, node, matrix, add, bias_name, bias = change
            matrix_name, new_bias = f"{stem}_{index}_matrix", f"{stem}_{index}_bias"
            graph.initializer.append(
                numpy_helper.from_array((matrix * scale[:, None]).astype(np.float32), matrix_name)
            )
            graph.initializer.append(
                numpy_helper.from_array(
                    (bias - (shift @ matrix).reshape(bias.shape)).astype(np.float32), new_bias
                )
            )
            node.input[1] = matrix_name
            rename_inputs([add], {bias_name: new_bias})
    rename_inputs([node for node, name in readers if name == target], {target: source})
    for cast in casts:
        cast.input[0] = source
    return True
