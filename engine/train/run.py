"""Train, convert, check parity and register one model: the engine call behind `shopctl train`.

Nothing is written until the very last step (Registry.register, which stages and renames), so an interrupted
or failed run leaves the registry as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from engine.config import TrainingConfig
from engine.errors import InputError, IntegrityError
from engine.spec import TableSpec
from engine.workspace import Workspace

TASKS = ("conversion", "repurchase", "churn", "spend")
TASK_TARGETS = {
    "conversion": "converted",
    "repurchase": "repurchased",
    "churn": "churned",
    "spend": "future_spend",
}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ExportedModel:
    """A trained winner as one ONNX file, with its input/output contract and parity against scikit-learn."""

    onnx_bytes: bytes
    inputs: list[dict[str, Any]]
    output: dict[str, Any]
    parity: float


def export_onnx(result: Any) -> ExportedModel:
    """Convert a TrainResult's chosen pipeline to ONNX and measure parity on its test rows."""
    from models.onnx_export import input_metadata, output_metadata, parity_max_abs_diff, to_onnx_bytes

    spec = result.spec
    onnx_bytes = to_onnx_bytes(result.pipeline, spec)
    test_features, _ = result.part("test")
    parity = parity_max_abs_diff(result.pipeline, onnx_bytes, test_features, spec)
    return ExportedModel(onnx_bytes, input_metadata(spec), output_metadata(spec.task), parity)


def reference_profile(
    result: Any, onnx_bytes: bytes, inputs: list[dict[str, Any]], output: dict[str, Any], *, seed: int
) -> tuple[dict[str, Any], Any]:
    """The reference profile of the validation and test rows as scored by the ONNX file; (profile, predictor)."""
    from engine.monitoring.profile import build_reference_profile
    from models.onnx_export import OnnxPredictor

    predictor = OnnxPredictor(onnx_bytes, inputs, output)
    positions = np.concatenate([result.split.validation, result.split.test])
    profile = build_reference_profile(
        result.table[positions],
        result.spec,
        scores=predictor.predict(result.features[positions]),
        labels=result.labels[positions] if result.spec.task == "binary" else None,
        threshold=result.threshold if result.threshold is not None else 0.5,
        seed=seed,
    )
    return profile, predictor


def stamp_properties(
    onnx_bytes: bytes, inputs: list[dict[str, Any]], output: dict[str, Any], threshold: float | None
) -> bytes:
    """Embed the input/output contract and threshold in the ONNX file's metadata properties."""
    from models.onnx_export import with_metadata

    return with_metadata(
        onnx_bytes, {"shopctl.inputs": inputs, "shopctl.output": output, "shopctl.threshold": threshold}
    )


def parse_candidates(candidates: str | list[str] | None, default: Sequence[str]) -> list[str]:
    """The candidate list from "logistic,hgb" or a list; unknown names are an InputError naming the choices."""
    from models.candidates import CANDIDATES

    if candidates is None or candidates == "" or candidates == []:
        return list(default)
    names = (
        [part.strip() for part in candidates.split(",")] if isinstance(candidates, str) else list(candidates)
    )
    names = [name for name in names if name]
    unknown = [name for name in names if name not in CANDIDATES]
    if unknown or not names:
        raise InputError(
            f"unknown candidate(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(CANDIDATES)} "
            "(e.g. --candidates logistic,hgb)"
        )
    return list(dict.fromkeys(names))


def _parse_cutoff(cutoff: str | date | datetime | None) -> datetime | None:
    from engine.features.users import as_utc_datetime

    return as_utc_datetime(cutoff, "--cutoff") if cutoff else None


