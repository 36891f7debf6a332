"""`shopctl monitor run`: check one window (or a user's batch), store every figure, raise alerts, summarise.

Data-quality and KPI checks need only events; drift and performance join in for each champion model whose
inputs the session table provides (or for the model named with --input). Re-running a window replaces its
figures; a window older than the newest one monitored (a back-fill) stores its figures without opening or
resolving alerts, so the alert lifecycle always follows the newest data.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from engine.customers.mix import segment_mix_rows
from engine.errors import InputError, IntegrityError, ShopctlError
from engine.infra.lazy import import_in_background
from engine.infra.locks import workspace_lock
from engine.monitoring import kpis, quality
from engine.monitoring.alerts import evaluate, severity_rank
from engine.monitoring.sinks import drain_outbox
from engine.monitoring.windows import (
    Window,
    baseline_windows,
    check_window_end,
    iso,
    latest_window_end,
    parse_at,
    parse_duration,
    resolve_window,
)
from engine.records import MonitorRun
from engine.spec import TableSpec
from engine.store import alerts as alert_store
from engine.store.db import open_store
from engine.store.metrics import apply_retention, newest_window_end, query_metrics, save_run
from engine.workspace import Workspace

CHECK_ORDER = ("integrity", "quality", "kpi", "drift", "performance", "segments")
SCORE_COLUMNS = ("score", "prediction", "probability")
SCORE_SLICE_ROWS = 250_000
CUSUM_HISTORY = 56
MONITOR_LOCK = "monitor"
LOCK_WAIT_SECONDS = 120.0
CALENDAR_FEATURES = {"weekday": timedelta(days=7), "hour": timedelta(days=1)}


def _champions(ws: Workspace) -> list[str]:
    try:
        from engine.registry import Registry
    except ImportError:  # registry not installed in this build: data and KPI checks only
        return []
    registry = Registry(ws)
    return [
        name
        for name in registry.names()
        if registry.champion(name) is not None
        and registry.get(name).metadata.get("kind")
        not in ("order_risk", "recommendations")  # order_risk.py checks the first; recommendations: later
    ]


def _metric_row(check: str, metric: str, scope: str, value: Any, model: str, **fields: Any) -> dict[str, Any]:
    return {
        "check_name": check,
        "metric": metric,
        "scope": scope,
        "model": model,
        "value": None if value is None else float(value),
        "kind": fields.pop("kind", "realized"),
        "lower": fields.pop("lower", None),
        "upper": fields.pop("upper", None),
        "threshold": fields.pop("threshold", None),
        "status": fields.pop("status", "ok"),
        "detail": fields.pop("detail", {}),
    }


def integrity_row(name: str, error: Exception) -> dict[str, Any]:
    """A critical row for a champion whose files no longer match their sha256 (the always-on integrity rule)."""
    return _metric_row(
        "integrity",
        "model_integrity",
        f"model:{name}",
        0.0,
        name,
        status="critical",
        detail={"reason": str(error)},
    )


def integrity_failures(run: MonitorRun) -> list[str]:
    """Names of the models of a run that failed their integrity check."""
    return [info["name"] for info in run.models if info.get("integrity") == "failed"]


def drift_rows(
    report: dict[str, Any], model: str, window_length: timedelta | None = None
) -> list[dict[str, Any]]:
    """Store rows from a DriftReport's to_dict(): per-feature scores, drifted share, score drift, domain AUC.

    Calendar features (weekday, hour) are not judged on windows shorter than their cycle: one day always
    "drifts" from a reference that holds every weekday. The drifted share is recomputed without them.
    """
    scope = f"model:{model}"
    rows = []
    judged = drifted = 0
    for feature in report.get("features", []):
        cycle = CALENDAR_FEATURES.get(feature["name"])
        calendar = cycle is not None and window_length is not None and window_length < cycle
        is_judged = feature.get("method") is not None and not calendar
        judged += is_judged
        drifted += bool(is_judged and feature.get("drifted"))
        detail = {
            key: feature.get(key)
            for key in (
                "method",
                "statistic",
                "p_value",
                "p_adjusted",
                "threshold",
                "drifted",
                "severity",
                "reference_null_rate",
                "current_null_rate",
            )
        }
        detail.update(_histograms(feature.get("histogram") or {}))
        if calendar:
            detail["reason"] = (
                "calendar feature: a window shorter than its cycle always differs from the reference"
            )
        rows.append(
            _metric_row(
                "drift",
                "drift_score",
                f"feature:{feature['name']}",
                feature.get("statistic"),
                model,
                threshold=feature.get("threshold"),
                status=("warning" if feature.get("drifted") else "ok") if is_judged else "skipped",
                detail=detail,
            )
        )
    share_threshold = report.get("share_threshold") or 0.5
    share = drifted / judged if judged else 0.0
    rows.append(
        _metric_row(
            "drift",
            "drift_share",
            scope,
            share,
            model,
            threshold=share_threshold,
            status="warning" if judged and share >= share_threshold else "ok",
            detail={
                "drifted_features": [r["scope"][8:] for r in rows if r["status"] == "warning"],
                "judged_features": judged,
                "rows": report.get("rows"),
            },
        )
    )
    score = report.get("score_drift")
    if score:
        rows.append(
            _metric_row(
                "drift",
                "score_drift",
                scope,
                score.get("statistic"),
                model,
                threshold=score.get("threshold"),
                status="warning" if score.get("drifted") else "ok",
                detail={
                    **{key: score.get(key) for key in ("method", "p_value", "drifted", "severity")},
                    **_histograms(score.get("histogram") or {}),
                },
            )
        )
    multivariate = report.get("multivariate")
    if multivariate and multivariate.get("auc") is not None:
        rows.append(
            _metric_row("drift", "domain_auc", scope, multivariate["auc"], model, detail=multivariate)
        )
    return rows


def _histograms(histogram: dict[str, Any]) -> dict[str, Any]:
    """The reference and current histograms as the store convention has them (shares plus edges or labels)."""
    if "edges" in histogram:
        # Numeric histograms have one more share than edges; the profile names each bin ("≤ a", "a–b", "> z").
        bins = {"edges": histogram["edges"], "labels": histogram.get("labels")}
    else:
        bins = {"labels": histogram.get("categories")}
    return {side: {"shares": histogram.get(side), **bins} for side in ("reference", "current")}


def _reference_performance(metadata: dict[str, Any], profile: dict[str, Any]) -> dict[str, Any]:
    reference = dict((metadata.get("metrics") or {}).get("test") or {})
    for name, value in (profile.get("performance") or {}).items():
        reference.setdefault(name, value)
    return reference


def performance_rows(
    model: str,
    scores: np.ndarray,
    labels: np.ndarray | None,
    metadata: dict[str, Any],
    profile: dict[str, Any],
    labelled_scores: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Estimated (always) and realized (when labels exist) performance rows, each with its reference value."""
    from engine.monitoring.cbpe import estimate_performance
    from engine.monitoring.performance import realized_performance

    scope = f"model:{model}"
    threshold = float(metadata.get("threshold") or profile.get("threshold") or 0.5)
    reference = _reference_performance(metadata, profile)
    rows = []
    try:
        estimated = estimate_performance(scores, profile, threshold)
    except InputError as error:  # no finite scores, or a profile built without labels (no calibration table)
        estimated = {}
        rows.append(
            _metric_row(
                "performance",
                "roc_auc",
                scope,
                None,
                model,
                kind="estimated",
                status="skipped",
                detail={"reason": str(error)},
            )
        )
    for name, band in estimated.items():
        rows.append(
            _metric_row(
                "performance",
                name,
                scope,
                band.get("value"),
                model,
                kind="estimated",
                lower=band.get("lower"),
                upper=band.get("upper"),
                detail={"reference": reference.get(name)},
            )
        )
    if labels is not None and labels.size:
        positives = int((labels > 0.5).sum())
        labelled = scores if labelled_scores is None else labelled_scores
        for name, value in realized_performance(labels, labelled, threshold).items():
            if name in ("rows", "base_rate"):
                continue
            interval = (
                auc_band(value, positives, int(labels.size) - positives)
                if name == "roc_auc" and value is not None
                else (None, None)
            )
            rows.append(
                _metric_row(
                    "performance",
                    name,
                    scope,
                    value,
                    model,
                    lower=interval[0],
                    upper=interval[1],
                    detail={
                        "reference": reference.get(name),
                        "rows": int(labels.size),
                        "positives": positives,
                    },
                )
            )
    return rows


