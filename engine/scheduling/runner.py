"""Run one job once and record it: one `job_runs` row per run, whatever happens inside the task.

The same function runs a job for the daemon's scheduler, for a retry, for a missed run and for
`run-now` without a daemon. A per-job workspace lock keeps one instance of a job at a time across
threads and processes; a run that finds its job already running is recorded as skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.errors import NotFoundError, ShopctlError, WorkspaceBusy
from engine.infra.locks import workspace_lock
from engine.records import JobRun
from engine.scheduling.context import JobContext, JobError, JobInterrupted, JobSkipped
from engine.scheduling.tasks import resolve_task
from engine.store import open_store
from engine.store.jobs import finish_run, get_run, iso, kv_set, record_run, start_run
from engine.workspace import Workspace

log = logging.getLogger("shopctl.daemon")


@dataclass(frozen=True)
class RunOutcome:
    """A recorded run and whether a retry could help."""

    run: JobRun
    retryable: bool


def _recorded(store: Any, run_id: int) -> JobRun:
    run = get_run(store, run_id)
    if run is None:  # the row was written a moment ago by this process; only a replaced store loses it
        raise JobError(f"run {run_id} is missing from the store just after it was recorded")
    return run


def last_fire_key(job_id: str) -> str:
    """The kv key holding the newest fire time of a job that the daemon has handled."""
    return f"schedule:{job_id}:last_fire"


def job_lock_name(job_id: str) -> str:
    """The workspace lock held while a job runs."""
    return f"job-{job_id}"


def _error_text(error: BaseException) -> str:
    if isinstance(error, ShopctlError | JobError | JobInterrupted):
        text = " ".join(str(error).split()) or type(error).__name__
    else:
        text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    # A file name with bytes that are not UTF-8 arrives as surrogates, which SQLite refuses to store: that
    # failure would leave the run "running" for good, so show such bytes as \xff instead.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def execute_job(
    workspace: Workspace,
    job_id: str,
    *,
    trigger: str = "schedule",
    scheduled_for: datetime | None = None,
    attempt: int = 1,
    stop_event: threading.Event | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunOutcome:
    """Run job_id once, recording start, end, status, error and what it produced."""
    jobs = workspace.settings.schedule.jobs
    if job_id not in jobs:
        known = ", ".join(sorted(jobs)) or "none configured"
        raise NotFoundError(f"no job {job_id!r} in {workspace.config_path} [schedule.jobs] (jobs: {known})")
    config = jobs[job_id]
    store = open_store(workspace)
    if trigger == "schedule" and scheduled_for is not None:
        kv_set(store, last_fire_key(job_id), iso(scheduled_for))
    try:
        function = resolve_task(job_id, config)
    except ShopctlError as error:
        run_id = record_run(
            store, job_id, "failed", trigger=trigger, scheduled_for=scheduled_for, error=_error_text(error)
        )
        if on_start:
            on_start(run_id)
        return RunOutcome(_recorded(store, run_id), retryable=False)
    try:
        with workspace_lock(workspace, job_lock_name(job_id), wait_seconds=0, purpose=f"job {job_id}"):
            return _run_locked(
                workspace,
                store,
                job_id,
                config,
                function,
                trigger,
                scheduled_for,
                attempt,
                stop_event,
                on_start,
            )
    except WorkspaceBusy as busy:
        reason = f"skipped: the previous run of {job_id!r} is still running ({busy})"
        run_id = record_run(
            store, job_id, "skipped", trigger=trigger, scheduled_for=scheduled_for, error=reason
        )
        log.warning("job %s: %s", job_id, reason)
        if on_start:
            on_start(run_id)
        return RunOutcome(_recorded(store, run_id), retryable=False)


def _run_locked(
    workspace: Workspace,
    store: Any,
    job_id: str,
    config: Any,
    function: Callable[[JobContext], Any],
    trigger: str,
    scheduled_for: datetime | None,
    attempt: int,
    stop_event: threading.Event | None,
    on_start: Callable[[int], None] | None,
) -> RunOutcome:
    run_id = start_run(store, job_id, trigger=trigger, scheduled_for=scheduled_for)
    if on_start:
        on_start(run_id)
    context = JobContext(
        workspace=workspace,
        job_id=job_id,
        config=config,
        trigger=trigger,
        scheduled_for=scheduled_for,
        attempt=attempt,
        stop_event=stop_event or threading.Event(),
    )
    log.info("job %s: started (run %d, %s, attempt %d)", job_id, run_id, trigger, attempt)
    retryable = False
    try:
        produced = function(context) or {}
    except JobSkipped as nothing:
        finish_run(
            store, run_id, "skipped", error=f"skipped: {_error_text(nothing)}", produced=nothing.produced
        )
        log.info("job %s: skipped: %s", job_id, nothing)
    except JobInterrupted as stopped:
        finish_run(store, run_id, "interrupted", error=_error_text(stopped), produced=stopped.produced)
        log.warning("job %s: interrupted at a safe point: %s", job_id, stopped)
    except JobError as failure:
        finish_run(store, run_id, "failed", error=_error_text(failure), produced=failure.produced)
        retryable = failure.retry
        log.error("job %s: failed: %s", job_id, failure)
    except Exception as failure:  # noqa: BLE001 - a failing job is recorded and never kills the daemon
        finish_run(store, run_id, "failed", error=_error_text(failure))
        retryable = True
        if isinstance(failure, ShopctlError):  # a user-fixable error: its one line says it all
            log.error("job %s: failed: %s", job_id, _error_text(failure))
        else:
            log.exception("job %s: failed", job_id)
    except BaseException as stopped:
        finish_run(store, run_id, "interrupted", error=f"interrupted: {_error_text(stopped)}")
        raise
    else:
        if not isinstance(produced, dict):
            produced = {"result": produced}
        finish_run(store, run_id, "ok", produced=produced)
        log.info("job %s: ok (run %d)", job_id, run_id)
    return RunOutcome(_recorded(store, run_id), retryable=retryable)
