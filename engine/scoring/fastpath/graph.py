"""Small ONNX graph helpers shared by the rewrites: who reads a value, attributes, dropping what nothing reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.scoring.fastpath.feeds import FeedPlan


def consumers_of(graph, name: str) -> list:  # noqa: ANN001 - onnx.GraphProto / NodeProto
    return [node for node in graph.node if name in node.input]


def attribute_of(node, name: str):  # noqa: ANN001, ANN202 - onnx protobuf types
    return next((attr for attr in node.attribute if attr.name == name), None)


def keep_only(field, keep: Callable[[Any], bool]) -> None:  # noqa: ANN001 - a protobuf repeated field
    """Keep the items of a repeated protobuf field (graph.input, node.attribute, ...) for which keep is true."""
    kept = [item for item in field if keep(item)]
    del field[:]
    field.extend(kept)


def rename_inputs(nodes: Iterable[Any], renames: dict[str, str]) -> None:
    """Make nodes read renames[name] wherever they read a name in renames."""
    for node in nodes:
        for index, name in enumerate(node.input):
            if name in renames:
                node.input[index] = renames[name]


def replace_node(graph, node, replacement: list) -> None:  # noqa: ANN001 - onnx.GraphProto / NodeProto
    """Put replacement (in order) where node was."""
    position = list(graph.node).index(node)
    graph.node.remove(node)
    for offset, new_node in enumerate(replacement):
        graph.node.insert(position + offset, new_node)


def read_names(graph) -> set[str]:  # noqa: ANN001 - onnx.GraphProto
    """Every value name some node or the graph's outputs read."""
    return {name for node in graph.node for name in node.input} | {item.name for item in graph.output}


def keep_outputs(graph, wanted: set[str], plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Drop the graph outputs not in wanted, then every node none of whose outputs is read any more."""
    outputs = {item.name for item in graph.output}
    if (
        not wanted
        or not wanted <= outputs
        or any(attr.g.node for node in graph.node for attr in node.attribute)
    ):
        return  # an unknown name is for the session to report; subgraphs read names we would not see
    keep_only(graph.output, lambda item: item.name in wanted)
    plan.pruned += drop_dead_nodes(graph)


def drop_dead_nodes(graph) -> int:  # noqa: ANN001 - onnx.GraphProto
    """Remove every node none of whose outputs is read, repeatedly; how many went."""
    removed = 0
    while True:
        read = read_names(graph)
        dead = [node for node in graph.node if not read.intersection(node.output)]
        if not dead:
            return removed
        for node in dead:
            graph.node.remove(node)
        removed += len(dead)


def drop_unused_constants(graph) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Initializers no node reads any more (pruned nodes', folded weights'); onnxruntime would warn about each."""
    read = read_names(graph)
    keep_only(graph.initializer, lambda item: item.name in read)
