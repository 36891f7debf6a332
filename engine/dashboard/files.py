"""What the dashboard reads from files: state/daemon.json and the registry folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.atomic import pid_alive
from engine.dashboard.model import (
    DaemonState,
    HistoryRow,
    ModelView,
    ScheduledJob,
    VersionRow,
    parse_time,
)
from engine.workspace import Workspace


def load_daemon(ws: Workspace) -> DaemonState:
    """state/daemon.json read as the daemon wrote it; running only while its pid is alive."""
    try:
        payload = json.loads((ws.state_dir / "daemon.json").read_text())
    except (OSError, ValueError):
        return DaemonState(False, None, None, None)
    pid = payload.get("pid")
    jobs = tuple(
        ScheduledJob(str(job.get("id", "")), str(job.get("trigger", "")), parse_time(job.get("next_run")))
        for job in payload.get("jobs") or []
        if isinstance(job, dict)
    )
    return DaemonState(
        pid_alive(pid),
        pid if isinstance(pid, int) else None,
        parse_time(payload.get("started")),
        parse_time(payload.get("heartbeat")),
        jobs,
    )


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def model_names(ws: Workspace) -> list[str]:
    if not ws.registry_dir.is_dir():
        return []
    return sorted(p.name for p in ws.registry_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _version_number(path: Path) -> int | None:
    name = path.name
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _primary_metric(metrics: dict[str, Any]) -> str:
    validation = metrics.get("validation") or {}
    for name in ("roc_auc", "rmse", "pr_auc", "r2", "mae", "log_loss"):
        if name in validation:
            return name
    return next(iter(validation), "")


def load_model(ws: Workspace, name: str) -> ModelView:
    """One model's versions (metrics, parity, champion mark) and its promotion history, newest first."""
    folder = ws.registry_dir / name
    champion = as_int(read_json(folder / "champion.json").get("version"))
    versions: list[VersionRow] = []
    task = ""
    for version_dir in folder.iterdir() if folder.is_dir() else ():
        number = _version_number(version_dir)
        if number is None or not version_dir.is_dir():
            continue
        meta = read_json(version_dir / "metadata.json")
        task = task or str(meta.get("task", ""))
        metrics = meta.get("metrics") or {}
        metric = _primary_metric(metrics)
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
    versions.sort(key=lambda row: row.version, reverse=True)
    history: list[HistoryRow] = []
    try:
        lines = (folder / "history.jsonl").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        history.append(
            HistoryRow(
                parse_time(entry.get("at")),
                str(entry.get("who", "")),
                str(entry.get("action", "")),
                as_int(entry.get("from")),
                as_int(entry.get("to")),
                str(entry.get("why") or ""),
            )
        )
    history.reverse()
    return ModelView(name, task, champion, tuple(versions), tuple(history))


def load_models(ws: Workspace) -> tuple[ModelView, ...]:
    return tuple(load_model(ws, name) for name in model_names(ws))
