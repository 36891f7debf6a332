"""The built-in tasks: monitor, ingest (the inbox), retrain, report, deliver (the alert outbox), experiments
and forecast.

Each imports the engine part it drives inside the function, so the scheduler loads without them and a
missing part fails only its own job (recorded, retried, never fatal to the daemon).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from engine.errors import WorkspaceBusy
from engine.infra.atomic import atomic_write_text
from engine.scheduling.context import JobContext, JobError, JobInterrupted, JobSkipped
from engine.workspace import Workspace

log = logging.getLogger("shopctl.daemon")

# A file in the inbox younger than this may still be being copied in; it waits for the next run.
INBOX_SETTLE_SECONDS = 2.0
# Names the inbox leaves alone: partial copies, and the ground truth `shopctl simulate` writes beside its events.
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".truth.json", ".error.txt")
KEEP_REPORTS = 60


def model_names(workspace: Workspace, configured: str) -> list[str]:
    """The job's model, else every model in the registry (empty when none is registered yet)."""
    if configured:
        return [configured]
    from engine.registry import Registry

    return list(Registry(workspace).names())


def monitor_task(context: JobContext) -> dict[str, Any]:
    """Run monitoring for the job's model (or every champion, in one run) and window, then the retrain policy."""
    from engine.monitoring.run import run_monitor

    workspace = context.workspace
    result = run_monitor(workspace, model=context.config.model or None, window=context.config.window or None)
    produced: dict[str, Any] = {
        "monitor_run": result.run_id,
        "status": result.status,
        "window": result.window.to_dict(),
        "models": result.model_names(),
        "firing": len(result.firing),
        "open_alerts": len(result.alerts),
    }
    from engine.train.policy import retrain_on_alerts

    retrains = []
    for name in produced["models"] or model_names(workspace, context.config.model):
        if context.stop_requested():
            raise JobInterrupted("daemon stopping: the retrain policy is checked on the next run", produced)
        decision = retrain_on_alerts(workspace, name, who=f"daemon:{context.job_id}")
        if decision is not None:
            retrains.append(decision.summary())
    if retrains:
        produced["retrains"] = retrains
    return produced


def _inbox_files(inbox: Path) -> list[Path]:
    now = time.time()
    files = []
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime >= INBOX_SETTLE_SECONDS:
                files.append(path)
    return files


def _move_aside(path: Path, folder: Path) -> Path:
    """Move path into folder, never overwriting an earlier file of the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = folder / f"{path.stem}.{stamp}-{os.getpid()}{path.suffix}"
    shutil.move(str(path), str(target))
    return target


def ingest_task(context: JobContext) -> dict[str, Any]:
    """Ingest each settled file in data/inbox/, then move it to processed/ or failed/ (with the error beside it)."""
    from engine.ingest import ingest_files

    workspace = context.workspace
    inbox = workspace.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    for path in _inbox_files(inbox):
        if context.stop_requested():
            raise JobInterrupted(
                "daemon stopping: the remaining inbox files wait for the next run", {"files": files}
            )
        try:
            result = ingest_files(workspace, [path])
        except WorkspaceBusy as busy:
            # Another ingest holds the lock: not the file's fault, so it stays in the inbox for the retry.
            raise JobError(f"{path.name} left in the inbox: {busy}", {"files": files}) from None
        except Exception as error:  # noqa: BLE001 - a bad file goes to failed/ with its error; the rest go on
            moved = _move_aside(path, inbox / "failed")
            message = " ".join(str(error).split()) or type(error).__name__
            atomic_write_text(moved.with_name(moved.name + ".error.txt"), message + "\n")
            files.append({"file": path.name, "status": "failed", "moved_to": str(moved), "error": message})
            log.error("ingest: %s failed: %s", path.name, message)
            continue
        moved = _move_aside(path, inbox / "processed")
        counts = result.to_dict()
        files.append({"file": path.name, "status": "ok", "moved_to": str(moved), **_counts(counts)})
    produced = {"files": files, "ingested": sum(1 for item in files if item["status"] == "ok")}
    failed = [item for item in files if item["status"] == "failed"]
    if failed:
        summary = "; ".join(f"{item['file']}: {item['error']}" for item in failed)
        # The files are already set aside in failed/, so a retry would find nothing to redo.
        raise JobError(
            f"{len(failed)} of {len(files)} inbox file(s) failed: {summary}", produced, retry=False
        )
    return produced


def _counts(counts: dict[str, Any]) -> dict[str, Any]:
    keys = ("rows_read", "rows_stored", "rows_quarantined", "rows_duplicate", "quarantine_file")
    return {key: counts[key] for key in keys if key in counts}


def retrain_task(context: JobContext) -> dict[str, Any]:
    """Retrain the job's model (or every registered model) when the retrain policy allows it."""
    from engine.train.policy import retrain_on_schedule

    decisions: list[dict[str, Any]] = []
    failures: list[str] = []
    for name in model_names(context.workspace, context.config.model):
        if context.stop_requested():
            raise JobInterrupted(
                "daemon stopping: remaining models wait for the next run", {"decisions": decisions}
            )
        try:
            decision = retrain_on_schedule(context.workspace, name, who=f"daemon:{context.job_id}")
        except Exception as error:  # noqa: BLE001 - one model's failure must not lose the others' decisions
            failures.append(f"{name}: {' '.join(str(error).split())}")
            continue
        decisions.append(decision.summary())
    if failures:
        raise JobError(f"retrain failed for {'; '.join(failures)}", {"decisions": decisions})
    return {"decisions": decisions}