def auc_band(
    auc: float | None, positives: int, negatives: int, sigmas: float = 2.0
) -> tuple[float | None, ...]:
    """A ±sigmas band around a realized ROC AUC from the Hanley–McNeil (1982) standard error."""
    if auc is None or positives < 1 or negatives < 1:
        return (None, None)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
        positives * negatives
    )
    spread = sigmas * max(variance, 0.0) ** 0.5
    return (max(0.0, auc - spread), min(1.0, auc + spread))


def _model_checks(
    ws: Workspace,
    name: str,
    frame: pl.DataFrame,
    sessions: pl.DataFrame | None,
    window_length: timedelta | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Drift, performance and predicted conversion of one model on a feature frame."""
    from engine.monitoring.drift import drift_report, score_drift
    from engine.registry import Registry

    version = Registry(ws).get(name)
    metadata, profile = version.metadata, version.profile
    spec = TableSpec.from_dict(metadata.get("spec") or profile.get("spec") or {})
    info = {"name": name, "version": version.version, "rows": frame.height}
    missing = [column for column in spec.features if column not in frame.columns]
    has_scores = any(column in frame.columns for column in SCORE_COLUMNS)
    if frame.is_empty():
        info["skipped"] = "no rows in the window"
        return [], info
    if missing and not has_scores:
        info["skipped"] = (
            f"the data lacks the model's input column(s) {', '.join(missing[:5])} and a score column"
        )
        return [
            _metric_row(
                "drift",
                "drift_share",
                f"model:{name}",
                None,
                name,
                status="skipped",
                detail={"reason": info["skipped"]},
            )
        ], info
    if missing:  # scores only (what `shopctl score` writes by default): performance, but no feature drift
        scores = _scores(ws, name, frame)
        info["drift_skipped"] = f"no feature column(s) {', '.join(missing[:5])} in the data"
        rows = [
            _metric_row(
                "drift",
                "drift_share",
                f"model:{name}",
                None,
                name,
                status="skipped",
                detail={"reason": info["drift_skipped"]},
            )
        ]
    else:
        # The model scores the frame on a worker while the feature and joint drift are computed here: both
        # spend most of their time in onnxruntime, polars or scikit-learn, which release the GIL.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopctl-score") as pool:
            scoring = pool.submit(_scores, ws, name, frame)
            report = drift_report(profile, frame, ws.settings.monitor)
            scores = scoring.result()
        report = replace(report, score_drift=score_drift(profile, scores, ws.settings.monitor))
        rows = drift_rows(report.to_dict(), name, window_length)
    if spec.task == "binary":
        labels, labelled_scores = None, scores
        if spec.target and spec.target in frame.columns:
            values = frame.get_column(spec.target).cast(pl.Float64, strict=False).to_numpy()
            known = np.isfinite(values)
            if known.any():
                labels, labelled_scores = values[known], scores[known]
        rows += performance_rows(name, scores, labels, metadata, profile, labelled_scores)
        if sessions is not None and "session_id" in frame.columns:
            score_frame = pl.DataFrame({"session_id": frame.get_column("session_id"), "score": scores})
            monitor = ws.settings.monitor
            rows += [
                {**row, "model": name}
                for row in kpis.predicted_conversion_rows(
                    sessions, score_frame, monitor.segments, name, monitor.anomaly_z
                )
            ]
    return rows, info


def _scores(ws: Workspace, name: str, frame: pl.DataFrame) -> np.ndarray:
    for column in SCORE_COLUMNS:
        if column in frame.columns:
            return frame.get_column(column).cast(pl.Float64).to_numpy()
    from engine.infra.prefetch import read_ahead
    from engine.scoring import load_model

    model = load_model(ws, name)
    if frame.is_empty():
        return np.empty(0, dtype=np.float64)
    # In slices, so the model's input matrices for a million rows are never held at once, and the next
    # slice's inputs are prepared while this one runs.
    parts = (
        model.feeds_from_frame(frame.slice(start, SCORE_SLICE_ROWS))
        for start in range(0, frame.height, SCORE_SLICE_ROWS)
    )
    return np.concatenate([model.run(feeds) for feeds in read_ahead(parts)])


def _session_table(ws: Workspace, events: pl.LazyFrame, window: Window) -> pl.DataFrame:
    from engine.features import session_features

    dimensions = list(ws.settings.schema.dimensions)
    table = session_features(events.filter(pl.col("event_time") < window.data_end), dimensions)
    return table.filter(
        (pl.col("session_start") >= window.start) & (pl.col("session_start") < window.data_end)
    ).collect()


def flagged_baselines(store: Any, baselines: list[Window]) -> dict[tuple[str, str], set[int]]:
    """(metric, scope) -> the baseline windows (1 = the newest) whose own stored KPI row was flagged anomalous.

    Those windows stay out of the baseline, so a two-week incident is judged against the weeks before it in
    its second week too, instead of being absorbed by a baseline that already holds it.
    """
    if not baselines:
        return {}
    number = {iso(window.end): position for position, window in enumerate(baselines, start=1)}
    stored = query_metrics(
        store,
        check_name="kpi",
        model="",
        kind="realized",
        since=iso(min(window.end for window in baselines) - timedelta(microseconds=1)),
        until=iso(max(window.end for window in baselines)),
        window_length_seconds=baselines[0].length.total_seconds(),
    )
    flagged: dict[tuple[str, str], set[int]] = {}
    for row in stored:
        position = number.get(row["window_end"])
        if position is None or row["status"] == "skipped" or not (row["detail"] or {}).get("anomaly"):
            continue
        flagged.setdefault((row["metric"], row["scope"]), set()).add(position)
    return flagged


def _apply_cusum(store: Any, rows: list[dict[str, Any]], window: Window) -> None:
    """Add a lower CUSUM over earlier windows' z-scores to each judged conversion row (slow declines)."""
    for row in rows:
        z = (row.get("detail") or {}).get("z")
        if row["check_name"] != "kpi" or row["metric"] != "conversion_rate" or z is None:
            continue
        if row["status"] == "skipped":
            continue
        history = query_metrics(
            store,
            metric="conversion_rate",
            scope=row["scope"],
            model="",
            check_name="kpi",
            kind="realized",
            until=iso(window.end),
            window_length_seconds=window.length.total_seconds(),
            limit=CUSUM_HISTORY,
        )
        earlier = [item["detail"].get("z") for item in history if item["window_end"] < iso(window.end)]
        statistic = kpis.cusum_lower([value for value in earlier if value is not None] + [z])
        row["detail"]["cusum"] = statistic
        row["detail"]["cusum_alarm"] = statistic > kpis.CUSUM_H
        if statistic > kpis.CUSUM_H:
            row["status"] = "warning"


def _read_batch(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"{path}: no such file; pass the table `shopctl score` wrote or a training table")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith(".parquet"):
            return pl.read_parquet(path)
        if suffix.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
            return pl.read_ndjson(path)
        return pl.read_csv(path, infer_schema_length=None, separator="\t" if ".tsv" in suffix else ",")
    except (pl.exceptions.PolarsError, OSError) as error:
        raise InputError(
            f"{path}: cannot read as a table ({error}); use Parquet, CSV or JSON Lines"
        ) from None


def _check_batch(path: Path, frame: pl.DataFrame, name: str, version: int, spec: TableSpec) -> None:
    """Refuse an --input table the model can be checked on not at all: no rows, or neither its inputs nor scores."""
    if frame.is_empty():
        raise InputError(f"{path}: no rows to check; pass a table with at least one row")
    missing = [column for column in spec.features if column not in frame.columns]
    if missing and not any(column in frame.columns for column in SCORE_COLUMNS):
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{path}: lacks {len(missing)} input column(s) of model {name!r} v{version} ({shown}) and has no "
            f"score column; add them, or pass the file `shopctl score {name}` wrote"
        )


