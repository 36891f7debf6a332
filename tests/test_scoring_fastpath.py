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


def test_rewrite_feeds_one_numeric_block_and_one_one_hot_matrix(fitted) -> None:
    _, _, onnx_bytes = fitted
    inputs = [(name, "float32") for name in NUMERIC] + [(name, "string") for name in CATEGORICAL]
    rewritten, plan = optimise_graph(onnx_bytes, inputs)
    assert sorted(plan.encoders) == sorted(CATEGORICAL)
    assert [block.columns for block in plan.blocks] == [NUMERIC]
    # The logistic scales its numerics before the concatenation: the one-hot part alone is fed as a matrix.
    (matrix,) = plan.matrices
    assert {column for column, _ in matrix.segments} == set(CATEGORICAL)
    assert all(category is not None for _, category in matrix.segments)
    assert plan.absent == set(NUMERIC) | set(CATEGORICAL)
    graph = onnx.load_from_string(rewritten).graph
    assert {item.name: item.type.tensor_type.elem_type for item in graph.input} == {
        "shopctl_block_0": onnx.TensorProto.FLOAT,
        "shopctl_matrix_0": onnx.TensorProto.FLOAT,
    }
    assert "OneHotEncoder" not in {node.op_type for node in graph.node}


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
    monkeypatch.setattr(fastpath, "same_outputs", lambda *args: False)
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
    monkeypatch.setattr(fastpath, "scalers_as_arithmetic", lambda model, plan, fold=True: None)
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


def _model(nodes: list, inputs: list, outputs: list, initializers: list | None = None) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=initializers or [])
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    return model.SerializeToString()


def _run(payload: bytes, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(payload, providers=["CPUExecutionProvider"]).run(outputs, feeds)


def _trees(weights: list[float]) -> bytes:
    """Two stumps on feature 0 and 1 (NaN goes left in the first), binary, LOGISTIC: a small HGB as skl2onnx writes it."""
    from onnx import TensorProto, helper

    node = helper.make_node(
        "TreeEnsembleClassifier", ["x"], ["label", "probabilities"], domain="ai.onnx.ml",
        nodes_treeids=[0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2],
        nodes_featureids=[0, 0, 0, 1, 0, 0], nodes_values=[0.5, 0, 0, -1.0, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"] * 2, nodes_truenodeids=[1, 0, 0, 1, 0, 0],
        nodes_falsenodeids=[2, 0, 0, 2, 0, 0], nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0],
        nodes_hitrates=[1.0] * 6, class_treeids=[0, 0, 1, 1], class_nodeids=[1, 2, 1, 2],
        class_ids=[0, 0, 0, 0], class_weights=weights, classlabels_int64s=[0, 1], base_values=[-0.3],
        post_transform="LOGISTIC",
    )  # fmt: skip
    return _model(
        [node],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
    )


def test_binary_tree_classifier_becomes_a_regressor_and_a_sigmoid() -> None:
    original = _trees([-0.8, 1.1, 0.4, -0.2])
    rewritten, plan = optimise_graph(original, [("x", "float32")], outputs=["probabilities"])
    assert plan.trees == 1
    assert [node.op_type for node in onnx.load_from_string(rewritten).graph.node] == [
        "TreeEnsembleRegressor", "Sigmoid", "Sub", "Concat"
    ]  # fmt: skip
    x = np.array([[np.nan, 0.0], [0.2, -2.0], [0.7, np.nan], [0.5, -1.0], [1e30, -1e30]], dtype=np.float32)
    (expected,) = _run(original, {"x": x}, ["probabilities"])
    (actual,) = _run(rewritten, {"x": x}, ["probabilities"])
    assert np.abs(actual - expected).max() < 1e-6
    # Left alone: a label someone reads, and all-positive weights (onnxruntime reads those as probabilities).
    assert optimise_graph(original, [("x", "float32")])[1].trees == 0
    assert (
        optimise_graph(_trees([0.8, 1.1, 0.4, 0.2]), [("x", "float32")], outputs=["probabilities"])[1].trees
        == 0
    )


def test_unfetched_outputs_and_the_nodes_that_only_feed_them_are_dropped() -> None:
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Relu", ["x"], ["y"]),
        helper.make_node("Sigmoid", ["x"], ["s"]),
        helper.make_node("ArgMax", ["s"], ["z"], axis=1),
    ]
    original = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("z", TensorProto.INT64, [None, 1]),
        ],
    )
    rewritten, plan = optimise_graph(original, [("x", "float32")], outputs=["y"])
    graph = onnx.load_from_string(rewritten).graph
    assert plan.pruned == 2
    assert [item.name for item in graph.output] == ["y"] and [node.op_type for node in graph.node] == ["Relu"]
    # An output the graph does not have: nothing dropped, the session will name it.
    assert optimise_graph(original, [("x", "float32")], outputs=["nope"])[1].pruned == 0


