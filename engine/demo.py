"""`shopctl demo`: a whole shop in one command, from simulated events to scored sessions and a monitoring pass.

Each step calls the same entry point a user's command would (simulate, ingest, features, train, score, monitor),
so the demo is also an end-to-end check of the product. Re-running reuses the workspace: the simulation keeps the
first run's days (data/demo/demo.json), ingest dedups the events, and a model is retrained only when the ingest
stored new events.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import WorkspaceError
from engine.infra.atomic import atomic_write_json, atomic_write_text
from engine.workspace import Workspace, init_workspace, resolve_root

if TYPE_CHECKING:
    from engine.registry import Registry

Progress = Callable[[str, int, int], None]
DEFAULT_ROOT = "shopctl-demo"
MODELS = ("conversion", "repurchase")
MONITOR_MINUTES = 2
DEMO_FOLDER = "demo"  # data/demo/ marks a workspace the demo made (and may therefore reuse)
STEPS = 8
# Daily windows the demo monitors (oldest first) so the console has history to chart.
HISTORY_DAYS = 7
MONITOR_JOB = re.compile(r"(\[schedule\.jobs\.monitor\][^\[]*?\bminutes\s*=\s*)([0-9.]+)")


def schedule_monitor_often(workspace: Workspace, minutes: int = MONITOR_MINUTES) -> bool:
    """Set `[schedule.jobs.monitor] minutes` in the workspace config so the daemon shows its loop at once."""
    text = workspace.config_path.read_text(encoding="utf-8")
    match = MONITOR_JOB.search(text)
    if match is None:
        text = text.rstrip("\n") + f'\n\n[schedule.jobs.monitor]\ntrigger = "interval"\nminutes = {minutes}\n'
    elif float(match.group(2)) == minutes:
        return False
    else:
        text = text[: match.start(2)] + str(minutes) + text[match.end(2) :]
    atomic_write_text(workspace.config_path, text)
    workspace.reload_settings()
    return True


def _refuse_foreign_workspace(workspace: Workspace) -> None:
    """Never pour simulated events into a real shop's workspace."""
    if not workspace.is_initialised() or (workspace.data_dir / DEMO_FOLDER).is_dir():
        return
    if any(workspace.events_dir.glob("*")) or any(workspace.registry_dir.glob("*")):
        raise WorkspaceError(
            f"{workspace.root}: is a workspace with its own events or models, not a demo; "
            "run the demo in another folder, e.g. `shopctl demo ./shopctl-demo`"
        )