def report_task(context: JobContext) -> dict[str, Any]:
    """Write the monitoring report (Markdown) into state/reports/, keeping the newest KEEP_REPORTS."""
    from engine.monitoring.report import build_report, render_report

    folder = context.workspace.state_dir / "reports"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = folder / f"report-{stamp}.md"
    atomic_write_text(path, render_report(build_report(context.workspace), "md"))
    for old in sorted(folder.glob("report-*.md"))[:-KEEP_REPORTS]:
        with contextlib.suppress(OSError):
            old.unlink()
    return {"report": str(path)}


def deliver_task(context: JobContext) -> dict[str, Any]:
    """Send the queued webhook and command alert deliveries (the daemon also does this after every job)."""
    from engine.monitoring.sinks import drain_outbox

    return drain_outbox(context.workspace)


def experiments_task(context: JobContext) -> dict[str, Any]:
    """Analyse every running A/B experiment (confidence sequences), alerting on an SRM or a significant result."""
    from engine.analytics.experiment_watch import analyze_running

    produced = analyze_running(context.workspace)
    if not produced["failed"] and not produced.get("analysed"):
        raise JobSkipped(
            "no running experiment: `shopctl experiment analyze --dimension D` stores one for the daemon",
            produced,
        )
    if produced["failed"]:
        raise JobError(
            f"experiment analysis failed for {'; '.join(produced['failed'])}", produced, retry=False
        )
    return produced


def forecast_task(context: JobContext) -> dict[str, Any]:
    """Keep every stored forecast current: each (metric, split, horizon) an operator forecast once is forecast
    again from the newest complete day, when that day is later than its newest run's as-of day."""
    from engine.events import scan_events
    from engine.forecast.run import run_forecast
    from engine.forecast.series import last_complete_day, newest_event_time
    from engine.store import open_store
    from engine.store.forecasts import newest_runs

    ws = context.workspace
    stored = newest_runs(open_store(ws))
    if not stored:
        raise JobSkipped(
            "no forecast stored yet: run `shopctl forecast` once and the daemon keeps it current"
        )
    newest = newest_event_time(scan_events(ws))
    if newest is None:
        raise JobSkipped("the event store is empty")
    through = last_complete_day(newest).isoformat()
    refreshed: list[dict[str, Any]] = []
    failures: list[str] = []
    for run in stored:
        label = f"{run['metric']} by {run['by_column'] or 'total'} ({run['horizon_days']}d)"
        if run["as_of"] >= through:
            continue
        if context.stop_requested():
            raise JobInterrupted(
                "daemon stopping: remaining forecasts wait for the next run", {"refreshed": refreshed}
            )
        try:
            payload = run_forecast(
                ws,
                metric=run["metric"],
                by=run["by_column"] or None,
                horizon=int(run["horizon_days"]),
                who=f"daemon:{context.job_id}",
            )
        except Exception as error:  # noqa: BLE001 - one forecast's failure must not lose the others
            failures.append(f"{label}: {' '.join(str(error).split())}")
            continue
        refreshed.append({"forecast": label, "run_id": payload["run_id"], "as_of": payload["as_of"]})
    produced = {"through": through, "refreshed": refreshed}
    if failures:
        raise JobError(f"forecast failed for {'; '.join(failures)}", produced, retry=False)
    if not refreshed:
        raise JobSkipped(f"every stored forecast is current (as of {through})", produced)
    return produced


BUILTIN_TASKS = {
    "monitor": monitor_task,
    "ingest": ingest_task,
    "retrain": retrain_task,
    "report": report_task,
    "deliver": deliver_task,
    "experiments": experiments_task,
    "forecast": forecast_task,
}
