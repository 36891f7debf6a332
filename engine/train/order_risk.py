"""`shopctl train order_risk`: fit order-risk detectors (and, with a label, classifiers), export, check, register.

Unlabelled (the usual case): IsolationForest and ECOD (models.anomaly) fit on the oldest 60% of orders by time;
the configured `[order_risk] detector` is registered. Labelled (`--table FILE --target is_fraud`): the split is
stratified (fraud is rare and bursty, a time split can leave a part without a single fraud), logistic and HGB
join the detectors, and the best validation PR AUC wins. Every candidate is scored "higher = riskier".
The version's threshold is the (1 - review_rate) quantile of the ONNX scores on the validation and test orders:
about review_rate of normal traffic lands above it. Nothing is written before Registry.register.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError, IntegrityError
from engine.features.orders import ORDERS_FILE, order_features, order_spec
from engine.workspace import Workspace

ORDER_RISK_TASK = "order_risk"
SUPERVISED = ("logistic", "hgb")
SPLIT = (0.6, 0.2, 0.2)
Progress = Callable[[str, int, int], None]


def _read_table(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"--table {path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, try_parse_dates=True)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise InputError(f"--table {path}: cannot read it ({str(error).splitlines()[0]})") from None


def _orders_from_workspace(ws: Workspace) -> tuple[pl.DataFrame, dict[str, Any]]:
    """data/features/orders.parquet when it covers every event, else the order table built from events now."""
    from engine.events import event_span

    events, _, _, last_event = event_span(ws)
    path = ws.features_dir / ORDERS_FILE
    meta_file = path.with_suffix(".meta.json")
    if path.exists() and meta_file.exists():
        try:
            built_until = datetime.fromisoformat(json.loads(meta_file.read_text())["last_event"])
        except (OSError, ValueError, KeyError, TypeError):
            built_until = None
        if built_until is not None and built_until >= last_event:
            return pl.read_parquet(path), {"task": ORDER_RISK_TASK, "table": str(path)}
    dimensions = list(ws.settings.schema.dimensions)
    return order_features(events, dimensions).collect(), {"task": ORDER_RISK_TASK, "table": "events"}


def _binary_labels(frame: pl.DataFrame, target: str, path: Path) -> np.ndarray:
    column = frame[target]
    if column.dtype == pl.Boolean:
        values = column.cast(pl.Float64)
    elif column.dtype == pl.String:
        text = column.str.strip_chars().str.to_lowercase()
        values = text.replace_strict(
            {"1": 1.0, "true": 1.0, "yes": 1.0, "0": 0.0, "false": 0.0, "no": 0.0}, default=None
        )
    else:
        values = column.cast(pl.Float64, strict=False)
    labels = values.to_numpy()
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: column {target!r} row {row + 1} is {column[row]!r}; a fraud label must be 0/1, true/false or yes/no"
        )
    return labels.astype(np.int8)


def _metrics(labels: np.ndarray | None, scores: np.ndarray) -> dict[str, float | None]:
    if labels is None or labels.min() == labels.max():
        return {"roc_auc": None, "pr_auc": None}
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
    }


def train_order_risk(
    ws: Workspace,
    name: str = ORDER_RISK_TASK,
    *,
    table: Path | str | None = None,
    target: str | None = None,
    promote: bool = True,
    who: str = "cli",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train, export, parity-check, profile and register the order-risk model; returns the `train --json` payload."""
    from engine.monitoring.profile import build_reference_profile
    from engine.registry import check_name
    from engine.train.run import ExportedModel, _fingerprint, _finite, register_version
    from models.anomaly import (
        DETECTORS,
        RISK_OUTPUT,
        detector_onnx,
        detector_risk,
        feature_matrix,
        fit_detector,
    )
    from models.onnx_export import (
        OnnxPredictor,
        input_metadata,
        output_metadata,
        pipeline_predict,
        to_onnx_bytes,
    )
    from models.splits import split_rows

    check_name(name)
    config = ws.settings.order_risk
    seed = int(ws.settings.training.seed)
    dimensions = list(ws.settings.schema.dimensions)
    spec = order_spec(dimensions)
    if table is not None:
        path = Path(table)
        frame = _read_table(path)
        source: dict[str, Any] = {"task": ORDER_RISK_TASK, "table": str(path), "target": target}
    else:
        if target:
            raise InputError(f"--target {target} needs --table FILE (the order table that holds the label)")
        path = ws.features_dir / ORDERS_FILE
        frame, source = _orders_from_workspace(ws)
    if target is not None and target not in frame.columns:
        raise InputError(
            f"{path}: no column {target!r} for --target; columns are {', '.join(frame.columns[:20])}"
        )
    missing = [column for column in spec.numeric if column not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: lacks order feature column(s) {', '.join(missing)}; build it with `shopctl features build`"
        )
    if frame.height == 0:
        raise InputError(
            f"{path}: no orders (the events have no purchase rows); ingest purchases, then `shopctl features build`"
        )
    labels: np.ndarray | None = None
    if target is not None:
        labels = _binary_labels(frame, target, path)
        frame = frame.with_columns(pl.Series(target, labels))
        spec = replace(spec, target=target, time_column=None)  # stratified: see the module docstring
    split = split_rows(frame, spec, SPLIT, seed)
    features = feature_matrix(frame, spec)

    def part_labels(positions: np.ndarray) -> np.ndarray | None:
        return None if labels is None else labels[positions]

    names = [*DETECTORS, *(SUPERVISED if labels is not None else ())]
    steps = len(names) + 3
    fitted: dict[str, Any] = {}
    candidates: dict[str, dict[str, Any]] = {}
    for index, candidate in enumerate(names):
        if progress:
            progress(f"fitting {candidate}", index, steps)
        if candidate in DETECTORS:
            model = fit_detector(candidate, features[split.train], seed)
            score = lambda rows, model=model: detector_risk(model, features[rows])  # noqa: E731
        else:
            from models.candidates import make_candidate
            from models.onnx_export import prepare_features

            model = make_candidate(candidate, spec, [], seed)
            train_rows = prepare_features(frame[split.train], spec)
            model.fit(train_rows, labels[split.train] if labels is not None else None)
            score = lambda rows, model=model: pipeline_predict(  # noqa: E731
                model, prepare_features(frame[rows], spec), "binary"
            )
        fitted[candidate] = (model, score)
        candidates[candidate] = {
            "kind": "detector" if candidate in DETECTORS else "classifier",
            "validation": _metrics(part_labels(split.validation), score(split.validation)),
            "test": _metrics(part_labels(split.test), score(split.test)),
        }
    if labels is not None:
        chosen = max(names, key=lambda item: candidates[item]["validation"]["pr_auc"] or -1.0)
        reason = f"{chosen}: best validation PR AUC {candidates[chosen]['validation']['pr_auc']:.4f}"
    else:
        chosen = config.detector
        reason = f"{chosen}: the configured order_risk.detector (no label to compare on)"
    model, score = fitted[chosen]
    if progress:
        progress(f"exporting {chosen} to ONNX", steps - 3, steps)
    inputs = input_metadata(spec)
    if chosen in DETECTORS:
        onnx_bytes, output = detector_onnx(chosen, model, spec), {"name": RISK_OUTPUT}
    else:
        onnx_bytes, output = to_onnx_bytes(model, spec), output_metadata("binary")
    predictor = OnnxPredictor(onnx_bytes, inputs, output)
    expected = score(split.test)
    difference = np.abs(predictor.predict(frame[split.test]) - expected)
    parity = float(np.max(difference) / max(1.0, float(np.max(np.abs(expected))))) if len(expected) else 0.0
    tolerance = ws.settings.training.parity_tolerance
    if parity > tolerance:
        raise IntegrityError(
            f"model {name!r} ({chosen}): ONNX differs from the fitted model by {parity:.3g} on the test orders, "
            f"above [training] parity_tolerance {tolerance:g}; not registered"
        )
    if progress:
        progress("profiling reference orders", steps - 2, steps)
    reference = np.concatenate([split.validation, split.test])
    reference_scores = predictor.predict(frame[reference])
    threshold = float(np.quantile(reference_scores, 1.0 - config.review_rate))
    profile_spec = replace(spec, target=None) if labels is None else spec
    profile = build_reference_profile(
        frame[reference],
        profile_spec,
        scores=reference_scores,
        labels=None if labels is None else labels[reference].astype(float),
        threshold=threshold,
        seed=seed,
    )
    metrics = {"validation": candidates[chosen]["validation"], "test": candidates[chosen]["test"]}
    times = frame["order_time"] if "order_time" in frame.columns else None
    metadata = _finite(
        {
            "name": name,
            "task": spec.task,
            "kind": ORDER_RISK_TASK,
            "target": spec.target,
            "spec": spec.to_dict(),
            "inputs": inputs,
            "output": output,
            "score": "risk: higher = riskier",
            "required_columns": ["order_id"],
            "missing_values": {"numeric": "NaN", "categorical": ""},
            "threshold": threshold,
            "review_rate": config.review_rate,
            "metrics": metrics,
            "candidates": candidates,
            "chosen": chosen,
            "selection": {"method": "pr_auc" if labels is not None else "config", "reason": reason},
            "parity_max_abs_diff": parity,
            "parity_rows": len(split.test),
            "split": {"method": split.method, **split.sizes(), "fractions": list(SPLIT)},
            "source": source,
            "training_window": None
            if times is None
            else {"column": "order_time", "start": times.min(), "end": times.max()},
            "data_fingerprint": _fingerprint(frame),
            "rows": split.sizes(),
            "created_by": who,
        }
    )
    why = f"trained {chosen} on {frame.height} orders"
    version = register_version(
        ws, name, ExportedModel(onnx_bytes, inputs, output, parity), threshold, metadata, profile,
        promote=promote, who=who, why=why, progress=progress, steps=steps,
    )  # fmt: skip
    return _finite(
        {
            "name": name,
            "version": version,
            "model": chosen,
            "task": ORDER_RISK_TASK,
            "target": spec.target,
            "threshold": threshold,
            "review_rate": config.review_rate,
            "metrics": metrics,
            "candidates": candidates,
            "selection": metadata["selection"]["method"],
            "selection_reason": reason,
            "parity_max_abs_diff": parity,
            "split": metadata["split"],
            "promoted": promote,
            "source": source,
        }
    )
