"""What the dashboard reads from the owners of files: the registry, and the daemon's state and lock."""

from __future__ import annotations

import json
from typing import Any

from engine.dashboard.model import (
    DaemonState,
    HistoryRow,
    ModelView,
    ScheduledJob,
    VersionRow,
    parse_time,
)
from engine.errors import ShopctlError
from engine.registry import Registry, headline_metric
from engine.scheduling.control import daemon_running
from engine.scheduling.paths import state_path
from engine.workspace import Workspace


def load_daemon(ws: Workspace) -> DaemonState:
    """The daemon as `daemon status` sees it: running while it holds the daemon lock (a stale daemon.json never
    counts); pid, start, heartbeat and next runs from the state file it rewrites."""
    if not daemon_running(ws):
        return DaemonState(False, None, None, None)
    try:
        payload = json.loads(state_path(ws).read_text())
    except (OSError, ValueError):
        payload = {}
    pid = payload.get("pid")
    jobs = tuple(
        ScheduledJob(str(job.get("id", "")), str(job.get("trigger", "")), parse_time(job.get("next_run")))
        for job in payload.get("jobs") or []
        if isinstance(job, dict)
    )
    return DaemonState(
        True,
        pid if isinstance(pid, int) else None,
        parse_time(payload.get("started")),
        parse_time(payload.get("heartbeat")),
        jobs,
    )


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _metadata(registry: Registry, name: str, version: int) -> dict[str, Any]:
    """A version's metadata, {} when the file is missing or altered (the models screen still lists it)."""
    try:
        return registry.version(name, version).metadata
    except ShopctlError:
        return {}


def model_names(ws: Workspace) -> list[str]:
    return Registry(ws).names()


def champion_created(ws: Workspace, name: str) -> tuple[int | None, str | None]:
    """A model's champion version and when that version was created."""
    registry = Registry(ws)
    version = registry.champion(name)
    return version, (_metadata(registry, name, version).get("created") if version is not None else None)


def load_model_view(ws: Workspace, name: str) -> ModelView:
    """One model's versions (metrics, parity, champion mark) and its promotion history, newest first."""
    registry = Registry(ws)
    champion = registry.champion(name)
    versions: list[VersionRow] = []
    task = ""
    for number in reversed(registry.versions(name)):
        meta = _metadata(registry, name, number)
        task = task or str(meta.get("task", ""))
        metrics = meta.get("metrics") or {}
        metric = headline_metric(metrics)
        versions.append(
            VersionRow(
                number,
                parse_time(meta.get("created")),
                str(meta.get("chosen", "")),
                metric,
                (metrics.get("validation") or {}).get(metric),
                (metrics.get("test") or {}).get(metric),
                meta.get("parity_max_abs_diff"),
                number == champion,
            )
        )
    history = [
        HistoryRow(
            parse_time(entry.get("at")),
            str(entry.get("who", "")),
            str(entry.get("action", "")),
            as_int(entry.get("from")),
            as_int(entry.get("to")),
            str(entry.get("why") or ""),
        )
        for entry in registry.history(name)
    ]
    history.reverse()
    return ModelView(name, task, champion, tuple(versions), tuple(history))


def load_models(ws: Workspace) -> tuple[ModelView, ...]:
    return tuple(load_model_view(ws, name) for name in model_names(ws))
