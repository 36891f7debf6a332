"""ONNX vs scikit-learn parity of HistGradientBoosting pipelines on millions of rows, with and without the shim's
threshold fix (models/hgb_shim.py).

Rows come in two kinds: "random" rows drawn like the training data, and "adversarial" rows whose numeric values
sit exactly on, or one float32 step around, the model's split thresholds. A row is "flipped" when ONNX and
scikit-learn disagree by more than the registration tolerance (1e-4), i.e. it went down another branch.

Usage: python bench/bench_onnx_parity.py [--rows 2000000] [--train-rows 50000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.spec import TableSpec  # noqa: E402
from models.candidates import category_lists, make_candidate  # noqa: E402
from models.hgb_shim import float32_threshold  # noqa: E402
from models.onnx_export import (  # noqa: E402
    OnnxPredictor,
    input_metadata,
    output_metadata,
    pipeline_predict,
    prepare_features,
    to_onnx_bytes,
)

TOLERANCE = 1e-4
CHUNK = 250_000


def synthetic(rows: int, seed: int) -> pl.DataFrame:
    """Session-like rows: skewed amounts (with nulls), counts, ratios, an epoch timestamp, a channel.

    The timestamp (seconds, ~1.7e9) is where stock conversion breaks on ordinary rows: float32 steps are 128 s
    there, so adjacent training values are one float32 step apart and HGB's midpoint thresholds round up onto them.
    """
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1.2, rows)
    amount[rng.random(rows) < 0.05] = np.nan
    pages = rng.poisson(6, rows).astype(float)
    ratio = rng.beta(2, 5, rows)
    duration = rng.gamma(2, 300, rows)
    channel = rng.choice(["ads", "mail", "direct", "social"], rows)
    last_seen = 1.7e9 + rng.integers(0, 30 * 86_400, rows).astype(float)
    recency = (last_seen - 1.7e9) / 86_400
    logit = (
        -2
        + 0.02 * np.nan_to_num(amount, nan=10)
        + 0.1 * pages
        - 3 * ratio
        + 0.001 * duration
        - 0.05 * recency
    )
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    spend = np.nan_to_num(amount, nan=0) * 2 + duration / 50 - recency + rng.normal(0, 3, rows)
    return pl.DataFrame(
        {
            "amount": amount,
            "pages": pages,
            "ratio": ratio,
            "duration": duration,
            "last_seen": last_seen,
            "channel": channel,
            "label": label,
            "spend": spend,
        }
    )


def thresholds_by_feature(pipeline: object, n_numeric: int) -> dict[int, np.ndarray]:
    model = pipeline.named_steps["model"]  # type: ignore[attr-defined]
    found: dict[int, list[float]] = {}
    for predictors in model._predictors:
        for predictor in predictors:
            for node in predictor.nodes:
                if not node["is_leaf"] and node["feature_idx"] < n_numeric:
                    found.setdefault(int(node["feature_idx"]), []).append(float(node["num_threshold"]))
    return {index: np.unique(values) for index, values in found.items()}


def adversarial(
    base: pl.DataFrame, spec: TableSpec, thresholds: dict[int, np.ndarray], rows: int, seed: int
) -> pl.DataFrame:
    """Rows of base with each numeric value replaced by a threshold neighbour (on it, or one float32 step around)."""
    rng = np.random.default_rng(seed)
    frame = base.sample(rows, with_replacement=True, seed=seed)
    columns = []
    for index, name in enumerate(spec.numeric):
        values = thresholds.get(index)
        if values is None:
            continue
        nearest = values.astype(np.float32)
        below = np.array([float32_threshold(value) for value in values], dtype=np.float32)
        probes = np.concatenate(
            [
                values,
                nearest.astype(np.float64),
                below.astype(np.float64),
                np.nextafter(below, np.float32(np.inf)).astype(np.float64),
                np.nextafter(nearest, np.float32(np.inf)).astype(np.float64),
            ]
        )
        columns.append(pl.Series(name, rng.choice(probes, rows)))
    return frame.with_columns(columns)


def compare(pipeline: object, spec: TableSpec, frame: pl.DataFrame, onnx_bytes: bytes) -> tuple[float, int]:
    predictor = OnnxPredictor(onnx_bytes, input_metadata(spec), output_metadata(spec.task))
    worst, flipped = 0.0, 0
    # Regression: relative to the prediction scale, as models.onnx_export.parity_max_abs_diff does.
    scale = 1.0
    if spec.task != "binary":
        sample = prepare_features(frame.head(CHUNK), spec)
        scale = max(1.0, float(np.max(np.abs(pipeline_predict(pipeline, sample, spec.task)))))
    for start in range(0, frame.height, CHUNK):
        chunk = prepare_features(frame.slice(start, CHUNK), spec)
        expected = pipeline_predict(pipeline, chunk, spec.task)
        difference = np.abs(predictor.predict(chunk) - expected)
        if spec.task != "binary":
            difference = difference / scale
        worst = max(worst, float(difference.max()))
        flipped += int((difference > TOLERANCE).sum())
    return worst, flipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=2_000_000, help="random rows scored (adversarial rows: a quarter)"
    )
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"command: python bench/bench_onnx_parity.py --rows {args.rows} --train-rows {args.train_rows} --seed {args.seed}"
    )
    train = synthetic(args.train_rows, args.seed)
    scoring = synthetic(args.rows, args.seed + 1)
    for task, target in (("binary", "label"), ("regression", "spend")):
        spec = TableSpec(
            numeric=("amount", "pages", "ratio", "duration", "last_seen"),
            categorical=("channel",),
            target=target,
            task=task,
        )  # type: ignore[arg-type]
        features = prepare_features(train, spec)
        started = time.perf_counter()
        with threadpool_limits(1):
            pipeline = make_candidate("hgb", spec, category_lists(features, spec.categorical), args.seed)
            pipeline.fit(features, train[target].to_numpy())
        fit_seconds = time.perf_counter() - started
        thresholds = thresholds_by_feature(pipeline, len(spec.numeric))
        probes = adversarial(scoring, spec, thresholds, args.rows // 4, args.seed + 2)
        n_trees = len(pipeline.named_steps["model"]._predictors)
        print(
            f"\n{task}: HGB with {n_trees} trees, {sum(len(v) for v in thresholds.values())} distinct numeric "
            f"thresholds (fit {fit_seconds:.1f}s on {args.train_rows:,} rows)"
        )
        print(f"  {'threshold fix':<14} {'rows':<12} {'kind':<12} {'max |diff|':>12} {'flipped':>9}")
        for fix in (True, False):
            with threadpool_limits(1):
                onnx_bytes = to_onnx_bytes(pipeline, spec, adjust_hgb_thresholds=fix)
                for kind, frame in (("random", scoring), ("adversarial", probes)):
                    worst, flipped = compare(pipeline, spec, frame, onnx_bytes)
                    label = "on (shim)" if fix else "off (stock)"
                    print(f"  {label:<14} {frame.height:<12,} {kind:<12} {worst:>12.3g} {flipped:>9,}")
    print(
        f"\nflipped = |ONNX - scikit-learn| > {TOLERANCE:g} (probability; regression relative to max(1, max |prediction|))"
    )


if __name__ == "__main__":
    main()
