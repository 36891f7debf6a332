"""The internal graph rewrites (integer category codes, one numeric block) keep every score identical."""

from __future__ import annotations

import numpy as np
import onnx
import polars as pl
import pytest
from test_scoring_models import (
    CATEGORICAL,
    NUMERIC,
    fit_logistic,
    make_table,
    metadata_for,
    sklearn_frame,
    to_onnx_bytes,
)

import engine.scoring.fastpath as fastpath
from engine.scoring import ScoringModel
from engine.scoring.fastpath import UNKNOWN_CODE, StringEncoder, optimise_graph


@pytest.fixture(scope="module")
def fitted() -> tuple[pl.DataFrame, object, bytes]:
    table = make_table(seed=4)
    pipeline = fit_logistic(table)
    return table, pipeline, to_onnx_bytes(pipeline)


def test_rewrite_feeds_codes_and_one_block(fitted) -> None:
    _, _, onnx_bytes = fitted
    inputs = [(name, "float32") for name in NUMERIC] + [(name, "string") for name in CATEGORICAL]
    rewritten, plan = optimise_graph(onnx_bytes, inputs)
    assert sorted(plan.encoders) == sorted(CATEGORICAL)
    assert [block.columns for block in plan.blocks] == [NUMERIC]
    graph_inputs = {
        item.name: item.type.tensor_type.elem_type for item in onnx.load_from_string(rewritten).graph.input
    }
    assert graph_inputs == {
        "shopctl_block_0": onnx.TensorProto.FLOAT,
        "device": onnx.TensorProto.INT64,
        "channel": onnx.TensorProto.INT64,
    }


def test_rewritten_and_original_graphs_score_alike(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    table, pipeline, onnx_bytes = fitted
    odd = pl.DataFrame(
        {
            "pages": [None, 2.0],
            "seconds": [5.0, None],
            "device": ["smart-tv", None],
            "channel": ["", "email"],
        },
        schema={"pages": pl.Float64, "seconds": pl.Float64, "device": pl.String, "channel": pl.String},
    )
    frame = pl.concat([table.select(*NUMERIC, *CATEGORICAL), odd])
    expected = pipeline.predict_proba(sklearn_frame(frame))[:, 1]
    fast = ScoringModel(onnx_bytes, metadata_for(pipeline, table.height), name="m", version=1)
    monkeypatch.setattr(fastpath, "_same_outputs", lambda *args: False)
    plain = ScoringModel(onnx_bytes, metadata_for(pipeline, table.height), name="m", version=1)
    assert fast._plan.blocks and not plain._plan.blocks and not plain._encoders
    for model in (fast, plain):
        assert np.abs(model.predict(frame) - expected).max() < 1e-5
        assert np.abs(model.predict(frame.to_dicts()) - expected).max() < 1e-5


def test_string_encoder_maps_unknowns_to_a_code_no_encoder_lists() -> None:
    encoder = StringEncoder(["b", "a", ""])
    assert encoder.encode(pl.Series(["a", "zzz", "", "b"])).tolist() == [1, UNKNOWN_CODE, 2, 0]
    assert encoder.encode_list(["a", "zzz"]).tolist() == [1, UNKNOWN_CODE]


def test_scalers_become_sub_and_mul_with_identical_scores(fitted, monkeypatch: pytest.MonkeyPatch) -> None:
    table, pipeline, onnx_bytes = fitted
    inputs = [(name, "float32") for name in NUMERIC] + [(name, "string") for name in CATEGORICAL]
    rewritten, plan = optimise_graph(onnx_bytes, inputs)
    assert plan.scalers == 1
    op_types = [node.op_type for node in onnx.load_from_string(rewritten).graph.node]
    assert "Scaler" not in op_types and {"Sub", "Mul"} <= set(op_types)
    fast = ScoringModel(onnx_bytes, metadata_for(pipeline, table.height), name="m", version=1)
    monkeypatch.setattr(fastpath, "_scalers_as_arithmetic", lambda model, plan: None)
    with_scaler = ScoringModel(onnx_bytes, metadata_for(pipeline, table.height), name="m", version=1)
    assert with_scaler._plan.scalers == 0
    frame = table.select(*NUMERIC, *CATEGORICAL)
    # The same two float32 operations per value: bit-identical, not merely close.
    assert np.array_equal(fast.predict(frame), with_scaler.predict(frame))


def test_scaler_on_double_input_is_left_alone() -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Scaler", ["x"], ["y"], domain="ai.onnx.ml", offset=[1.0], scale=[2.0])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    rewritten, plan = optimise_graph(model.SerializeToString(), [("x", "float64")])
    assert plan.scalers == 0
    assert [node.op_type for node in onnx.load_from_string(rewritten).graph.node] == ["Scaler"]


def test_identical_nodes_are_computed_once() -> None:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def member(tag: str) -> list:  # what the stack's logistic and MLP members each do to the same matrix
        return [
            helper.make_node(
                "Imputer", ["x"], [f"i{tag}"], domain="ai.onnx.ml", imputed_value_floats=[1.0, 2.0],
                replaced_value_float=float("nan"),
            ),
            helper.make_node(
                "Scaler", [f"i{tag}"], [f"s{tag}"], domain="ai.onnx.ml", offset=[0.5, 1.0], scale=[2.0, 3.0]
            ),
        ]  # fmt: skip

    other = helper.make_node("Scaler", ["x"], ["t"], domain="ai.onnx.ml", offset=[0.5, 1.0], scale=[2.0, 4.0])
    nodes = [*member("a"), *member("b"), other, helper.make_node("Sum", ["sa", "sb", "t"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    original = model.SerializeToString()
    rewritten, plan = optimise_graph(original, [("x", "float32")])
    assert plan.merged == 2  # one imputer and one scaler; the scaler with other attributes stays
    x = np.array([[np.nan, 0.0], [2.0, np.nan], [0.0, 3.0]], dtype=np.float32)

    def run(payload: bytes) -> np.ndarray:
        return ort.InferenceSession(payload, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    assert np.array_equal(run(original), run(rewritten), equal_nan=True)  # t keeps the raw NaNs
