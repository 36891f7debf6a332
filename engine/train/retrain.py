"""Champion/challenger retraining: train on the newest data, compare on the same held-out days, promote if better.

The challenger is trained on the `[retrain] train_days` before the newest `holdout_days`; both models are then
scored on those held-out days (data neither was trained on). The challenger replaces the champion only when it
beats it by `margin` on `metric`, its ONNX file matches its scikit-learn pipeline and its training data passes
the quality checks. `force` overrides the margin and the data checks (recorded as forced), never ONNX parity:
a file that disagrees with its pipeline is never registered. Every decision is written to the model's registry
history and raised as an info alert; a dry run computes the same decision and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
import polars as pl

from engine.errors import ConfigError, InputError
from engine.infra.locks import workspace_lock
from engine.records import ChallengerEvaluation, ModelEvaluation, RetrainDecision
from engine.spec import TableSpec
from engine.store import open_store
from engine.store.jobs import iso, kv_set, parse_iso, utc_now
from engine.workspace import Workspace

log = logging.getLogger("shopctl.retrain")

MIN_TRAIN_ROWS = 200
MIN_HOLDOUT_ROWS = 50


def last_retrain_key(name: str) -> str:
    """The kv key holding a model's newest (non-dry-run) retrain decision."""
    return f"retrain:{name}:last"


def _session_table(ws: Workspace, spec: TableSpec) -> pl.DataFrame:
    from engine.events import scan_events
    from engine.features import session_features

    dimensions = list(ws.settings.schema.dimensions.keys())
    frame = session_features(scan_events(ws), dimensions).collect()
    if frame.height == 0:
        raise InputError(f"{ws.events_dir}: no events to retrain on; ingest data first")
    return frame


def _windows(
    frame: pl.DataFrame, time_column: str, train_days: int, holdout_days: int
) -> dict[str, datetime]:
    newest = cast(datetime, frame[time_column].max())
    holdout_start = newest - timedelta(days=holdout_days)
    return {
        "train_start": holdout_start - timedelta(days=train_days),
        "holdout_start": holdout_start,
        "newest": newest,
    }


def _quality_problems(
    train_frame: pl.DataFrame, holdout: pl.DataFrame, spec: TableSpec, profile: dict[str, Any]
) -> tuple[list[str], bool]:
    """Problems of the challenger's data and whether training is possible at all."""
    from engine.monitoring.quality import table_quality

    problems: list[str] = []
    trainable = True
    if train_frame.height < MIN_TRAIN_ROWS:
        problems.append(f"training window has {train_frame.height} rows (< {MIN_TRAIN_ROWS})")
        trainable = False
    if holdout.height < MIN_HOLDOUT_ROWS:
        problems.append(f"holdout has {holdout.height} rows (< {MIN_HOLDOUT_ROWS})")
        trainable = False
    if spec.task == "binary" and spec.target:
        for label, part in (("training window", train_frame), ("holdout", holdout)):
            if part.height and part[spec.target].drop_nulls().n_unique() < 2:
                problems.append(f"{label} has a single class of {spec.target}")
                trainable = False
    if trainable:
        for row in table_quality(train_frame, profile, spec.numeric, spec.categorical, spec.id_columns):
            if row.get("status") == "critical":
                problems.append(f"data quality: {row['metric']} {row['scope']} = {row.get('value')}")
    return problems, trainable


def _metric_value(metrics: dict[str, float], metric: str) -> float | None:
    value = metrics.get(metric)
    return None if value is None or value != value else float(value)


def _improvement(challenger: float | None, champion: float | None, metric: str) -> float | None:
    from models.metrics import LOWER_IS_BETTER

    if challenger is None:
        return None
    if champion is None:
        return float("inf")
    return champion - challenger if metric in LOWER_IS_BETTER else challenger - champion


def _evaluate(scores: np.ndarray, labels: np.ndarray, threshold: float | None) -> dict[str, float]:
    from models.metrics import binary_metrics

    return binary_metrics(labels, scores, threshold if threshold is not None else 0.5)


def _window_info(frame: pl.DataFrame, time_column: str) -> dict[str, Any]:
    if frame.height == 0:
        return {"rows": 0, "start": None, "end": None}
    return {
        "rows": frame.height,
        "start": iso(cast(datetime, frame[time_column].min())),
        "end": iso(cast(datetime, frame[time_column].max())),
    }


def unsupported_reason(name: str, metadata: dict[str, Any]) -> str | None:
    """Why a model cannot be retrained here (only session-level models trained from events can), or None."""
    spec = TableSpec.from_dict(metadata.get("spec") or {})
    source_task = (metadata.get("source") or {}).get("task")
    if spec.task == "binary" and spec.time_column == "session_start" and source_task in (None, "conversion"):
        return None
    return (
        f"model {name!r} is a {source_task or spec.task} model; `shopctl retrain` handles session-level "
        f"models trained from events (task conversion); retrain it with `shopctl train {name}`"
    )


