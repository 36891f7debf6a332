"""When to retrain on its own: on the retrain job's schedule, or when drift/performance alerts stay open.

Both paths respect `[retrain] min_interval_hours` (counted from the newest retrain decision of the model,
whoever asked for it) and end in the same `engine.train.retrain.retrain` call the CLI makes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from engine.monitoring.performance import METRICS
from engine.records import Alert, RetrainDecision
from engine.store import open_store
from engine.store.alerts import held_alerts
from engine.store.jobs import iso, kv_get, parse_iso, utc_now
from engine.train.retrain import last_retrain_key, retrain, unsupported_reason
from engine.workspace import Workspace

log = logging.getLogger("shopctl.retrain")

# Alerts on these checks count towards `[retrain] on_alert_runs`.
RETRAIN_CHECKS = ("drift", "performance")
DRIFT_METRICS = ("drift_share", "drift_score", "score_drift", "domain_auc")
# Every metric monitoring reports on a model's performance (realized or estimated).
PERFORMANCE_METRICS = METRICS


def _within_min_interval(ws: Workspace, name: str) -> str | None:
    """Why a policy retrain must wait (the last one is younger than min_interval_hours), or None."""
    last = kv_get(open_store(ws), last_retrain_key(name)) or {}
    at = parse_iso(last.get("at"))
    hours = ws.settings.retrain.min_interval_hours
    if at is not None and utc_now() - at < timedelta(hours=hours):
        return f"last retrain at {iso(at)} is within min_interval_hours={hours:g}"
    return None


def _unsupported(ws: Workspace, name: str) -> str | None:
    from engine.registry import Registry

    return unsupported_reason(name, Registry(ws).get(name).metadata)


def retrain_on_schedule(ws: Workspace, name: str, *, who: str = "daemon") -> RetrainDecision:
    """The scheduled retrain of one model, unless it cannot be retrained here or one ran within min_interval_hours."""
    wait = _unsupported(ws, name) or _within_min_interval(ws, name)
    if wait:
        return RetrainDecision.skipped(name, wait)
    return retrain(ws, name, who=who)


def open_retrain_alerts(ws: Workspace, name: str) -> list[Alert]:
    """Open drift or performance alerts of a model that have held for at least on_alert_runs runs."""
    runs = ws.settings.retrain.on_alert_runs
    return [
        alert
        for alert in held_alerts(open_store(ws), model=name, min_consecutive=runs)
        if alert.check_name in RETRAIN_CHECKS or alert.metric in DRIFT_METRICS + PERFORMANCE_METRICS
    ]


def retrain_on_alerts(ws: Workspace, name: str, *, who: str = "daemon") -> RetrainDecision | None:
    """Retrain when drift/performance alerts stayed open for on_alert_runs runs (at most once per period)."""
    if ws.settings.retrain.on_alert_runs <= 0:
        return None
    alerts = open_retrain_alerts(ws, name)
    if not alerts or _within_min_interval(ws, name) or _unsupported(ws, name):
        return None
    log.info(
        "retrain %s: %d alert(s) open for %d+ runs", name, len(alerts), ws.settings.retrain.on_alert_runs
    )
    return replace(retrain(ws, name, who=who), trigger={"alerts": [alert.id for alert in alerts]})
