"""Internal graph rewrites that make onnxruntime scoring fast without changing the model's input contract.

Two costs dominated batch scoring of our pipelines:
- string tensors: onnxruntime copies every string into a std::string (about 100 ns each). When a string input
  only feeds OneHotEncoder or LabelEncoder nodes, the graph is rewritten to take int64 codes into the union of
  their category lists (unknown = -1, which none of them lists, so unknown categories behave exactly as before)
  and polars maps strings to codes natively;
- Concat of many [N, 1] numeric inputs: a per-row, per-input copy. When a Concat(axis=1) takes only numeric
  graph inputs that nothing else reads, they become one [N, k] input that polars fills in one pass.
Then what the graph assembles from those blocks and one-hot encoded categories alone (ColumnTransformer's
OneHotEncoders, Concat, Reshape, Concat) becomes one float32 matrix input that polars builds in one select.
A third rewrite changes no input: ai.onnx.ml Scaler on a float tensor becomes Sub + Mul with the same float32
constants (the same two float32 operations per value, vectorised; Scaler's kernel is a scalar loop, about 80 ms
per 262,144 rows for the stack's two scalers).
When every reader of a Scaler is linear (the stack's logistic member and its MLP's first layer), the Scaler is folded
into their weights instead: W·((x - offset)·scale) + b = (W·scale)·x + (b - W·(offset·scale)), no pass at all.
Nodes that repeat another exactly (same operator, inputs and attributes: the stack's logistic and MLP members each
impute and scale the same encoded matrix with the same fitted values) are computed once.
onnxruntime runs every node of a graph whatever the caller fetches: when the caller names the outputs it reads, the
others and the nodes that only feed them (the labels' ArgMax chains) are dropped.
A binary TreeEnsembleClassifier whose label nobody reads becomes TreeEnsembleRegressor (the summed leaf values) and
a Sigmoid: onnxruntime's one-target tree loop keeps no per-row class vector (14% faster on our HGB models).
The caller still feeds one column per input (ScoringModel builds blocks and matrices from them); a rewrite is kept
only if it reproduces the original graph's outputs on a probe batch (within PROBE_TOLERANCE).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

ENCODER_OPS = {"OneHotEncoder": "cats_strings", "LabelEncoder": "keys_strings"}
INT_ATTRIBUTE = {"cats_strings": "cats_int64s", "keys_strings": "keys_int64s"}
FLOAT_TYPES = {1: ("float32", np.float32), 11: ("float64", np.float64)}  # onnx TensorProto FLOAT, DOUBLE
UNKNOWN_CODE = -1
SAME_TYPE_OPS = {"Imputer", "Identity"}
BLOCK_PREFIX = "shopctl_block_"
MATRIX_PREFIX = "shopctl_matrix_"
NAN = float("nan")
FLOAT = 1  # onnx TensorProto.FLOAT
# Folding a Scaler moves offset·scale into the bias, where float32 keeps it to ~6e-8 of its size: folded only when
# every |offset·scale| is at most this (a column whose mean lies thousands of deviations from zero stays a Sub + Mul).
FOLD_LIMIT = 8.0
LINEAR_OPS = {"LinearClassifier", "LinearRegressor"}
# How far a rewritten graph's float outputs may be from the original's on the probe, relative to max(1, |output|):
# a few float32 roundings, 100x inside the registry's parity tolerance against scikit-learn (1e-4).
PROBE_TOLERANCE = 1e-6


class StringEncoder:
    """Maps category strings to their code in a fixed vocabulary (UNKNOWN_CODE for anything else)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = list(vocabulary)
        self._index = {value: code for code, value in enumerate(self.vocabulary)}
        self._codes = pl.Series(range(len(self.vocabulary)), dtype=pl.Int64)
        self._keys = pl.Series(self.vocabulary, dtype=pl.String)

    def encode(self, series: pl.Series) -> np.ndarray:
        """Codes of a String series without nulls (the caller fills them first)."""
        codes = series.replace_strict(self._keys, self._codes, default=UNKNOWN_CODE, return_dtype=pl.Int64)
        return codes.to_numpy()

    def encode_list(self, texts: list[str]) -> np.ndarray:
        """Codes of a short list of strings (the single-row path)."""
        index = self._index
        return np.array([index.get(text, UNKNOWN_CODE) for text in texts], dtype=np.int64)