def _scaled_readers(offset: list[float], scale: list[float], *, relu_reader: bool = False) -> bytes:
    """Scaler -> LinearClassifier, and Scaler -> Cast -> MatMul -> Add -> Relu (an MLP's first layer)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Scaler", ["x"], ["scaled"], domain="ai.onnx.ml", offset=offset, scale=scale),
        helper.make_node(
            "LinearClassifier", ["scaled"], ["label", "linear"], domain="ai.onnx.ml", classlabels_ints=[0, 1],
            coefficients=rng.normal(size=6).tolist(), intercepts=[0.3, -0.3], post_transform="LOGISTIC",
        ),
        helper.make_node("Cast", ["scaled"], ["cast"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["cast", "weights"], ["product"]),
        helper.make_node("Add", ["product", "bias"], ["layer"]),
        helper.make_node("Relu", ["scaled" if relu_reader else "layer"], ["hidden"]),
    ]  # fmt: skip
    constants = [
        numpy_helper.from_array(rng.normal(size=(3, 4)).astype(np.float32), "weights"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "bias"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [
            helper.make_tensor_value_info("linear", TensorProto.FLOAT, [None, 2]),
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("layer", TensorProto.FLOAT, [None, 4]),
        ],
        constants,
    )


def test_a_scaler_read_only_by_linear_operators_is_folded_into_them() -> None:
    original = _scaled_readers([1.0, -2.0, 0.5], [0.5, 2.0, 1.5])
    outputs = ["linear", "hidden"]
    rewritten, plan = optimise_graph(original, [("x", "float32")], outputs=outputs)
    assert (plan.folded, plan.scalers) == (1, 0)
    assert not {"Scaler", "Sub", "Mul"} & {
        node.op_type for node in onnx.load_from_string(rewritten).graph.node
    }
    x = np.random.default_rng(0).normal(0, 3, size=(64, 3)).astype(np.float32)
    for expected, actual in zip(
        _run(original, {"x": x}, outputs), _run(rewritten, {"x": x}, outputs), strict=True
    ):
        assert np.abs(actual - expected).max() < 1e-5
    # Not folded: a column far from zero in deviations (float32 would cancel), a non-linear reader.
    assert (
        optimise_graph(_scaled_readers([100.0, 0, 0], [1.0, 1, 1]), [("x", "float32")], outputs)[1].folded
        == 0
    )
    relu = _scaled_readers([1.0, 0, 0], [1.0, 1, 1], relu_reader=True)
    assert optimise_graph(relu, [("x", "float32")], outputs)[1].folded == 0


def test_rounding_rewrites_that_miss_the_probe_leave_the_exact_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from test_onnx_parity import _fit_small, _spec, _table

    from models.onnx_export import input_metadata, to_onnx_bytes

    spec = _spec("binary")
    onnx_bytes = to_onnx_bytes(_fit_small("stack", spec, _table(300, 1)), spec)
    inputs = [(item["name"], item["dtype"]) for item in input_metadata(spec)]
    probe = fastpath.same_outputs
    monkeypatch.setattr(fastpath, "same_outputs", lambda *a: not (a[2].trees or a[2].folded) and probe(*a))
    rewritten, plan = optimise_graph(onnx_bytes, inputs, outputs=["probabilities"])
    assert rewritten != onnx_bytes and plan.encoders and plan.pruned
    assert (plan.trees, plan.folded, plan.scalers) == (0, 0, 1)


def test_a_matrix_feed_scores_rows_and_frames_alike_and_names_a_bad_value() -> None:
    from test_onnx_parity import _fit_small, _spec, _table

    from engine.errors import InputError
    from models.onnx_export import input_metadata, output_metadata, to_onnx_bytes

    spec = _spec("binary")
    onnx_bytes = to_onnx_bytes(_fit_small("hgb", spec, _table(300, 1)), spec)
    model = ScoringModel(
        onnx_bytes, {"inputs": input_metadata(spec), "output": output_metadata("binary")}, name="m"
    )
    assert model._plan.matrices and not model._plan.blocks  # trees read the whole encoded matrix
    frame = _table(40, 2).with_columns(
        pl.Series("channel", ["tiktok", None] + ["mail"] * 38),  # unknown, null
        pl.Series("amount", [None, 1e30] + [3.5] * 38),
    )
    rows = frame.to_dicts()
    assert np.array_equal(model.predict(frame), model.predict(rows))
    assert model.predict(rows[1]) == pytest.approx(model.predict(frame.head(2))[1], abs=0)
    with pytest.raises(InputError, match="row 0: column 'visits' is 'many'"):
        model.predict({**rows[0], "visits": "many"})
