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

feeds.py holds the feed plan, inputs.py and operators.py the rewrites, graph.py their helpers, probe.py the check,
cache.py the store of finished rewrites (a cached model is scored without importing onnx).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.scoring.fastpath.cache import cache_key, read_entry, write_entry
from engine.scoring.fastpath.feeds import UNKNOWN_CODE, FeedPlan, MatrixFeed, NumericBlock, StringEncoder
from engine.scoring.fastpath.graph import drop_unused_constants, keep_outputs
from engine.scoring.fastpath.inputs import block_numeric, encode_strings, feed_matrices
from engine.scoring.fastpath.operators import binary_trees_as_logits, merge_duplicates, scalers_as_arithmetic
from engine.scoring.fastpath.probe import PROBE_TOLERANCE, same_outputs

__all__ = [
    "PROBE_TOLERANCE",
    "UNKNOWN_CODE",
    "FeedPlan",
    "MatrixFeed",
    "NumericBlock",
    "StringEncoder",
    "optimise_graph",
    "save_rewrite",
]


def optimise_graph(
    onnx_bytes: bytes,
    inputs: Sequence[tuple[str, str]],
    outputs: Sequence[str] | None = None,
    *,
    cache_dir: Path | None = None,
) -> tuple[bytes, FeedPlan]:
    """_optimise's result, read from the rewrite cache in cache_dir when one is given and holds it.

    A computed rewrite is stored only by save_rewrite (ScoringModel calls it once the model has scored), so a
    command that fails on its input leaves the workspace as it was.
    """
    if cache_dir is not None:
        cached = read_entry(cache_dir, cache_key(onnx_bytes, inputs, outputs))
        if cached is not None:
            return cached
    return _optimise(onnx_bytes, inputs, outputs)


def save_rewrite(
    cache_dir: Path,
    onnx_bytes: bytes,
    inputs: Sequence[tuple[str, str]],
    outputs: Sequence[str] | None,
    rewritten: bytes,
    plan: FeedPlan,
) -> None:
    """Store optimise_graph's result for these arguments in the rewrite cache (a write failure is ignored)."""
    key = cache_key(onnx_bytes, inputs, outputs)
    if read_entry(cache_dir, key) is None:
        write_entry(cache_dir, key, rewritten, plan)


def _optimise(
    onnx_bytes: bytes, inputs: Sequence[tuple[str, str]], outputs: Sequence[str] | None
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
        if same_outputs(onnx_bytes, rewritten, plan, outputs):
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
        keep_outputs(model.graph, set(outputs), plan)
    encode_strings(model.graph, [name for name, dtype in inputs if dtype == "string"], plan)
    block_numeric(model.graph, {name for name, dtype in inputs if dtype in ("float32", "float64")}, plan)
    feed_matrices(model.graph, plan)
    merge_duplicates(model.graph, plan)
    if rounding:
        binary_trees_as_logits(model.graph, plan)
    scalers_as_arithmetic(model, plan, fold=rounding)
    drop_unused_constants(model.graph)
    return model.SerializeToString(), plan