def _summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    names = sorted({row["check_name"] for row in rows}, key=lambda n: (CHECK_ORDER + (n,)).index(n))
    for name in names:
        members = [row for row in rows if row["check_name"] == name]
        counts = Counter(row["status"] for row in members)
        status = next((s for s in ("critical", "warning", "ok") if counts.get(s)), "skipped")
        checks.append({"name": name, "status": status, "counts": dict(counts), "metrics": members})
    return checks


def _checked_at(
    at: str | date | datetime | None, length: timedelta, weeks: int, now: datetime
) -> datetime | None:
    """`--at` parsed and bounded (not in the future, baselines not before 1970), or None for the default."""
    end = parse_at(at)
    return None if end is None else check_window_end(end, length, weeks, now)


@dataclass
class _Checked:
    """What one run checked: its metric rows and models, before they are stored and judged for alerts."""

    current: Window
    baselines: list[Window]
    source: str  # "events", or the resolved path of the checked file
    model: str  # the model named by --model ("" when every champion was checked)
    rows: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_monitor(
    ws: Workspace,
    *,
    model: str | None = None,
    window: str | None = None,
    at: str | date | datetime | None = None,
    input_path: str | Path | None = None,
    engine: str = "local",
    master: str | None = None,
) -> MonitorRun:
    """Check one window against the reference profile and history, store it, raise alerts; the run's record.

    `engine="spark"` (with input_path) computes the drift of a batch too large for this machine on Spark
    (engine.spark.drift: only counts reach the driver); table quality, performance and the domain classifier
    need the rows themselves and are left out of such a run, which says so per model."""
    monitor = ws.settings.monitor
    length = parse_duration(window or monitor.window, source="--window" if window else "[monitor] window")
    now = datetime.now(UTC)
    at_end = _checked_at(at, length, monitor.baseline_weeks, now)
    store = open_store(ws)
    if engine not in ("local", "spark"):
        raise InputError(f"--engine {engine!r}: use local or spark")
    if engine == "spark":
        if input_path is None:
            raise InputError(
                "--engine spark checks a batch you bring: add --input PATH (a Parquet file or folder); "
                "the event store's windows are checked locally"
            )
        checked = _check_file_on_spark(ws, str(input_path), model, at_end, length, now, master)
    elif input_path is not None:
        checked = _check_file(ws, Path(input_path), model, at is None, at_end, length, now)
    else:
        checked = _check_events(ws, store, model, at_end, length, now)
    for row in checked.rows:
        row.setdefault("model", "")
    _apply_cusum(store, checked.rows, checked.current)
    return _record(ws, store, checked, now)