def retrain(
    ws: Workspace, name: str, *, dry_run: bool = False, force: bool = False, who: str = "cli"
) -> RetrainDecision:
    """Train a challenger for name, compare it with the champion on the newest held-out days, decide and record."""
    from engine.registry import Registry

    registry = Registry(ws)
    champion = registry.get(name)  # NotFoundError names the known models
    policy = ws.settings.retrain
    unsupported = unsupported_reason(name, champion.metadata)
    if unsupported:
        raise InputError(unsupported)
    spec = TableSpec.from_dict(champion.metadata.get("spec") or {})
    from models.metrics import binary_metrics

    if policy.metric not in binary_metrics(np.array([0, 1]), np.array([0.2, 0.8]), 0.5):
        raise ConfigError(
            f"{ws.config_path}: key 'retrain.metric': {policy.metric!r} is not a classifier metric "
            "(use roc_auc, pr_auc, log_loss, brier, f1, ...)"
        )
    with workspace_lock(ws, f"retrain-{name}", purpose=f"retrain {name}"):
        return _decide(ws, registry, name, champion, spec, dry_run=dry_run, force=force, who=who)


def _decide(
    ws: Workspace,
    registry: Any,
    name: str,
    champion: Any,
    spec: TableSpec,
    *,
    dry_run: bool,
    force: bool,
    who: str,
) -> RetrainDecision:
    from engine.scoring import load_model

    policy = ws.settings.retrain
    frame = _session_table(ws, spec)
    time_column = spec.time_column or "session_start"
    target = spec.target
    if target is None:
        raise InputError(
            f"model {name!r} has no target column in its spec; there is nothing to judge a challenger by"
        )
    windows = _windows(frame, time_column, policy.train_days, policy.holdout_days)
    in_train = (pl.col(time_column) >= windows["train_start"]) & (
        pl.col(time_column) < windows["holdout_start"]
    )
    train_frame = frame.filter(in_train & pl.col(target).is_not_null())
    holdout = frame.filter((pl.col(time_column) >= windows["holdout_start"]) & pl.col(target).is_not_null())
    labels = holdout[target].to_numpy().astype(int)

    champion_model = load_model(ws, name, champion.version)
    champion_metrics = (
        _evaluate(champion_model.predict(holdout), labels, champion.metadata.get("threshold"))
        if holdout.height and len(set(labels.tolist())) > 1
        else {}
    )
    problems, trainable = _quality_problems(train_frame, holdout, spec, champion.profile)
    judged = RetrainDecision(
        name=name,
        decision="keep",
        reasons=[],
        dry_run=dry_run,
        metric=policy.metric,
        margin=policy.margin,
        windows={
            "train": _window_info(train_frame, time_column),
            "holdout": _window_info(holdout, time_column),
        },
        champion=ModelEvaluation(champion.version, champion_metrics),
        quality_problems=problems,
    )
    reasons = judged.reasons
    trained_until = parse_iso(str((champion.metadata.get("training_window") or {}).get("end") or "") or None)
    if trained_until is not None and trained_until >= windows["holdout_start"]:
        # The champion saw some holdout rows in training, so the comparison leans its way: a conservative test.
        reasons.append("note: the champion was trained on part of the holdout, which favours it")
    if not trainable:
        reasons.append("no challenger: " + "; ".join(problems))
        return _record(ws, registry, judged, None, who=who)

    challenger = _train_challenger(ws, train_frame, spec)
    challenger_scores = challenger.predictor.predict(holdout)
    challenger_metrics = _evaluate(challenger_scores, labels, challenger.trained.threshold)
    metric = policy.metric
    champion_value = _metric_value(champion_metrics, metric)
    challenger_value = _metric_value(challenger_metrics, metric)
    improvement = _improvement(challenger_value, champion_value, metric)
    parity_ok = challenger.exported.parity <= ws.settings.training.parity_tolerance
    better = improvement is not None and improvement > 0 and improvement >= policy.margin
    shown = f"{challenger_value:.4f}" if challenger_value is not None else "n/a"
    versus = f"{champion_value:.4f}" if champion_value is not None else "n/a"
    reasons.append(f"challenger {metric} {shown} vs champion v{champion.version} {versus} on the holdout")
    if not better:
        reasons.append(f"challenger is not better by the margin {policy.margin:g}")
    if not parity_ok:
        reasons.append(
            f"challenger ONNX parity {challenger.exported.parity:.3g} exceeds parity_tolerance "
            f"{ws.settings.training.parity_tolerance:g} (never promoted, even with --force)"
        )
    if problems:
        reasons.append("challenger data fails quality checks: " + "; ".join(problems))
    promote = parity_ok and (force or (better and not problems))
    forced = bool(force and promote and (not better or problems))
    if promote:
        reasons.append("forced by --force" if forced else "challenger promoted")
    judged = replace(
        judged,
        decision="promote" if promote else "keep",
        forced=forced,
        challenger=ChallengerEvaluation(
            model=challenger.trained.chosen,
            metrics=challenger_metrics,
            parity_max_abs_diff=challenger.exported.parity,
            parity_ok=parity_ok,
        ),
        improvement=None if improvement in (None, float("inf")) else improvement,
    )
    return _record(ws, registry, judged, challenger if promote else None, who=who)