@dataclass(frozen=True)
class NumericBlock:
    """Numeric columns fed together as one C-ordered [N, k] input named `name`."""

    name: str
    columns: tuple[str, ...]
    dtype: str


@dataclass(frozen=True, eq=False)
class MatrixFeed:
    """An encoded feature matrix fed whole as one C-ordered float32 [N, width] input named `name`: per segment,
    (column, None) is a numeric column as it is (null = NaN) and (column, category) the 0/1 column a one-hot encoder
    gives that category (null = the missing category; unknown = 0 everywhere)."""

    name: str
    segments: tuple[tuple[str, str | None], ...]

    @property
    def columns(self) -> set[str]:
        return {column for column, _ in self.segments}

    def expressions(self, schema: Mapping[str, pl.DataType], missing_category: str) -> list[pl.Expr]:
        """polars expressions for the matrix columns of a frame with this schema."""
        texts = {
            column: pl.col(column).cast(pl.String).fill_null(missing_category)
            if schema[column] != pl.String
            else pl.col(column).fill_null(missing_category)
            for column, category in self.segments
            if category is not None
        }
        return [
            pl.col(column).cast(pl.Float32).alias(f"c{index}")
            if category is None
            else (texts[column] == category).cast(pl.Float32).alias(f"c{index}")
            for index, (column, category) in enumerate(self.segments)
        ]

    def from_rows(self, rows: Sequence[Mapping[str, Any]], missing_category: str) -> np.ndarray:
        """The matrix from row dicts (the single-row API, the probe): plain Python per row, then one float32 array;
        a value numpy cannot read as a number raises TypeError or ValueError."""
        width = len(self.segments)
        numeric, categories = self._numeric_positions, self._category_positions
        matrix = []
        for row in rows:
            values = [0.0] * width
            for position, column in numeric:
                value = row[column]
                values[position] = NAN if value is None else value
            for column, lookup in categories.items():
                value = row[column]
                position = lookup.get(missing_category if value is None else str(value))
                if position is not None:
                    values[position] = 1.0
            matrix.append(values)
        return np.array(matrix, dtype=np.float32).reshape(len(rows), width)

    @cached_property
    def _numeric_positions(self) -> list[tuple[int, str]]:
        return [
            (position, column)
            for position, (column, category) in enumerate(self.segments)
            if category is None
        ]

    @cached_property
    def _category_positions(self) -> dict[str, dict[str, int]]:
        lookups: dict[str, dict[str, int]] = {}
        for position, (column, category) in enumerate(self.segments):
            if category is not None:
                lookups.setdefault(column, {}).setdefault(category, position)
        return lookups