def _load_scikit_learn_meanwhile() -> None:
    """Start importing scikit-learn (a second of imports, for the domain classifier) on a worker thread, so it
    loads while the batch is read and checked: the reads and checks release the GIL most of the time."""
    import_in_background("sklearn.ensemble", "sklearn.model_selection")


def _check_file(
    ws: Workspace,
    path: Path,
    model: str | None,
    window_from_times: bool,
    at_end: datetime | None,
    length: timedelta,
    now: datetime,
) -> _Checked:
    """A scored or raw batch file against one model's profile: table quality, drift and performance."""
    from engine.registry import Registry

    names = [model] if model else _champions(ws)
    if len(names) != 1:
        raise InputError(
            f"--input {path}: name the model to check it against with --model "
            f"(registered champions: {', '.join(names) or 'none'})"
        )
    name = names[0]
    _load_scikit_learn_meanwhile()
    frame = _read_batch(path)
    version = Registry(ws).get(name)
    spec = TableSpec.from_dict(version.metadata.get("spec") or {})
    _check_batch(path, frame, name, version.version, spec)
    end = at_end or (datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1))
    current = Window(end - length, end)
    # Without --at, a batch with a time column is its own window: from its first time to its last.
    if window_from_times and spec.time_column and spec.time_column in frame.columns and frame.height:
        times = frame.get_column(spec.time_column).cast(pl.Datetime("us", "UTC"), strict=False)
        if times.null_count() < frame.height:
            first, last = cast(datetime, times.min()), cast(datetime, times.max())
            current = Window(first, last + timedelta(microseconds=1))
    checked = _Checked(current=current, baselines=[], source=str(path.resolve()), model=name)
    checked.rows += quality.table_quality(
        frame, version.profile, spec.numeric, spec.categorical, spec.id_columns
    )
    try:
        model_rows, info = _model_checks(ws, name, frame, None, current.length)
    except IntegrityError as error:
        model_rows = [integrity_row(name, error)]
        checked.errors.append(f"model {name}: {error}")
        info = {"name": name, "version": version.version, "integrity": "failed", "skipped": str(error)}
    checked.rows += model_rows
    checked.models.append(info)
    return checked