@dataclass(frozen=True)
class Challenger:
    """A freshly trained winner: the TrainResult, its ONNX export (bytes, contract, parity), a predictor on those
    bytes and its reference profile."""

    trained: Any  # models.training.TrainResult
    exported: Any  # engine.train.run.ExportedModel
    predictor: Any  # models.onnx_export.OnnxPredictor
    profile: dict[str, Any]


def _train_challenger(ws: Workspace, train_frame: pl.DataFrame, spec: TableSpec) -> Challenger:
    """Fit the configured candidates on the training window, export the winner to ONNX, check parity, profile it."""
    from engine.train.run import export_onnx, reference_profile
    from models.training import train

    config = ws.settings.training
    # The trained spec (used by export_onnx) may drop columns with no values in the training rows.
    trained = train(train_frame, spec, config)
    exported = export_onnx(trained)
    profile, predictor = reference_profile(
        trained, exported.onnx_bytes, exported.inputs, exported.output, seed=config.seed
    )
    return Challenger(trained, exported, predictor, profile)


def _summary(judged: RetrainDecision) -> str:
    verdict = "promoted" if judged.decision == "promote" else "kept the champion"
    return f"retrain {judged.name}: {verdict}; " + "; ".join(judged.reasons)


def _record(
    ws: Workspace, registry: Any, judged: RetrainDecision, challenger: Challenger | None, *, who: str
) -> RetrainDecision:
    """Write the decision (unless a dry run): register and promote, or record why the champion stays."""
    name = judged.name
    if judged.dry_run:
        return judged
    why = _summary(judged)
    metric = judged.metric or ""
    if challenger is not None and judged.challenger is not None:
        version = registry.register(
            name,
            _with_properties(challenger),
            _metadata(ws, name, challenger, judged, who),
            challenger.profile,
            promote=False,
            who=who,
            why=why,
        )
        registry.promote(name, version, who=who, why=why, forced=judged.forced)
        judged = replace(judged, challenger=replace(judged.challenger, version=version), promoted=True)
    else:
        details = {
            "metric": metric,
            "champion_metric": _metric_value(judged.champion.metrics if judged.champion else {}, metric),
            "challenger_metric": _metric_value(
                judged.challenger.metrics if judged.challenger else {}, metric
            ),
        }
        registry.record(name, "retrain-kept", who=who, why=why, **details)
    _info_alert(ws, name, why)
    kv_set(
        open_store(ws),
        last_retrain_key(name),
        {"at": iso(utc_now()), "decision": judged.decision, "who": who},
    )
    log.info("%s", why)
    return judged


def _with_properties(challenger: Challenger) -> bytes:
    from engine.train.run import stamp_properties

    return stamp_properties(
        challenger.exported.onnx_bytes,
        challenger.exported.inputs,
        challenger.exported.output,
        challenger.trained.threshold,
    )


def _metadata(ws: Workspace, name: str, challenger: Challenger, judged: RetrainDecision, who: str) -> dict:
    from engine.train.run import version_metadata

    trained = challenger.trained
    challenger_metrics = judged.challenger.metrics if judged.challenger else {}
    return version_metadata(
        name,
        trained,
        inputs=challenger.exported.inputs,
        output=challenger.exported.output,
        parity=challenger.exported.parity,
        source={"task": "conversion", "table": "events", "retrain": True},
        who=who,
        fractions=ws.settings.training.split,
        metrics={**trained.metrics, "holdout": challenger_metrics},
        training_window={"column": trained.spec.time_column, **judged.windows["train"]},
        holdout_window=judged.windows["holdout"],
    )


def _info_alert(ws: Workspace, name: str, message: str) -> None:
    from engine.monitoring.alerts import raise_info_alert

    raise_info_alert(ws, "retrain", message, scope=f"model:{name}", model=name)