@dataclass
class FeedPlan:
    """How feeds for the (rewritten) graph are built from per-column values."""

    encoders: dict[str, StringEncoder] = field(default_factory=dict)
    blocks: list[NumericBlock] = field(default_factory=list)
    matrices: list[MatrixFeed] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # inputs now read only through a matrix
    scalers: int = 0  # Scaler nodes rewritten as Sub + Mul (no effect on the feeds)
    folded: int = 0  # Scaler nodes folded into the linear operators that read them
    merged: int = 0  # nodes dropped as exact duplicates of another (same op, inputs and attributes)
    pruned: int = 0  # nodes dropped because they only fed outputs the caller never fetches
    trees: int = 0  # binary tree classifiers rewritten as a tree regressor and a Sigmoid

    @property
    def changed(self) -> bool:
        return bool(
            self.encoders
            or self.blocks
            or self.matrices
            or self.scalers
            or self.folded
            or self.merged
            or self.pruned
            or self.trees
        )

    @property
    def absent(self) -> set[str]:
        """Model inputs the rewritten graph does not take as themselves (fed inside a block or a matrix)."""
        return {column for block in self.blocks for column in block.columns} | self.dropped

    def adapt(self, column_feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-column feeds of the original graph turned into feeds of the rewritten one (used by the probe)."""
        absent = self.absent
        feeds = {name: values for name, values in column_feeds.items() if name not in absent}
        for name, encoder in self.encoders.items():
            if name not in absent:
                feeds[name] = encoder.encode_list([str(v) for v in column_feeds[name].ravel()]).reshape(-1, 1)
        for block in self.blocks:
            feeds[block.name] = np.ascontiguousarray(np.hstack([column_feeds[c] for c in block.columns]))
        if self.matrices:
            columns = {name: values.ravel().tolist() for name, values in column_feeds.items()}
            rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
            for matrix in self.matrices:  # the probe's texts are the filled categories already
                feeds[matrix.name] = matrix.from_rows(rows, missing_category="")
        return feeds


def optimise_graph(
    onnx_bytes: bytes, inputs: Sequence[tuple[str, str]], outputs: Sequence[str] | None = None
) -> tuple[bytes, FeedPlan]:
    """The rewritten graph and its feed plan, or the original bytes and an empty plan when nothing applies.

    inputs: (name, dtype) per model input, dtype as in metadata ("float32", "float64", "int64", "string").
    outputs: the outputs the caller will fetch (the rewritten graph has only these); None keeps them all.
    The rewrites that change float rounding (tree logits through a Sigmoid, folded scalers) are dropped, keeping the
    exact ones, if the probe finds the result off by more than PROBE_TOLERANCE of the output's scale.
    """
    for rounding in (True, False):
        rewritten, plan = _rewrite(onnx_bytes, inputs, outputs, rounding=rounding)
        if rewritten is None:
            return onnx_bytes, FeedPlan()
        if not plan.changed:
            return onnx_bytes, plan
        if _same_outputs(onnx_bytes, rewritten, plan, outputs):
            return rewritten, plan
    return onnx_bytes, FeedPlan()


def _rewrite(
    onnx_bytes: bytes, inputs: Sequence[tuple[str, str]], outputs: Sequence[str] | None, *, rounding: bool
) -> tuple[bytes | None, FeedPlan]:
    import onnx

    try:
        model = onnx.load_model_from_string(onnx_bytes)
    except Exception:  # noqa: BLE001 - the session will report an unreadable model itself
        return None, FeedPlan()
    plan = FeedPlan()
    if outputs is not None:
        _keep_outputs(model.graph, set(outputs), plan)
    _encode_strings(model.graph, [name for name, dtype in inputs if dtype == "string"], plan)
    _block_numeric(model.graph, {name for name, dtype in inputs if dtype in ("float32", "float64")}, plan)
    _feed_matrices(model.graph, plan)
    _merge_duplicates(model.graph, plan)
    if rounding:
        _binary_trees_as_logits(model.graph, plan)
    _scalers_as_arithmetic(model, plan, fold=rounding)
    _drop_unused_constants(model.graph)
    return model.SerializeToString(), plan


def _consumers(graph, name: str) -> list:  # noqa: ANN001 - onnx.GraphProto / NodeProto
    return [node for node in graph.node if name in node.input]


def _attribute(node, name: str):  # noqa: ANN001, ANN202 - onnx protobuf types
    return next((attr for attr in node.attribute if attr.name == name), None)


def _readers(graph) -> set[str]:  # noqa: ANN001 - onnx.GraphProto
    """Every value name some node or the graph's outputs read."""
    return {name for node in graph.node for name in node.input} | {item.name for item in graph.output}


def _keep_outputs(graph, wanted: set[str], plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Drop the graph outputs not in wanted, then every node none of whose outputs is read any more."""
    outputs = {item.name for item in graph.output}
    if (
        not wanted
        or not wanted <= outputs
        or any(attr.g.node for node in graph.node for attr in node.attribute)
    ):
        return  # an unknown name is for the session to report; subgraphs read names we would not see
    kept = [item for item in graph.output if item.name in wanted]
    del graph.output[:]
    graph.output.extend(kept)
    plan.pruned += _drop_dead_nodes(graph)


def _drop_dead_nodes(graph) -> int:  # noqa: ANN001 - onnx.GraphProto
    """Remove every node none of whose outputs is read, repeatedly; how many went."""
    removed = 0
    while True:
        read = _readers(graph)
        dead = [node for node in graph.node if not read.intersection(node.output)]
        if not dead:
            return removed
        for node in dead:
            graph.node.remove(node)
        removed += len(dead)


def _drop_unused_constants(graph) -> None:  # noqa: ANN001 - onnx.GraphProto
    """Initializers no node reads any more (pruned nodes', folded weights'); onnxruntime would warn about each."""
    read = _readers(graph)
    constants = [item for item in graph.initializer if item.name in read]
    del graph.initializer[:]
    graph.initializer.extend(constants)


def _encode_strings(graph, string_inputs: list[str], plan: FeedPlan) -> None:  # noqa: ANN001
    from onnx import TensorProto, helper

    for input_name in string_inputs:
        consumers = _consumers(graph, input_name)
        if not consumers or any(
            node.op_type not in ENCODER_OPS or _attribute(node, ENCODER_OPS[node.op_type]) is None
            for node in consumers
        ):
            continue
        vocabulary: list[str] = []
        for node in consumers:
            for raw in _attribute(node, ENCODER_OPS[node.op_type]).strings:
                text = raw.decode("utf-8")
                if text not in vocabulary:
                    vocabulary.append(text)
        index = {value: code for code, value in enumerate(vocabulary)}
        for node in consumers:
            string_attribute = ENCODER_OPS[node.op_type]
            strings = [raw.decode("utf-8") for raw in _attribute(node, string_attribute).strings]
            kept = [attr for attr in node.attribute if attr.name != string_attribute]
            del node.attribute[:]
            node.attribute.extend(kept)
            node.attribute.append(
                helper.make_attribute(INT_ATTRIBUTE[string_attribute], [index[s] for s in strings])
            )
        for graph_input in graph.input:
            if graph_input.name == input_name:
                graph_input.type.tensor_type.elem_type = TensorProto.INT64
        plan.encoders[input_name] = StringEncoder(vocabulary)


def _block_numeric(graph, numeric_inputs: set[str], plan: FeedPlan) -> None:  # noqa: ANN001
    from onnx import helper

    input_types = {item.name: item.type.tensor_type.elem_type for item in graph.input}
    for node in list(graph.node):
        if node.op_type != "Concat" or len(node.input) < 2:
            continue
        axis = _attribute(node, "axis")
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
        if any(len(_consumers(graph, column)) != 1 for column in columns):
            continue
        elem_type = next(iter(elem_types))
        block_name = f"{BLOCK_PREFIX}{len(plan.blocks)}"
        keep = [item for item in graph.input if item.name not in columns]
        del graph.input[:]
        graph.input.extend(keep)
        graph.input.append(helper.make_tensor_value_info(block_name, elem_type, [None, len(columns)]))
        # The block takes the Concat's place: the Concat's consumers now read the block input directly.
        output = node.output[0]
        graph.node.remove(node)
        for other in graph.node:
            for position, name in enumerate(other.input):
                if name == output:
                    other.input[position] = block_name
        for graph_output in graph.output:
            if graph_output.name == output:
                graph.node.append(helper.make_node("Identity", [block_name], [output]))
        plan.blocks.append(NumericBlock(block_name, tuple(columns), FLOAT_TYPES[elem_type][0]))


def _feed_matrices(graph, plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
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
            cats, zeros = _attribute(node, "cats_int64s"), _attribute(node, "zeros")
            vocabulary = plan.encoders[sources[0]].vocabulary
            if cats is None or (zeros is not None and zeros.i != 1):
                continue
            if not all(0 <= code < len(vocabulary) for code in cats.ints):
                continue
            traced[node.output[0]] = (tuple((sources[0], vocabulary[code]) for code in cats.ints), 3)
        elif node.op_type == "Concat" and sources and all(name in traced for name in sources):
            ranks = {traced[name][1] for name in sources}
            axis = _attribute(node, "axis")
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
        for position, node in enumerate(graph.node):
            if position in inside:
                continue
            for index, source in enumerate(node.input):
                if source == value:
                    node.input[index] = name
        plan.matrices.append(MatrixFeed(name, segments))
    _drop_dead_nodes(graph)
    read = _readers(graph)
    unread = {item.name for item in graph.input if item.name not in read}
    for block in [block for block in plan.blocks if block.name in unread]:
        plan.blocks.remove(block)
        plan.dropped.update(block.columns)
    plan.matrices[:] = [matrix for matrix in plan.matrices if matrix.name not in unread]
    plan.dropped.update(name for name in unread if not name.startswith((BLOCK_PREFIX, MATRIX_PREFIX)))
    kept = [item for item in graph.input if item.name not in unread]
    del graph.input[:]
    graph.input.extend(kept)


def _merge_duplicates(graph, plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
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
        for node in graph.node:
            for index, name in enumerate(node.input):
                node.input[index] = renames.get(name, name)
        plan.merged += len(doomed)


def _binary_trees_as_logits(graph, plan: FeedPlan) -> None:  # noqa: ANN001 - onnx.GraphProto
    """TreeEnsembleClassifier (two classes, one scored class, LOGISTIC, label unread) -> TreeEnsembleRegressor over the
    same nodes and leaf values, Sigmoid, then [1 - p, p] under the classifier's probability name."""
    from onnx import helper, numpy_helper

    read = _readers(graph)
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
        position = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new_node in enumerate(replacement):
            graph.node.insert(position + offset, new_node)
        plan.trees += 1


def _scalers_as_arithmetic(model, plan: FeedPlan, *, fold: bool = True) -> None:  # noqa: ANN001 - onnx.ModelProto
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
    for position, node in reversed(list(enumerate(graph.node))):
        if node.op_type != "Scaler" or node.domain != "ai.onnx.ml":
            continue
        if elem_types.get(node.input[0]) != TensorProto.FLOAT:
            continue
        offset = _attribute(node, "offset")
        scale = _attribute(node, "scale")
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
        graph.node.remove(node)
        for offset_in_list, new_node in enumerate(replacement):
            graph.node.insert(position + offset_in_list, new_node)
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
    for node in _consumers(graph, target):
        to = _attribute(node, "to")
        if node.op_type == "Cast" and to is not None and to.i == FLOAT and node.output[0] not in outputs:
            casts.append(node)
            readers += [(reader, node.output[0]) for reader in _consumers(graph, node.output[0])]
        else:
            readers.append((node, target))
    if not readers:
        return False
    changes: list[tuple[Any, ...]] = []
    widths: set[int] = set()
    for node, name in readers:
        if node.op_type in LINEAR_OPS and node.domain == "ai.onnx.ml" and list(node.input) == [name]:
            coefficients, intercepts = _attribute(node, "coefficients"), _attribute(node, "intercepts")
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
            after = _consumers(graph, node.output[0])
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
            kept = [attr for attr in node.attribute if attr.name not in ("coefficients", "intercepts")]
            del node.attribute[:]
            node.attribute.extend(kept)
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
            for position, name in enumerate(add.input):
                if name == bias_name:
                    add.input[position] = new_bias
    for node, name in readers:
        if name == target:
            for position, value in enumerate(node.input):
                if value == target:
                    node.input[position] = source
    for cast in casts:
        cast.input[0] = source
    return True


def _same_outputs(original: bytes, rewritten: bytes, plan: FeedPlan, outputs: Sequence[str] | None) -> bool:
    """Run both graphs on a probe batch (every category, an unknown one, the empty string, NaN) and compare the
    outputs (all when None): floats within PROBE_TOLERANCE of max(1, largest |value|), the rest exactly."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        before = ort.InferenceSession(original, options, providers=["CPUExecutionProvider"])
        after = ort.InferenceSession(rewritten, options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - an unloadable rewrite just means "use the original"
        return False
    rows = 16 + max([len(encoder.vocabulary) for encoder in plan.encoders.values()] or [0])
    rng = np.random.default_rng(0)
    column_feeds: dict[str, np.ndarray] = {}
    for graph_input in before.get_inputs():
        name = graph_input.name
        if graph_input.type == "tensor(string)":
            vocabulary = (plan.encoders[name].vocabulary if name in plan.encoders else []) + [
                "\x00unknown",
                "",
            ]
            column_feeds[name] = np.array(
                [vocabulary[i % len(vocabulary)] for i in range(rows)], dtype=object
            )
        elif graph_input.type in ("tensor(float)", "tensor(double)"):
            shape = graph_input.shape
            width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else 1  # [N, k] inputs too
            values = rng.normal(0, 3, size=rows * width)
            values[::7] = np.nan
            column_feeds[name] = values.astype(
                np.float32 if graph_input.type == "tensor(float)" else np.float64
            ).reshape(rows, width)
        else:
            column_feeds[name] = rng.integers(-2, 5, size=rows).astype(np.int64)
        column_feeds[name] = column_feeds[name].reshape(rows, -1)
    try:
        names = list(outputs) if outputs is not None else None
        expected = before.run(names, column_feeds)
        actual = after.run(names, plan.adapt(column_feeds))
    except Exception:  # noqa: BLE001 - e.g. an encoder that rejects unknown categories: keep the original
        return False
    for left, right in zip(expected, actual, strict=True):
        left_array, right_array = np.asarray(left), np.asarray(right)
        if left_array.shape != right_array.shape:
            return False
        if left_array.dtype.kind in "fc":
            finite = left_array[np.isfinite(left_array)]
            scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
            if not np.allclose(left_array, right_array, rtol=0, atol=PROBE_TOLERANCE * scale, equal_nan=True):
                return False
        elif not np.array_equal(left_array, right_array):
            return False
    return True
