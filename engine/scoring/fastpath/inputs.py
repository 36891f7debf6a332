"""Rewrites of the graph's inputs: category codes instead of strings, numeric blocks, whole encoded matrices.

Each one changes what the caller feeds (recorded in the FeedPlan), never what the model computes.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from engine.scoring.fastpath.feeds import FeedPlan, MatrixFeed, NumericBlock, StringEncoder
from engine.scoring.fastpath.graph import (
    attribute_of,
    consumers_of,
    drop_dead_nodes,
    keep_only,
    read_names,
    rename_inputs,
)

ENCODER_OPS = {"OneHotEncoder": "cats_strings", "LabelEncoder": "keys_strings"}
INT_ATTRIBUTE = {"cats_strings": "cats_int64s", "keys_strings": "keys_int64s"}
FLOAT_TYPES = {1: ("float32", np.float32), 11: ("float64", np.float64)}  # onnx TensorProto FLOAT, DOUBLE
BLOCK_PREFIX = "shopctl_block_"
MATRIX_PREFIX = "shopctl_matrix_"


def _not_named(name: str, attribute: Any) -> bool:
    return bool(attribute.name != name)


def _not_among(names: set[str], item: Any) -> bool:
    return item.name not in names


def encode_strings(graph, string_inputs: list[str], plan: FeedPlan) -> None:  # noqa: ANN001
    from onnx import TensorProto, helper

    for input_name in string_inputs:
        consumers = consumers_of(graph, input_name)
        if not consumers or any(
            node.op_type not in ENCODER_OPS or attribute_of(node, ENCODER_OPS[node.op_type]) is None
            for node in consumers
        ):
            continue
        vocabulary: list[str] = []
        for node in consumers:
            for raw in attribute_of(node, ENCODER_OPS[node.op_type]).strings:
                text = raw.decode("utf-8")
                if text not in vocabulary:
                    vocabulary.append(text)
        index = {value: code for code, value in enumerate(vocabulary)}
        for node in consumers:
            string_attribute = ENCODER_OPS[node.op_type]
            strings = [raw.decode("utf-8") for raw in attribute_of(node, string_attribute).strings]
            keep_only(node.attribute, functools.partial(_not_named, string_attribute))
            node.attribute.append(
                helper.make_attribute(INT_ATTRIBUTE[string_attribute], [index[s] for s in strings])
            )
        for graph_input in graph.input:
            if graph_input.name == input_name:
                graph_input.type.tensor_type.elem_type = TensorProto.INT64
        plan.encoders[input_name] = StringEncoder(vocabulary)


def block_numeric(graph, numeric_inputs: set[str], plan: FeedPlan) -> None:  # noqa: ANN001
    from onnx import helper

    input_types = {item.name: item.type.tensor_type.elem_type for item in graph.input}
    for node in list(graph.node):
        if node.op_type != "Concat" or len(node.input) < 2:
            continue
        axis = attribute_of(node, "axis")
        columns = list(node.input)
        if axis is None or axis.i not in (1, -1) or len(set(columns)) != len(columns):
            continue
        elem_types = {input_types.get(column) for column in columns}
        if (
            not set(columns) <= numeric_inputs
            or len(elem_types) != 1
            or next(iter(elem_types)) not in FLOAT_TYPES
        ):
            continue
        if any(len(consumers_of(graph, column)) != 1 for column in columns):
            continue
        elem_type = int(next(iter(elem_types)) or 0)  # a float type: checked above
        block_name = f"{BLOCK_PREFIX}{len(plan.blocks)}"
        keep_only(graph.input, functools.partial(_not_among, set(columns)))
        graph.input.append(helper.make_tensor_value_info(block_name, elem_type, [None, len(columns)]))
        # The block takes the Concat's place: the Concat's consumers now read the block input directly.
        output = node.output[0]
        graph.node.remove(node)
        rename_inputs(graph.node, {output: block_name})
        for graph_output in graph.output:
            if graph_output.name == output:
                graph.node.append(helper.make_node("Identity", [block_name], [output]))
        plan.blocks.append(NumericBlock(block_name, tuple(columns), FLOAT_TYPES[elem_type][0]))


def feed_matrices(graph, plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Feed whole what the graph assembles from numeric blocks and one-hot encoded categories only.

    scikit-learn's ColumnTransformer becomes OneHotEncoder per categorical column, a Concat of their [N, 1, k]
    outputs, a Reshape to [N, sum k] and a Concat with the numeric block: four passes over the rows (about 45 ms per
    262,144 rows for 47 columns) where polars builds the same float32 matrix in one. Every value computed only from
    float32 blocks and encoded categories through OneHotEncoder (zeros=1), Concat (last axis), Reshape ([-1, width])
    and Identity is traced to its columns; each such [N, width] value another node reads becomes one matrix input.
    """
    from onnx import TensorProto, helper, numpy_helper

    constants = {item.name: item for item in graph.initializer}
    traced: dict[str, tuple[tuple[tuple[str, str | None], ...], int]] = {}  # value -> (segments, rank)
    for block in plan.blocks:
        if block.dtype == "float32":
            traced[block.name] = (tuple((column, None) for column in block.columns), 2)
    inside: set[int] = set()  # positions of the nodes traced
    for position, node in enumerate(graph.node):
        sources = list(node.input)
        if node.op_type == "OneHotEncoder" and node.domain == "ai.onnx.ml" and sources[0] in plan.encoders:
            cats, zeros = attribute_of(node, "cats_int64s"), attribute_of(node, "zeros")
            vocabulary = plan.encoders[sources[0]].vocabulary
            if cats is None or (zeros is not None and zeros.i != 1):
                continue
            if not all(0 <= code < len(vocabulary) for code in cats.ints):
                continue
            traced[node.output[0]] = (tuple((sources[0], vocabulary[code]) for code in cats.ints), 3)
        elif node.op_type == "Concat" and sources and all(name in traced for name in sources):
            ranks = {traced[name][1] for name in sources}
            axis = attribute_of(node, "axis")
            rank = next(iter(ranks))
            if len(ranks) != 1 or axis is None or axis.i not in (-1, rank - 1):
                continue
            traced[node.output[0]] = (tuple(seg for name in sources for seg in traced[name][0]), rank)
        elif (
            node.op_type == "Reshape"
            and len(sources) == 2
            and sources[0] in traced
            and sources[1] in constants
        ):
            segments, rank = traced[sources[0]]
            shape = numpy_helper.to_array(constants[sources[1]]).tolist()
            if rank != 3 or shape not in ([-1, len(segments)], [0, len(segments)]):
                continue
            traced[node.output[0]] = (segments, 2)
        elif node.op_type == "Identity" and sources and sources[0] in traced:
            traced[node.output[0]] = traced[sources[0]]
        else:
            continue
        inside.add(position)
    outputs = {item.name for item in graph.output}
    read_outside = {
        name for position, node in enumerate(graph.node) if position not in inside for name in node.input
    }
    frontier = [
        name
        for name, (segments, rank) in traced.items()
        if rank == 2
        and not name.startswith(BLOCK_PREFIX)
        and name not in outputs
        and any(category is not None for _, category in segments)
        and name in read_outside
    ]
    if not frontier:
        return
    for value in frontier:
        name = f"{MATRIX_PREFIX}{len(plan.matrices)}"
        segments = traced[value][0]
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, len(segments)]))
        outside = [node for position, node in enumerate(graph.node) if position not in inside]
        rename_inputs(outside, {value: name})
        plan.matrices.append(MatrixFeed(name, segments))
    drop_dead_nodes(graph)
    read = read_names(graph)
    unread = {item.name for item in graph.input if item.name not in read}
    for block in [block for block in plan.blocks if block.name in unread]:
        plan.blocks.remove(block)
        plan.dropped.update(block.columns)
    plan.matrices[:] = [matrix for matrix in plan.matrices if matrix.name not in unread]
    plan.dropped.update(name for name in unread if not name.startswith((BLOCK_PREFIX, MATRIX_PREFIX)))
    keep_only(graph.input, lambda item: item.name not in unread)
