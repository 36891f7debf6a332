"""The loaders behind the drift, KPI, alert and job screens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.dashboard.files import load_daemon
from engine.dashboard.histograms import parse_histogram
from engine.dashboard.model import (
    ALERT_ROWS,
    JOB_RUN_ROWS,
    SEVERITIES,
    DaemonState,
    DriftView,
    FeatureDrift,
    JobRow,
    JobRunRow,
    JobsView,
    KpiView,
    parse_time,
)
from engine.dashboard.reads import (
    as_number,
    kpi_row,
    latest_window,
    parse_detail,
    reader,
    resolve_now,
    rows_at,
)
from engine.errors import ShopctlError
from engine.records import Alert
from engine.scheduling.triggers import describe_trigger
from engine.store.alerts import newest_alerts
from engine.store.db import Store
from engine.store.jobs import last_run, recent_runs
from engine.workspace import Workspace


def read_drift(store: Store) -> DriftView:
    window_end = latest_window(store, "drift_score", "feature:%")
    if window_end is None:
        return DriftView(None, ())
    features = []
    for row in rows_at(store, "drift_score", "feature:%", window_end):
        detail = parse_detail(row["detail_json"])
        drifted = detail.get("drifted")
        features.append(
            FeatureDrift(
                model=row["model"],
                feature=row["scope"].removeprefix("feature:"),
                method=str(detail.get("method", "")),
                statistic=as_number(detail.get("statistic", row["value"])),
                p_value=as_number(detail.get("p_value")),
                threshold=as_number(detail.get("threshold", row["threshold"])),
                # A skipped check (e.g. a calendar feature on a short window) is never counted as drift.
                drifted=row["status"] != "skipped"
                and (bool(drifted) if drifted is not None else row["status"] in ("warning", "critical")),
                status=row["status"],
                histogram=parse_histogram(detail),
                reported_severity=as_number(detail.get("severity")),
                note=str(detail.get("reason") or ""),
            )
        )
    features.sort(key=lambda f: (not f.drifted, f.status == "skipped", -f.severity, f.model, f.feature))
    return DriftView(parse_time(window_end), tuple(features))


def load_drift(ws: Workspace) -> DriftView:
    """Every feature of the newest drift check, most severe first."""
    with reader(ws) as store:
        return read_drift(store)


def read_kpis(store: Store, funnel_order: list[str]) -> KpiView:
    window_end = latest_window(store, "conversion_rate")
    if window_end is None:
        return KpiView(None, None, (), (), ())
    rows = [
        r
        for r in rows_at(store, "%", "%", window_end)
        if r["check_name"] == "kpi" and r["kind"] != "baseline"
    ]
    sessions = {r["scope"]: r["value"] for r in rows if r["metric"] == "sessions"}
    overall = [kpi_row(r) for r in rows if r["scope"] == "overall" and not r["metric"].startswith("funnel:")]
    funnel = [kpi_row(r) for r in rows if r["scope"] == "overall" and r["metric"].startswith("funnel:")]
    steps = {step: index for index, step in enumerate(funnel_order)}
    funnel.sort(key=lambda r: steps.get(r.metric.removeprefix("funnel:").split("->")[0], len(steps)))
    segments = [
        kpi_row(r, sessions.get(r["scope"]))
        for r in rows
        if r["scope"].startswith("segment:") and r["metric"] == "conversion_rate"
    ]
    segments.sort(key=lambda r: r.segment)
    window_start = next((r["window_start"] for r in rows), None)
    return KpiView(
        parse_time(window_start), parse_time(window_end), tuple(overall), tuple(funnel), tuple(segments)
    )


def load_kpis(ws: Workspace) -> KpiView:
    """The newest KPI window: overall KPIs, funnel steps in funnel order, conversion per segment."""
    with reader(ws) as store:
        return read_kpis(store, list(ws.settings.monitor.funnel))


_STATE_ORDER = {"open": 0, "acknowledged": 1, "resolved": 2}
_SEVERITY_ORDER = {name: index for index, name in enumerate(SEVERITIES)}


def read_alerts(store: Store, limit: int) -> tuple[Alert, ...]:
    alerts = newest_alerts(store, limit)
    alerts.sort(key=lambda a: (_STATE_ORDER.get(a.state, 3), _SEVERITY_ORDER.get(a.severity, 3), -a.id))
    return tuple(alerts[:limit])


def load_alerts(ws: Workspace, *, limit: int = ALERT_ROWS) -> tuple[Alert, ...]:
    """Open alerts first (most severe first), then acknowledged, then the most recently resolved."""
    with reader(ws) as store:
        return read_alerts(store, limit)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def _describe_trigger(job_id: str, config: Any) -> str:
    """The trigger as `daemon status` describes it ('interval 900s', 'cron 0 3 * * 1')."""
    try:
        return describe_trigger(job_id, config)
    except ShopctlError as error:
        return f"invalid: {error}"


def read_jobs(store: Store, ws: Workspace, now: datetime, daemon: DaemonState) -> JobsView:
    configured = ws.settings.schedule.jobs
    scheduled = {job.id: job for job in daemon.jobs} if daemon.running else {}
    jobs = []
    for job_id in sorted(set(configured) | set(scheduled)):
        config = configured.get(job_id)
        last_row = last_run(store, job_id)
        started = last_row.started if last_row else None
        finished = last_row.finished if last_row else None
        running = last_row is not None and last_row.running
        trigger = _describe_trigger(job_id, config) if config else scheduled[job_id].trigger
        jobs.append(
            JobRow(
                job_id,
                trigger,
                config.enabled if config else True,
                scheduled[job_id].next_run if job_id in scheduled else None,
                last_row.status if last_row else None,
                started,
                _seconds(started, now if running else finished),
            )
        )
    runs = []
    for r in recent_runs(store, limit=JOB_RUN_ROWS):
        seconds = _seconds(r.started, now if r.running else r.finished)
        runs.append(JobRunRow(r.id, r.job_id, r.trigger, r.started, seconds, r.status, r.error or ""))
    return JobsView(daemon, tuple(jobs), tuple(runs))


def load_jobs(ws: Workspace, *, now: datetime | None = None) -> JobsView:
    """Configured and scheduled jobs with their last run, and the newest runs of every job."""
    with reader(ws) as store:
        return read_jobs(store, ws, resolve_now(now), load_daemon(ws))
