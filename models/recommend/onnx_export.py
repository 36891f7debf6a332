"""Batched ONNX graph of a LinearScorer: history [B, n] and exclude [B, n] (float32) in, top-K indices and
scores [B, K] out. Parts are dense matrices (bounded by the candidates' item limits), computed as in
LinearScorer.score: gather the part's item columns, MatMul (twice for factor parts), scatter back, add the bias,
divide by the row's largest |score|, weight, sum; excluded items get -3e38, then TopK.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.recommend.scorer import MASKED, LinearScorer, top_k

OPSET = 17
INPUTS = ("history", "exclude")
OUTPUTS = ("indices", "scores")


def export_onnx(scorer: LinearScorer, k: int) -> bytes:
    """The serialized ONNX model of scorer with a fixed top-k."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    initializers: list[Any] = []

    def constant(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(array, name=name))
        return name

    n_items = scorer.n_items
    k = min(k, n_items)
    zero_row = constant("zeros_like_history", np.zeros((1, n_items), dtype=np.float32))
    nodes.append(helper.make_node("Mul", ["history", zero_row], ["zero_scores"]))  # [B, n] zeros
    epsilon = constant("epsilon", np.array(1e-12, dtype=np.float32))
    terms = []
    for index, part in enumerate(scorer.parts):
        prefix = f"part{index}"
        current = "zero_scores"
        if part.left is not None:
            chosen = "history"
            if part.items is not None:
                columns = constant(f"{prefix}_items", part.items.astype(np.int64))
                nodes.append(helper.make_node("Gather", ["history", columns], [f"{prefix}_chosen"], axis=1))
                chosen = f"{prefix}_chosen"
            left = constant(f"{prefix}_left", part.left.astype(np.float32))
            nodes.append(helper.make_node("MatMul", [chosen, left], [f"{prefix}_inner"]))
            inner = f"{prefix}_inner"
            if part.right is not None:
                right = constant(f"{prefix}_right", part.right.astype(np.float32))
                nodes.append(helper.make_node("MatMul", [inner, right], [f"{prefix}_outer"]))
                inner = f"{prefix}_outer"
            if part.items is None:
                current = inner
            else:
                row = constant(f"{prefix}_index_row", part.items.astype(np.int64)[None, :])
                nodes.append(helper.make_node("Shape", [inner], [f"{prefix}_shape"]))
                nodes.append(helper.make_node("Expand", [row, f"{prefix}_shape"], [f"{prefix}_indices"]))
                nodes.append(
                    helper.make_node(
                        "ScatterElements",
                        ["zero_scores", f"{prefix}_indices", inner],
                        [f"{prefix}_placed"],
                        axis=1,
                    )
                )
                current = f"{prefix}_placed"
        if part.bias is not None:
            bias = constant(f"{prefix}_bias", part.bias.astype(np.float32)[None, :])
            nodes.append(helper.make_node("Add", [current, bias], [f"{prefix}_biased"]))
            current = f"{prefix}_biased"
        nodes.append(helper.make_node("Abs", [current], [f"{prefix}_abs"]))
        nodes.append(
            helper.make_node("ReduceMax", [f"{prefix}_abs"], [f"{prefix}_max"], axes=[1], keepdims=1)
        )
        nodes.append(helper.make_node("Add", [f"{prefix}_max", epsilon], [f"{prefix}_scale"]))
        nodes.append(helper.make_node("Div", [current, f"{prefix}_scale"], [f"{prefix}_normed"]))
        weight = constant(f"{prefix}_weight", np.array(part.weight, dtype=np.float32))
        nodes.append(helper.make_node("Mul", [f"{prefix}_normed", weight], [f"{prefix}_term"]))
        terms.append(f"{prefix}_term")
    total = terms[0]
    for index, term in enumerate(terms[1:], start=1):
        nodes.append(helper.make_node("Add", [total, term], [f"sum{index}"]))
        total = f"sum{index}"
    floor = constant("masked", np.array(MASKED, dtype=np.float32))
    nodes.append(
        helper.make_node("Greater", ["exclude", constant("half", np.array(0.0, np.float32))], ["is_excluded"])
    )
    nodes.append(helper.make_node("Where", ["is_excluded", floor, total], ["masked_scores"]))
    nodes.append(
        helper.make_node(
            "TopK",
            ["masked_scores", constant("k", np.array([k], dtype=np.int64))],
            ["scores", "indices"],
            axis=1,
        )
    )
    graph = helper.make_graph(
        nodes,
        "recommender",
        [
            helper.make_tensor_value_info("history", TensorProto.FLOAT, ["batch", n_items]),
            helper.make_tensor_value_info("exclude", TensorProto.FLOAT, ["batch", n_items]),
        ],
        [
            helper.make_tensor_value_info("indices", TensorProto.INT64, ["batch", k]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", k]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session(onnx_bytes: bytes, threads: int = 1) -> Any:
    """An onnxruntime session for a recommender graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def check_parity(
    onnx_bytes: bytes,
    scorer: LinearScorer,
    history: np.ndarray,
    exclude: np.ndarray,
    k: int,
    tolerance: float = 1e-5,
) -> float:
    """Max |score difference| between the graph and the numpy reference on these users; ValueError when it
    exceeds tolerance or a user's top-k differs beyond ties (same sorted scores at the graph's indices)."""
    runner = session(onnx_bytes)
    worst = 0.0
    for start in range(0, history.shape[0], 1024):
        rows = slice(start, start + 1024)
        indices, scores = runner.run(list(OUTPUTS), {"history": history[rows], "exclude": exclude[rows]})
        reference = scorer.score(history[rows])
        reference[exclude[rows] > 0] = MASKED
        _, expected = top_k(reference, None, k)
        at_graph = np.take_along_axis(reference, indices, axis=1)
        live = expected > MASKED / 2
        worst = max(worst, float(np.abs(scores - expected)[live].max(initial=0.0)))
        worst = max(worst, float(np.abs(at_graph - scores)[live].max(initial=0.0)))
    if worst > tolerance:
        raise ValueError(f"ONNX parity failed: max |score diff| {worst:.2e} > {tolerance:.0e}")
    return worst
