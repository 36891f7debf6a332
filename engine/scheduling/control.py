"""Talk to the daemon from another process: status, run-now, background start and stop.

The daemon holds the `daemon` workspace lock for its whole life, so "is it running" is "is that lock
held" (a crashed daemon releases it; a stale daemon.json alone never counts as running).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from engine.errors import NotFoundError, ShopctlError, WorkspaceBusy
from engine.infra.atomic import atomic_write_json, pid_alive
from engine.records import JobRun
from engine.scheduling.paths import DAEMON_LOCK, done_path, log_path, pid_path, request_path, state_path
from engine.scheduling.runner import execute_job
from engine.scheduling.triggers import describe_trigger
from engine.store import open_store
from engine.store.jobs import get_run, last_run, parse_iso, recent_runs, utc_now
from engine.workspace import Workspace

PICKUP_TIMEOUT_SECONDS = 15.0
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 60.0
LOG_ROTATE_BYTES = 10 * 1024 * 1024


class DaemonError(ShopctlError):
    """The daemon did not start, stop or answer as asked."""


def daemon_running(workspace: Workspace) -> bool:
    """True while a daemon holds this workspace's daemon lock."""
    lock_file = workspace.locks_dir / f"{DAEMON_LOCK}.lock"
    if not lock_file.exists():
        return False
    with open(lock_file, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def _read_state(workspace: Workspace) -> dict[str, Any]:
    try:
        return json.loads(state_path(workspace).read_text())
    except (OSError, ValueError):
        return {}


def _read_pid(workspace: Workspace) -> int | None:
    try:
        return int(pid_path(workspace).read_text().strip())
    except (OSError, ValueError):
        return None


def _run_summary(run: JobRun | None) -> dict[str, Any] | None:
    return run.summary() if run is not None else None


def _age_seconds(moment: str | None) -> float | None:
    """Seconds since an ISO time (a heartbeat much older than 5 s means the daemon is stuck)."""
    parsed = parse_iso(moment)
    return None if parsed is None else round((utc_now() - parsed).total_seconds(), 1)


def daemon_status(workspace: Workspace, *, recent: int = 20) -> dict[str, Any]:
    """Whether the daemon runs, its pid and start, and each configured job's trigger, next and last run."""
    running = daemon_running(workspace)
    state = _read_state(workspace) if running else {}
    next_runs = {job["id"]: job.get("next_run") for job in state.get("jobs", [])}
    store = open_store(workspace)
    jobs = []
    for job_id, config in workspace.settings.schedule.jobs.items():
        try:
            trigger = describe_trigger(job_id, config)
        except ShopctlError as error:
            trigger = f"invalid: {error}"
        jobs.append(
            {
                "id": job_id,
                "task": config.task or job_id,
                "enabled": config.enabled,
                "trigger": trigger,
                "model": config.model,
                "window": config.window,
                "next_run": next_runs.get(job_id) if config.enabled else None,
                "last_run": _run_summary(last_run(store, job_id)),
            }
        )
    return {
        "running": running,
        "pid": (state.get("pid") or _read_pid(workspace)) if running else None,
        "started": state.get("started") if running else None,
        "heartbeat": state.get("heartbeat") if running else None,
        "heartbeat_age_seconds": _age_seconds(state.get("heartbeat")) if running else None,
        "workspace": str(workspace.root),
        "log": str(log_path(workspace)),
        "jobs": jobs,
        "recent_runs": [_run_summary(run) for run in recent_runs(store, limit=recent)],
    }


def _wait_for_run(workspace: Workspace, run_id: int, timeout: float | None) -> dict[str, Any]:
    store = open_store(workspace)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = get_run(store, run_id)
        if run is not None and not run.running:
            return run.to_dict()
        if deadline is not None and time.monotonic() > deadline:
            raise DaemonError(
                f"run {run_id} is still running after {timeout:g}s; follow it with `shopctl daemon status`"
            )
        time.sleep(0.2)


def run_job_now(
    workspace: Workspace, job_id: str, *, wait: bool = True, timeout: float | None = None
) -> dict[str, Any]:
    """Run a configured job at once: through the running daemon if there is one, else in this process."""
    jobs = workspace.settings.schedule.jobs
    if job_id not in jobs:
        known = ", ".join(sorted(jobs)) or "none configured"
        raise NotFoundError(f"no job {job_id!r} in {workspace.config_path} [schedule.jobs] (jobs: {known})")
    if not daemon_running(workspace):
        outcome = execute_job(workspace, job_id, trigger="run-now")
        return {"via": "in-process", **outcome.run.to_dict()}
    request_id = uuid.uuid4().hex[:12]
    answer_path = done_path(workspace, request_id)
    atomic_write_json(
        request_path(workspace, request_id),
        {"id": request_id, "job_id": job_id, "requested_by": os.getpid(), "requested": time.time()},
    )
    deadline = time.monotonic() + PICKUP_TIMEOUT_SECONDS
    while not answer_path.exists():
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                request_path(workspace, request_id).unlink()
            raise DaemonError(
                f"the daemon did not pick up the run-now request within {PICKUP_TIMEOUT_SECONDS:g}s; "
                f"check {log_path(workspace)}"
            )
        time.sleep(0.1)
    answer = json.loads(answer_path.read_text())
    with contextlib.suppress(OSError):
        answer_path.unlink()
    if "error" in answer:
        raise DaemonError(f"the daemon refused to run {job_id!r}: {answer['error']}")
    run_id = int(answer["run_id"])
    if not wait:
        run = get_run(open_store(workspace), run_id)
        return {"via": "daemon", **(run.to_dict() if run is not None else {"id": run_id})}
    return {"via": "daemon", **_wait_for_run(workspace, run_id, timeout)}


def start_background(workspace: Workspace, *, timeout: float = START_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Start the daemon detached (a new session running the foreground daemon), logging to state/logs/."""
    if daemon_running(workspace):
        raise WorkspaceBusy(
            f"a daemon already runs for {workspace.root} (pid {_read_pid(workspace)}); "
            "stop it with `shopctl daemon stop` first"
        )
    log_file = log_path(workspace)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if log_file.stat().st_size > LOG_ROTATE_BYTES:  # keep one previous log, so the folder stays bounded
            os.replace(log_file, log_file.with_name(log_file.name + ".1"))
    with open(log_file, "ab") as log_handle:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "engine.scheduling", "--workspace", str(workspace.root)],
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=log_handle,
            cwd=str(workspace.root),
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read_state(workspace)
        if state.get("pid") == process.pid and daemon_running(workspace):
            return {
                "started": True,
                "pid": process.pid,
                "log": str(log_file),
                "workspace": str(workspace.root),
            }
        if process.poll() is not None:
            raise DaemonError(
                f"the daemon exited at start (code {process.returncode}): {_log_tail(workspace)}"
            )
        time.sleep(0.1)
    raise DaemonError(f"the daemon did not report ready within {timeout:g}s; see {log_file}")


def _log_tail(workspace: Workspace, lines: int = 3) -> str:
    try:
        text = log_path(workspace).read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"no log at {log_path(workspace)}"
    return " | ".join(text[-lines:]) or f"empty log at {log_path(workspace)}"


def stop_daemon(workspace: Workspace, *, timeout: float = STOP_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Send SIGTERM to the running daemon and wait until it has finished its jobs and exited."""
    if not daemon_running(workspace):
        return {"stopped": False, "running": False, "pid": None}
    pid = _read_state(workspace).get("pid") or _read_pid(workspace)
    if not pid:
        raise DaemonError(
            f"a daemon holds the lock in {workspace.locks_dir} but wrote no pid; stop it by hand"
        )
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    # The lock goes when the scheduler has finished its jobs; the process lives on a little longer (interpreter
    # teardown), so "stopped" waits for both: a caller may start a new daemon or remove the workspace at once.
    while daemon_running(workspace) or process_alive(int(pid)):
        if time.monotonic() > deadline:
            raise DaemonError(
                f"daemon pid {pid} is still finishing after {timeout:g}s; wait, or `kill {pid}` again"
            )
        time.sleep(0.05)
    return {"stopped": True, "running": False, "pid": int(pid)}


def process_alive(pid: int) -> bool:
    """True while pid names a live process (a zombie waiting for its parent counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[-1].split()[0]
        return state not in {"Z", "X"}
    except (OSError, IndexError):
        pass
    return pid_alive(pid)
