"""The TUI's read model: plain dataclasses loaded from the store, the registry folders and state/daemon.json.

Every loader reads with indexed, bounded queries so the console opens fast on months of history, and returns
frozen dataclasses so the TUI can repaint only what compares unequal to what it last showed. Plain Python,
sqlite and json: no console library, no ML stack.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.dashboard.files import champion_created, load_daemon, load_model_view, load_models, model_names
from engine.dashboard.model import (
    ALERT_ROWS,
    QUALITY_METRICS,
    SERIES_DAYS,
    SEVERITIES,
    Champion,
    ConsoleData,
    DaemonState,
    Dashboard,
    DriftTile,
    DriftView,
    FeatureDrift,
    Histogram,
    HistoryRow,
    JobRow,
    JobRunRow,
    JobsView,
    KpiRow,
    KpiTile,
    KpiView,
    ModelView,
    Point,
    QualityTile,
    ScheduledJob,
    VersionRow,
    parse_time,
)
from engine.dashboard.reads import (
    kpi_row,
    latest_window,
    read_series,
    reader,
    resolve_now,
    rows_at,
)
from engine.dashboard.screens import (
    load_alerts,
    load_drift,
    load_jobs,
    load_kpis,
    read_alerts,
    read_drift,
    read_jobs,
    read_kpis,
)
from engine.dashboard.segments import read_segments
from engine.store.alerts import open_counts
from engine.store.db import Store
from engine.store.metrics import monitored_through
from engine.workspace import Workspace


def _quality(store: Store) -> tuple[QualityTile | None, str, str]:
    """The newest model-quality value (realized when known for that window, else estimated)."""
    for metric in QUALITY_METRICS:
        window_end = latest_window(store, metric, "model:%")
        if window_end is None:
            continue
        rows = rows_at(store, metric, "model:%", window_end)
        rows.sort(key=lambda r: (r["kind"] != "realized", r["scope"]))
        row = rows[0]
        tile = QualityTile(
            row["scope"].removeprefix("model:"),
            metric,
            row["value"],
            row["kind"],
            row["lower"],
            row["upper"],
            row["status"],
            parse_time(window_end),
        )
        return tile, metric, row["scope"]
    return None, "roc_auc", ""


def _champions(ws: Workspace, now: datetime) -> tuple[Champion, ...]:
    champions = []
    for name in model_names(ws):
        version, created_text = champion_created(ws, name)
        created = parse_time(created_text)
        age = (now - created).total_seconds() / 86400 if created else None
        champions.append(Champion(name, version, created, age))
    return tuple(champions)


def _dashboard(
    store: Store, ws: Workspace, now: datetime, daemon: DaemonState, drift: DriftView
) -> Dashboard:
    since = now - timedelta(days=SERIES_DAYS)
    conversion = None
    window_end = latest_window(store, "conversion_rate", "overall")
    if window_end is not None:
        rows = [
            r for r in rows_at(store, "conversion_rate", "overall", window_end) if r["kind"] != "baseline"
        ]
        if rows:
            row = kpi_row(rows[-1])
            conversion = KpiTile(
                "conversion_rate",
                row.value,
                row.baseline,
                row.lower,
                row.upper,
                row.status,
                parse_time(window_end),
            )
    quality, quality_metric, quality_scope = _quality(store)
    drift_tile = None
    if drift.features:
        models = sorted({f.model for f in drift.features})
        share_rows = (
            rows_at(store, "drift_share", "model:%", drift.window_end.isoformat()) if drift.window_end else []
        )
        share = share_rows[0]["value"] if share_rows else None
        drifting = sum(f.drifted for f in drift.features)
        status = max(
            (f.status for f in drift.features),
            key=lambda s: ("ok", "warning", "critical").index(s) if s in ("ok", "warning", "critical") else 0,
        )
        drift_tile = DriftTile(
            ", ".join(models), drifting, len(drift.features), share, status, drift.window_end
        )
    counts = dict.fromkeys(SEVERITIES, 0)
    counts.update(open_counts(store))
    jobs = [job for job in daemon.jobs if job.next_run is not None] if daemon.running else []
    monitor_jobs = [job for job in jobs if job.id == "monitor"] or jobs
    next_check = min(monitor_jobs, key=lambda job: job.next_run) if monitor_jobs else None  # type: ignore[arg-type, return-value]
    through, finished = monitored_through(store)
    drift_scope = f"model:{drift.features[0].model}" if drift.features else ""
    return Dashboard(
        now=now,
        conversion=conversion,
        quality=quality,
        drift=drift_tile,
        open_alerts=tuple(counts.items()),
        champions=_champions(ws, now),
        next_check=next_check,
        data_through=parse_time(through),
        last_run_finished=parse_time(finished),
        daemon=daemon,
        conversion_series=read_series(store, "conversion_rate", "overall", since, "realized"),
        quality_metric=quality_metric,
        quality_realized=read_series(store, quality_metric, quality_scope, since, "realized")
        if quality_scope
        else (),
        quality_estimated=read_series(store, quality_metric, quality_scope, since, "estimated")
        if quality_scope
        else (),
        drift_share_series=read_series(store, "drift_share", drift_scope, since) if drift_scope else (),
    )


def load_dashboard(ws: Workspace, *, now: datetime | None = None) -> Dashboard:
    """The overview: headline tiles and 90 days of conversion, model quality and drift share."""
    moment = resolve_now(now)
    with reader(ws) as store:
        return _dashboard(store, ws, moment, load_daemon(ws), read_drift(store))


def load_console(ws: Workspace, *, now: datetime | None = None) -> ConsoleData:
    """One refresh of every screen, read through one connection."""
    moment = resolve_now(now)
    daemon = load_daemon(ws)
    with reader(ws) as store:
        drift = read_drift(store)
        return ConsoleData(
            dashboard=_dashboard(store, ws, moment, daemon, drift),
            drift=drift,
            kpis=read_kpis(store, list(ws.settings.monitor.funnel)),
            alerts=read_alerts(store, ALERT_ROWS),
            models=load_models(ws),
            jobs=read_jobs(store, ws, moment, daemon),
            segments=read_segments(store),
        )


__all__ = [
    "Champion",
    "ConsoleData",
    "DaemonState",
    "Dashboard",
    "DriftTile",
    "DriftView",
    "FeatureDrift",
    "Histogram",
    "HistoryRow",
    "JobRow",
    "JobRunRow",
    "JobsView",
    "KpiRow",
    "KpiTile",
    "KpiView",
    "ModelView",
    "Point",
    "QualityTile",
    "ScheduledJob",
    "VersionRow",
    "load_alerts",
    "load_console",
    "load_daemon",
    "load_dashboard",
    "load_drift",
    "load_jobs",
    "load_kpis",
    "load_model_view",
    "load_models",
    "parse_time",
]