def _current_table(path: Path, last_event: datetime) -> dict[str, Any] | None:
    """The .meta.json of a feature table built from all events up to last_event, else None (stale or absent)."""
    from engine.features.build import meta_path

    meta_file = meta_path(path)  # what `features build` writes beside the table
    if not path.exists() or not meta_file.exists():
        return None
    import json

    try:
        meta = json.loads(meta_file.read_text())
        built_until = datetime.fromisoformat(meta["last_event"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta if built_until >= last_event else None


def _task_table(
    ws: Workspace, task: str, cutoff: datetime | None, horizon_days: int | None
) -> tuple[pl.DataFrame, TableSpec, dict[str, Any]]:
    """The feature table and spec for a named task: data/features/ when it is current, else built from events."""
    from engine import features
    from engine.features.build import midnight_after, plan_cutoff

    dimensions = list(ws.settings.schema.dimensions.keys())
    from engine.events import event_span

    events, _, first_event, last_event = event_span(ws)
    if task == "conversion":
        path = ws.features_dir / "sessions.parquet"
        meta = _current_table(path, last_event)
        frame = pl.read_parquet(path) if meta else features.session_features(events, dimensions).collect()
        spec = features.session_spec(dimensions)
        source: dict[str, Any] = {"task": task, "table": str(path) if meta else "events"}
    else:
        path = ws.features_dir / "users.parquet"
        meta = _current_table(path, last_event) if cutoff is None and horizon_days is None else None
        if meta:
            frame = pl.read_parquet(path)
            cutoff_text, horizon = meta.get("cutoff"), int(meta.get("horizon_days") or 0)
        else:
            horizon = int(horizon_days or ws.settings.features.horizon_days)
            if cutoff is None:
                cutoff, horizon, _ = plan_cutoff(first_event, midnight_after(last_event), horizon)
            frame = features.user_features(events, cutoff, horizon, dimensions).collect()
            cutoff_text = cutoff.isoformat()
        spec = features.user_spec(dimensions, task)
        source = {
            "task": task,
            "table": str(path) if meta else "events",
            "cutoff": cutoff_text,
            "horizon_days": horizon,
        }
        if task == "churn":
            frame = frame.with_columns(
                (1 - pl.col("repurchased").cast(pl.Int8)).cast(pl.Int8).alias("churned")
            )
    spec = replace(spec, target=TASK_TARGETS[task], task="regression" if task == "spend" else "binary")
    if task == "spend" and frame.height and not (frame["monetary"].fill_null(0.0).abs().max() or 0.0) > 0:  # type: ignore[operator]
        raise InputError(
            f"the spend table has no money: every one of its {frame.height:,} customers' orders is worth 0 "
            "(the purchase events carry no price or amount); map one at ingest, e.g. --column price=AMOUNT"
        )
    if frame.height == 0:
        raise InputError(
            f"the {task} table is empty: no {'sessions' if task == 'conversion' else 'customers with a purchase'} "
            "before the cutoff; ingest more events or move --cutoff later"
        )
    return frame, spec, source


def version_metadata(
    name: str,
    result: Any,
    *,
    inputs: list[dict[str, Any]],
    output: dict[str, Any],
    parity: float,
    source: dict[str, Any],
    who: str,
    fractions: Any,
    quantization: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """metadata.json of a trained version (models.training.TrainResult `result`), for train and retrain alike;
    `overrides` replace or add keys (retrain's holdout metrics and event-time windows). NaN/inf become null."""
    spec = result.spec
    labelled = result.table
    metadata = {
        "name": name,
        "task": spec.task,
        "target": spec.target,
        "spec": spec.to_dict(),
        "inputs": inputs,
        "output": output,
        "missing_values": {"numeric": "NaN", "categorical": ""},
        "threshold": result.threshold,
        "metrics": result.metrics,
        "candidates": result.candidates,
        "chosen": result.chosen,
        "selection": result.selection,
        "parity_max_abs_diff": parity,
        "parity_rows": len(result.split.test),
        "quantization": quantization,
        "split": {"method": result.split.method, **result.split.sizes(), "fractions": list(fractions)},
        "source": source,
        "training_window": _training_window(labelled, spec, result.split.train),
        "data_fingerprint": _fingerprint(labelled),
        "rows": {**result.split.sizes(), "dropped_unlabelled": result.dropped_rows},
        "empty_columns_dropped": list(result.empty_columns),
        "created_by": who,
    }
    metadata.update(overrides)
    return _finite(metadata)


def _finite(payload: Any) -> Any:
    """payload with NaN/inf floats replaced by None, so metadata.json stays standard JSON."""
    if isinstance(payload, float):
        return payload if np.isfinite(payload) else None
    if isinstance(payload, dict):
        return {key: _finite(value) for key, value in payload.items()}
    if isinstance(payload, list | tuple):
        return [_finite(value) for value in payload]
    return payload


def _fingerprint(frame: pl.DataFrame) -> str:
    row_hashes = frame.hash_rows(seed=0).to_numpy()
    return hashlib.sha256(np.sort(row_hashes).tobytes()).hexdigest()[:32]


def _training_window(table: pl.DataFrame, spec: TableSpec, positions: np.ndarray) -> dict[str, Any] | None:
    if not spec.time_column or spec.time_column not in table.columns or len(positions) == 0:
        return None
    times = table[spec.time_column][positions]
    return {"column": spec.time_column, "start": times.min(), "end": times.max()}


def _training_frame(
    ws: Workspace,
    config: TrainingConfig,
    *,
    task: str | None,
    table: Path | str | None,
    target: str | None,
    cutoff: str | date | datetime | None,
    horizon_days: int | None,
) -> tuple[pl.DataFrame, TableSpec, dict[str, Any]]:
    """The rows to train on, their spec and where they came from: a --table file, or a task's table."""
    from models.tables import load_table

    if table is not None:
        if not target:
            raise InputError(f"--table {table} needs --target COLUMN (the label to learn)")
        frame, spec = load_table(table, target, config)
        return frame, spec, {"task": None, "table": str(table), "target": target}
    if task is not None:
        if task not in TASKS:
            raise InputError(
                f"unknown task {task!r}; expected one of {', '.join(TASKS)}, "
                "or train a table with --table FILE --target COLUMN"
            )
        return _task_table(ws, task, _parse_cutoff(cutoff), horizon_days)
    raise InputError(
        "nothing to train: name a task (conversion, repurchase, churn, spend) or pass --table FILE"
    )


def _checked_export(
    name: str, result: Any, config: TrainingConfig
) -> tuple[ExportedModel, dict[str, Any] | None]:
    """The winner's ONNX export, refused above parity_tolerance; an MLP quantized when that keeps its metric."""
    from models.quantize import try_quantize

    exported = export_onnx(result)
    if exported.parity > config.parity_tolerance:
        raise IntegrityError(
            f"model {name!r} ({result.chosen}): ONNX differs from scikit-learn by {exported.parity:.3g} on the "
            f"test rows, above [training] parity_tolerance {config.parity_tolerance:g}; not registered"
        )
    if not (config.quantize_mlp and result.chosen == "mlp"):
        return exported, None
    validation_features, validation_labels = result.part("validation")
    spec = result.spec
    metric = config.selection_metric if spec.task == "binary" else config.regression_selection_metric
    quantized, quantization = try_quantize(
        exported.onnx_bytes,
        exported.inputs,
        exported.output,
        validation_features,
        validation_labels,
        task=spec.task,
        metric=metric,
        threshold=result.threshold or 0.5,
        tolerance=config.quantize_tolerance,
        baseline=result.baseline,
    )
    if quantized is not None:
        exported = ExportedModel(quantized, exported.inputs, exported.output, exported.parity)
    return exported, quantization


def register_version(
    ws: Workspace,
    name: str,
    exported: ExportedModel,
    threshold: float | None,
    metadata: dict[str, Any],
    profile: dict[str, Any],
    *,
    promote: bool,
    who: str,
    why: str,
    progress: Progress | None = None,
    steps: int = 1,
) -> int:
    """Stamp the ONNX file's properties and register it with its metadata and profile (the last two steps)."""
    from engine.registry import Registry

    onnx_bytes = stamp_properties(exported.onnx_bytes, exported.inputs, exported.output, threshold)
    if progress:
        progress("registering", steps - 1, steps)
    version = Registry(ws).register(name, onnx_bytes, metadata, profile, promote=promote, who=who, why=why)
    if progress:
        progress("registered", steps, steps)
    return version


def _spend_baselines(ws: Workspace, result: Any, source: dict[str, Any]) -> dict[str, Any]:
    """`bgnbd_gg`: the probabilistic CLV baseline scored on the candidates' own validation and test customers
    (reported beside them, never registered)."""
    from engine.customers.clv import spend_baseline
    from engine.customers.rfm import orders
    from engine.events import scan_events

    cutoff = datetime.fromisoformat(str(source["cutoff"]))
    parts = {
        part: result.table[getattr(result.split, part)].select("user_id", "future_spend")
        for part in ("validation", "test")
    }
    scores = spend_baseline(orders(scan_events(ws), cutoff), cutoff, source["horizon_days"], parts)
    return {"bgnbd_gg": scores}


def train_and_register(
    ws: Workspace,
    name: str,
    *,
    task: str | None = None,
    table: Path | str | None = None,
    target: str | None = None,
    candidates: str | list[str] | None = None,
    cutoff: str | date | datetime | None = None,
    horizon_days: int | None = None,
    promote: bool = True,
    who: str = "cli",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train the candidates, export the best to ONNX, check parity, profile it and register it; returns the summary."""
    from engine.registry import check_name
    from models.training import train

    check_name(name)
    settings: TrainingConfig = ws.settings.training
    config = settings.model_copy(update={"candidates": parse_candidates(candidates, settings.candidates)})
    frame, spec, source = _training_frame(
        ws, config, task=task, table=table, target=target, cutoff=cutoff, horizon_days=horizon_days
    )
    steps = len(config.candidates) + 3

    def training_progress(message: str, done: int, _total: int) -> None:
        if progress:
            progress(message, done, steps)

    result = train(frame, spec, config, progress=training_progress)
    baselines = _spend_baselines(ws, result, source) if source.get("task") == "spend" else {}
    spec = result.spec  # without numeric columns that were empty in the train rows
    if progress:
        progress(f"exporting {result.chosen} to ONNX", steps - 3, steps)
    exported, quantization = _checked_export(name, result, config)
    if progress:
        progress("profiling reference data", steps - 2, steps)
    profile, _ = reference_profile(
        result, exported.onnx_bytes, exported.inputs, exported.output, seed=config.seed
    )
    metadata = version_metadata(
        name,
        result,
        inputs=exported.inputs,
        output=exported.output,
        parity=exported.parity,
        source=source,
        who=who,
        fractions=config.split,
        quantization=quantization,
    )
    why = f"trained {result.chosen} on {len(result.labels)} rows"
    version = register_version(
        ws, name, exported, result.threshold, metadata, profile,
        promote=promote, who=who, why=why, progress=progress, steps=steps,
    )  # fmt: skip
    return _finite(
        {
            "name": name,
            "version": version,
            "model": result.chosen,
            "task": spec.task,
            "target": spec.target,
            "threshold": result.threshold,
            "metrics": result.metrics,
            "candidates": {
                key: {
                    "validation": value["validation"],
                    "test": value["test"],
                    **{cv: value[cv] for cv in ("cv_mean", "cv_sd", "cv_folds") if cv in value},
                }
                for key, value in result.candidates.items()
            },
            "baselines": baselines,
            "selection": result.selection["method"],
            "selection_reason": result.selection["reason"],
            "selection_metric": result.selection["metric"],
            "parity_max_abs_diff": exported.parity,
            "quantization": quantization,
            "split": metadata["split"],
            "promoted": promote,
            "source": source,
        }
    )