def _first_day(workspace: Workspace, days: int, first: str | None = None) -> str:
    """The simulation's first day: pinned by the first run, so a re-run on a later day makes the same events
    (and ingest dedups them) instead of a shifted, overlapping copy of the shop. The first run uses `first` when
    given (tests pin the calendar: the shop's weekdays and month ends change with it), else `days` before today."""
    pin = workspace.data_dir / DEMO_FOLDER / "demo.json"
    try:
        return str(json.loads(pin.read_text(encoding="utf-8"))["start"])
    except (OSError, ValueError, KeyError, TypeError):
        start = first or (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
        pin.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(pin, {"start": start, "pinned": "first run of shopctl demo in this folder"})
        return start


def run_demo(
    root: Path | str = DEFAULT_ROOT,
    *,
    days: int = 60,
    seed: int = 7,
    progress: Progress | None = None,
    sessions_per_day: float = 1500,
    history_days: int = HISTORY_DAYS,
    start: str | None = None,
) -> dict[str, Any]:
    """Simulate, ingest, build features, train and register both models, score a batch, monitor; the summary."""
    from engine.features import build_features
    from engine.ingest import ingest_files
    from engine.scoring import score_file
    from engine.simulator import simulate, write_simulation
    from engine.train.run import train_and_register

    started = time.perf_counter()
    timings: dict[str, float] = {}

    def step(message: str, done: int) -> None:
        if progress:
            progress(message, done, STEPS)

    def timed(key: str, since: float) -> None:
        timings[key] = round(time.perf_counter() - since, 2)

    step("creating the workspace", 0)
    _refuse_foreign_workspace(Workspace(resolve_root(root)))
    workspace, created = init_workspace(root)
    config_changed = schedule_monitor_often(workspace)

    step(f"simulating {days} days of a shop (seed {seed})", 1)
    since = time.perf_counter()
    start = _first_day(workspace, days, start)
    simulation = simulate(days, seed=seed, start=start, sessions_per_day=sessions_per_day)
    events_file = workspace.data_dir / DEMO_FOLDER / f"shop-{start}-{days}d-seed{seed}.parquet"
    written = write_simulation(simulation, events_file)
    timed("simulate", since)

    step("ingesting the events", 2)
    since = time.perf_counter()
    ingest = ingest_files(workspace, [events_file]).to_dict()
    timed("ingest", since)
    new_events = int(ingest.get("rows_stored", 0))

    step("building feature tables", 3)
    since = time.perf_counter()
    features = build_features(workspace)
    timed("features", since)

    from engine.registry import Registry  # hashlib, importlib.metadata: not at CLI start-up

    registry = Registry(workspace)
    models: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(MODELS):
        champion = registry.champion(name) if registry.versions(name) else None
        if champion is not None and new_events == 0:
            models[name] = {
                "action": "skipped",
                "reason": f"no new events since v{champion}; kept the champion",
                **_model_summary(registry, name, champion),
            }
            continue
        step(f"training the {name} model (every candidate, then ONNX export and parity check)", 4 + index)
        since = time.perf_counter()

        def training_progress(message: str, done: int, total: int, name: str = name) -> None:
            if progress:
                progress(f"{name}: {message}", done, total)

        trained = train_and_register(
            workspace,
            name,
            task=name,
            promote=True,
            who="demo",
            progress=training_progress,
        )
        timed(f"train_{name}", since)
        models[name] = {"action": "trained", **_model_summary(registry, name, int(trained["version"]))}

    step("scoring the sessions with the conversion champion", 6)
    since = time.perf_counter()
    scores_file = workspace.root / "scores" / "conversion.parquet"
    scores_file.parent.mkdir(parents=True, exist_ok=True)
    scoring = score_file(workspace, "conversion", workspace.features_dir / "sessions.parquet", scores_file)
    timed("score", since)

    step(f"monitoring the last {history_days} days, one day at a time", 7)
    since = time.perf_counter()
    monitoring = _monitor_recent_days(
        workspace, date.fromisoformat(start) + timedelta(days=days), max(1, min(history_days, days))
    )
    timed("monitor", since)
    step("done", STEPS)

    return {
        "workspace": str(workspace.root),
        "reused": not created,
        "config_changed": config_changed,
        "days": days,
        "seed": seed,
        "events_file": written["events"],
        "first_day": start,
        "events": {
            key: ingest.get(key) for key in ("rows_read", "rows_stored", "rows_quarantined", "rows_duplicate")
        },
        "features": _feature_counts(features),
        "models": models,
        "scoring": {
            key: scoring[key] for key in ("rows", "seconds", "rows_per_second", "model", "version", "output")
        },
        "monitoring": monitoring,
        "paths": {
            "config": str(workspace.config_path),
            "events": str(workspace.events_dir),
            "features": str(workspace.features_dir),
            "registry": str(workspace.registry_dir),
            "scores": str(scores_file),
            "store": str(workspace.store_path),
        },
        "next": _next_steps(workspace.root),
        "timings": timings,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _model_summary(registry: Registry, name: str, version: int) -> dict[str, Any]:
    metadata = registry.get(name, version).metadata
    return {
        "version": version,
        "champion": registry.champion(name),
        "task": metadata.get("task"),
        "target": metadata.get("target"),
        "chosen": metadata.get("chosen"),
        "metrics": metadata.get("metrics", {}),
        "candidates": metadata.get("candidates", {}),
        "selection": metadata.get("selection", {}),
        "parity_max_abs_diff": metadata.get("parity_max_abs_diff"),
        "rows": metadata.get("rows"),
    }


def _feature_counts(features: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, Any] = {
        key: value for key, value in features.items() if isinstance(value, int | float | str)
    }
    for key, value in features.items():
        if isinstance(value, dict):
            counts[key] = {k: v for k, v in value.items() if isinstance(v, int | float | str)}
    return counts


def _monitor_recent_days(workspace: Workspace, end: date, history_days: int) -> dict[str, Any]:
    """Daily monitoring windows for the last few days, oldest first, so the console opens on charts with a
    history; the summary is the newest window's. Re-running replaces the same windows."""
    from engine.monitoring.run import run_monitor

    for back in range(history_days - 1, 0, -1):
        run_monitor(workspace, window="1d", at=(end - timedelta(days=back)).isoformat())
    result = run_monitor(workspace, window="1d", at=end.isoformat())
    window = result.window.to_dict()
    return {
        "ran": True,
        "run_id": result.run_id,
        "status": result.status,
        "window": f"{window['start']} → {window['end']}",
        "checks": [
            {"name": check.get("name"), "status": check.get("status"), "counts": check.get("counts", {})}
            for check in result.checks
        ],
        "alerts": [
            {key: alert.get(key) for key in ("id", "severity", "rule", "scope", "message")}
            for alert in result.alerts
        ],
        "models": result.models,
        "errors": result.errors,
    }


def _next_steps(root: Path) -> list[str]:
    where = f"-w {root}"
    return [
        f"shopctl tui {where}                      the console (F1 help)",
        f"shopctl daemon start {where}             monitoring every {MONITOR_MINUTES} minutes",
        f"shopctl models list {where}              champions and metrics",
        f"shopctl monitor run {where} --json       one more monitoring pass",
        f"shopctl score conversion {where} -i {root}/data/features/sessions.parquet -o -  scores on stdout",
        f"shopctl simulate --days 14 --scenario checkout_outage -o {root}/data/inbox/outage.csv   "
        "then watch the alerts",
    ]