def _check_file_on_spark(
    ws: Workspace,
    path: str,
    model: str | None,
    at_end: datetime | None,
    length: timedelta,
    now: datetime,
    master: str | None,
) -> _Checked:
    """Feature and score drift of a Parquet batch, computed on Spark, against one model's profile."""
    from engine.registry import Registry
    from engine.spark.drift import spark_drift_report  # pyspark: only when asked for

    names = [model] if model else _champions(ws)
    if len(names) != 1:
        raise InputError(
            f"--input {path}: name the model to check it against with --model "
            f"(registered champions: {', '.join(names) or 'none'})"
        )
    name = names[0]
    version = Registry(ws).get(name)
    end = at_end or (datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1))
    current = Window(end - length, end)
    report = spark_drift_report(ws, name, path, master=master)
    checked = _Checked(current=current, baselines=[], source=path, model=name)
    checked.rows += drift_rows(report.to_dict(), name, current.length)
    checked.models.append(
        {
            "name": name,
            "version": version.version,
            "engine": "spark",
            "skipped": "table quality, performance and the domain classifier need the rows: local only",
        }
    )
    return checked


def _check_events(
    ws: Workspace, store: Any, model: str | None, at_end: datetime | None, length: timedelta, now: datetime
) -> _Checked:
    """The event store's window against its same-weekday baselines: data quality, KPIs, then every model."""
    from engine.events import scan_events

    monitor = ws.settings.monitor
    names = [model] if model else _champions(ws)
    if names:
        _load_scikit_learn_meanwhile()
    events = scan_events(ws)
    newest = events.select(pl.col("event_time").max()).collect().item()
    current = resolve_window(length, at_end, newest)
    baselines = baseline_windows(current, monitor.baseline_weeks)
    checked = _Checked(current=current, baselines=baselines, source="events", model=model or "")
    dimensions = list(ws.settings.schema.dimensions)
    # Read the current and baseline windows once; every check below works on this in-memory slice.
    earliest = min(w.start for w in (current, *baselines))
    scoped = (
        events.filter((pl.col("event_time") >= earliest) & (pl.col("event_time") < current.data_end))
        .collect()
        .lazy()
    )
    newest_before_end = newest if newest is not None and newest < current.end else None
    if newest_before_end is None:
        newest_before_end = (
            events.filter(pl.col("event_time") < current.end)
            .select(pl.col("event_time").max())
            .collect()
            .item()
        )
    checked.rows += quality.event_quality(
        scoped, current, baselines, dimensions, monitor, now, newest_before_end
    )
    checked.rows += quality.quarantine_rows(ws.data_dir / "ingests.jsonl")
    segments = [name for name in monitor.segments if name in (*dimensions, "visitor_type")]
    history = events.select("user_id", "event_time")
    sessions = kpis.session_frame(scoped, [current, *baselines], segments, monitor.funnel, history)
    counts = kpis.segment_counts(sessions, segments, monitor.funnel)
    checked.rows += kpis.kpi_metrics(counts, monitor, len(baselines), flagged_baselines(store, baselines))
    checked.rows += segment_mix_rows(store)  # the newest customer-segment build against the one before
    from engine.forecast.scoring import forecast_rows  # stored forecasts against the actuals landed since

    checked.rows += forecast_rows(store, events, current.end)

    from engine.monitoring.order_risk import order_risk_rows  # share of orders above an order-risk threshold

    try:
        checked.rows += order_risk_rows(ws, events, current, baselines, dimensions)[0]
    except ShopctlError as error:
        checked.errors.append(f"order risk: {error}")
    if not names:
        return checked
    table = _session_table(ws, events, current)
    for name in names:
        try:
            model_rows, info = _model_checks(ws, name, table, sessions, current.length)
        except IntegrityError as error:
            checked.rows.append(integrity_row(name, error))
            checked.errors.append(f"model {name}: {error}")
            checked.models.append(
                {"name": name, "version": None, "integrity": "failed", "skipped": str(error)}
            )
            continue
        except Exception as error:  # noqa: BLE001 - one broken model must not stop the shop's KPI checks
            if model:
                raise
            kind = "" if isinstance(error, ShopctlError) else f"{type(error).__name__}: "
            checked.errors.append(f"model {name}: {kind}{error}")
            continue
        checked.rows += model_rows
        checked.models.append(info)
    return checked


