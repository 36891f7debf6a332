"""Experiments kept in the store, and the scheduled re-analysis that alerts on an SRM or a significant result.

`shopctl experiment analyze` records the experiment (its dimension, metric, unit and options) and each result.
The daemon's `experiments` task analyses every running experiment again with `--sequential` forced on (peeking
on a schedule is what a fixed-horizon test cannot survive) and raises an alert through the configured sinks
when a sample-ratio mismatch appears or a confidence sequence leaves zero; each alert opens once, resolves when
its condition clears, and a rerun with no new data changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.analytics.experiments import ExperimentQuery, analyze_experiment, parse_day
from engine.clock import now_text
from engine.errors import ShopctlError
from engine.monitoring import sinks
from engine.store import alerts as alert_store
from engine.store import experiments as experiment_store
from engine.store.db import open_store
from engine.workspace import Workspace

SRM_RULE = "experiment-srm"
SIGNIFICANT_RULE = "experiment-significant"


def record_analysis(ws: Workspace, query: ExperimentQuery, payload: dict[str, Any]) -> dict[str, int]:
    """Store the experiment and this analysis of it; returns their ids."""
    store = open_store(ws)
    at = now_text()
    experiment_id = experiment_store.upsert_experiment(
        store,
        dimension=query.dimension,
        metric=query.metric,
        unit=payload["experiment"]["unit"],
        query=query.to_dict(),
        at=at,
    )
    result_id = experiment_store.record_result(store, experiment_id, payload, at=at)
    return {"experiment_id": experiment_id, "result_id": result_id}


def list_experiments(ws: Workspace, *, running_only: bool = False) -> list[dict[str, Any]]:
    """Every stored experiment with its newest analysis (what `experiment list` and the TUI show)."""
    return experiment_store.list_experiments(open_store(ws), status="running" if running_only else None)


def stored_query(experiment: dict[str, Any]) -> ExperimentQuery:
    """The query an experiment was last analysed with."""
    saved = dict(experiment["query"])
    saved["since"] = parse_day(saved.get("since"), "since")
    saved["until"] = parse_day(saved.get("until"), "until")
    known = set(ExperimentQuery.__dataclass_fields__)
    return ExperimentQuery(**{key: value for key, value in saved.items() if key in known})


def _scope(experiment: dict[str, Any]) -> str:
    return f"experiment:{experiment['dimension']}:{experiment['metric']}:{experiment['unit']}"


def _raise_or_resolve(
    ws: Workspace,
    *,
    rule: str,
    metric: str,
    scope: str,
    firing: bool,
    severity: str,
    message: str,
    value: float,
) -> str:
    """Open the alert once while `firing`, resolve it once it is not; returns what happened."""
    store = open_store(ws)
    active = alert_store.active_alert(store, rule=rule, metric=metric, scope=scope, model="")
    now = now_text()
    if firing and active is None:
        alert_id = alert_store.insert_alert(
            store,
            {
                "rule": rule,
                "metric": metric,
                "scope": scope,
                "model": "",
                "severity": severity,
                "state": "open",
                "message": message,
                "value": value,
                "opened": now,
                "updated": now,
                "consecutive": 1,
            },
        )
        alert = alert_store.get_alert(store, alert_id)
        if alert is not None:
            sinks.deliver(ws, store, alert)
        return "opened"
    if firing and active is not None:
        alert_store.update_alert(
            store,
            active.id,
            {"message": message, "value": value, "updated": now, "consecutive": active.consecutive + 1},
        )
        return "held"
    if active is not None:
        alert_store.update_alert(store, active.id, {"state": "resolved", "resolved": now, "updated": now})
        return "resolved"
    return "none"


def analyze_running(ws: Workspace) -> dict[str, Any]:
    """Analyse every running experiment (sequentially), store the results and raise or resolve alerts."""
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    for experiment in list_experiments(ws, running_only=True):
        label = f"{experiment['dimension']} ({experiment['metric']} by {experiment['unit']})"
        try:
            query = replace(stored_query(experiment), sequential=True)
            payload = analyze_experiment(ws, query)
        except ShopctlError as error:
            failures.append(f"{label}: {error}")
            continue
        ids = record_analysis(ws, query, payload)
        scope = _scope(experiment)
        srm = payload["srm"]
        srm_action = _raise_or_resolve(
            ws,
            rule=SRM_RULE,
            metric="srm_p_value",
            scope=scope,
            firing=srm["mismatch"],
            severity="critical",
            message=f"experiment {label}: {payload['verdict']}",
            value=srm["p_value"],
        )
        winners = [row for row in payload["comparisons"] if row["significant"]]
        significant_action = _raise_or_resolve(
            ws,
            rule=SIGNIFICANT_RULE,
            metric="sequential",
            scope=scope,
            firing=bool(winners) and not srm["mismatch"],
            severity="warning",
            message=f"experiment {label} reached a decision: {payload['verdict']}",
            value=min((row["p_value"] for row in winners), default=1.0),
        )
        results.append(
            {
                "experiment": label,
                **ids,
                "srm_mismatch": srm["mismatch"],
                "significant": bool(winners),
                "srm_alert": srm_action,
                "significant_alert": significant_action,
                "verdict": payload["verdict"],
            }
        )
    sinks.drain_outbox(ws, open_store(ws))
    return {"analysed": results, "failed": failures}


def stop_experiment(ws: Workspace, experiment_id: int) -> dict[str, Any]:
    """Mark an experiment stopped so the daemon no longer analyses it; its stored results stay."""
    from engine.errors import NotFoundError

    if not experiment_store.set_status(open_store(ws), int(experiment_id), "stopped", at=now_text()):
        raise NotFoundError(
            f"experiment {experiment_id} does not exist; list them with `shopctl experiment list`"
        )
    return {"experiment_id": int(experiment_id), "status": "stopped"}
