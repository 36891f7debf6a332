"""The probe: a rewritten graph is kept only if it reproduces the original's outputs on a batch built to reach
every branch (every category, an unknown one, the empty string, NaNs)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.scoring.fastpath.feeds import FeedPlan

# How far a rewritten graph's float outputs may be from the original's on the probe, relative to max(1, |output|):
# a few float32 roundings, 100x inside the registry's parity tolerance against scikit-learn (1e-4).
PROBE_TOLERANCE = 1e-6


def same_outputs(original: bytes, rewritten: bytes, plan: FeedPlan, outputs: Sequence[str] | None) -> bool:
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