def _record(ws: Workspace, store: Any, checked: _Checked, now: datetime) -> MonitorRun:
    """Judge the rows for alerts and store the run (under the monitor lock), deliver, and build the summary."""
    current, rows, models = checked.current, checked.rows, checked.models
    length_seconds = current.length.total_seconds()
    checks = _summarise(rows)
    # The daemon, a cron job and a person may run the monitor at once: alert transitions and the run's
    # figures are written by one of them at a time, so a condition never opens two alerts.
    with workspace_lock(ws, MONITOR_LOCK, wait_seconds=LOCK_WAIT_SECONDS, purpose="monitor run"):
        newest_end = newest_window_end(
            store,
            model=checked.model,
            source=checked.source,
            length_seconds=length_seconds,
            not_after=iso(latest_window_end(current.length, now)),
        )
        backfill = newest_end is not None and newest_end > iso(current.end)
        firing = evaluate(
            ws,
            store,
            rows,
            window_end=iso(current.end),
            length_seconds=length_seconds,
            update_lifecycle=not backfill,
        )
        worst = max((severity_rank(item["severity"]) for item in firing), default=-1)
        status = {2: "critical", 1: "warning"}.get(worst, "ok")
        summary = {
            "checks": {check["name"]: check["status"] for check in checks},
            "firing": len(firing),
            "models": [info["name"] for info in models],
        }
        run_id = save_run(
            store,
            model=checked.model,
            model_version=models[0]["version"] if len(models) == 1 else None,
            source=checked.source,
            window_start=iso(current.start),
            window_end=iso(current.end),
            started=iso(now),
            finished=iso(datetime.now(UTC)),
            status=status,
            summary=summary,
            metrics=rows,
        )
    retention = apply_retention(store, ws.settings.monitor.retention_days)
    # Webhook and command deliveries were only queued above: they go out now that the figures are stored and
    # the lock is released, bounded by [alerts] webhook_deadline_seconds; what is left waits in the outbox.
    deliveries = drain_outbox(ws, store)
    watched = {"", checked.model, *(info["name"] for info in models)}
    open_alerts = [alert for alert in alert_store.active_alerts(store) if alert.model in watched]
    return MonitorRun(
        run_id=run_id,
        status=status,
        source=checked.source,
        model=checked.model or None,
        models=models,
        window=current,
        baseline_windows=checked.baselines,
        backfill=backfill,
        checks=checks,
        firing=firing,
        alerts=[alert.payload() for alert in open_alerts],
        errors=checked.errors,
        retention=retention,
        deliveries=deliveries,
    )


def alerts_at_or_above(run: MonitorRun, fail_on: str) -> list[dict[str, Any]]:
    """The open alerts of a run at or above a severity (what makes `--fail-on` exit 3)."""
    floor = severity_rank(fail_on)
    return [alert for alert in run.alerts if severity_rank(alert["severity"]) >= floor]
