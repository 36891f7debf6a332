"""The daemon: an APScheduler 3 BackgroundScheduler running the jobs of `config.toml [schedule]`.

APScheduler keeps jobs in memory, so what must survive a restart lives in the store instead: each job's
newest handled fire time and its interval anchor (`kv`), and every run (`job_runs`). On start the daemon
compares the fire times it missed while down with `misfire_grace_seconds`: the newest one within grace
runs once (coalesced; every one when `coalesce = false`), older ones are recorded as one `skipped` run
"missed while daemon was down". The main thread polls run-now requests and config.toml every second,
writes state/daemon.json on every schedule change and heartbeat, and on SIGTERM/SIGINT shuts the
scheduler down with wait=True so a running job finishes (or stops at a safe point) before exit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from datetime import datetime, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
)
from apscheduler.schedulers.background import BackgroundScheduler

from engine import __version__
from engine.errors import ShopctlError
from engine.infra.atomic import atomic_write_json, atomic_write_text
from engine.infra.locks import workspace_lock
from engine.scheduling.catchup import load_anchor, plan_missed_runs
from engine.scheduling.executor import FireTimeExecutor
from engine.scheduling.paths import (
    DAEMON_LOCK,
    done_path,
    pid_path,
    requests_dir,
    state_path,
)
from engine.scheduling.runner import execute_job, last_fire_key
from engine.scheduling.triggers import build_trigger, describe_trigger
from engine.store import open_store
from engine.store.jobs import iso, kv_set, mark_interrupted, record_run, utc_now
from engine.workspace import Workspace

log = logging.getLogger("shopctl.daemon")

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
# The scheduler job that sends the alert outbox; "@" keeps it apart from the config's job ids.
OUTBOX_JOB_ID = "@outbox"


class Daemon:
    """Run the workspace's schedule until stop() or SIGTERM/SIGINT."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        poll_seconds: float = POLL_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.workspace = workspace
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self.started: datetime | None = None
        self._dirty = threading.Event()
        self._config_mtime: float | None = None
        self._scheduled: dict[str, str] = {}  # job id -> trigger description

    def stop(self) -> None:
        """Ask the daemon to finish running jobs and exit (what SIGTERM does)."""
        self.stop_event.set()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("received %s: finishing running jobs, then stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def run(self) -> int:
        """Hold the daemon lock and run the schedule until asked to stop; returns an exit code."""
        with workspace_lock(self.workspace, DAEMON_LOCK, wait_seconds=2.0, purpose="shopctl daemon"):
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self._on_signal)
                signal.signal(signal.SIGINT, self._on_signal)
            try:
                self._run_locked()
            finally:
                self._cleanup()
        return 0

    def _run_locked(self) -> None:
        store = open_store(self.workspace)
        closed = mark_interrupted(store, reason="interrupted: the daemon stopped before the run finished")
        if closed:
            log.warning("marked %d run(s) left running by a stopped process as interrupted", closed)
        self.started = utc_now()
        atomic_write_text(pid_path(self.workspace), f"{os.getpid()}\n")
        requests_dir(self.workspace).mkdir(parents=True, exist_ok=True)
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": FireTimeExecutor(max_workers=4)},
            job_defaults={"max_instances": 1},
        )
        self.scheduler.add_listener(
            self._on_event,
            EVENT_JOB_ADDED
            | EVENT_JOB_REMOVED
            | EVENT_JOB_SUBMITTED
            | EVENT_JOB_EXECUTED
            | EVENT_JOB_ERROR
            | EVENT_JOB_MISSED
            | EVENT_JOB_MAX_INSTANCES,
        )
        self._config_mtime = self._read_config_mtime()
        self._schedule_jobs()
        self.scheduler.start()
        self._queue_outbox_drain()  # deliveries queued while the daemon was down
        self._write_state()
        log.info(
            "daemon started (pid %d, workspace %s, jobs: %s)",
            os.getpid(),
            self.workspace.root,
            ", ".join(f"{job_id} [{text}]" for job_id, text in self._scheduled.items()) or "none",
        )
        self.ready.set()
        last_heartbeat = utc_now()
        while not self.stop_event.wait(self.poll_seconds):
            self._poll_requests()
            self._poll_config()
            now = utc_now()
            if self._dirty.is_set() or (now - last_heartbeat).total_seconds() >= self.heartbeat_seconds:
                self._dirty.clear()
                self._write_state()
                last_heartbeat = now
        log.info("stopping: waiting for running jobs to finish")
        # APScheduler 3's shutdown marks the scheduler stopped before it takes the job-store lock, so a one-off
        # job (the outbox drain) submitted at that moment cannot remove itself: JobLookupError on the scheduler
        # thread. Paused first, then the lock taken once (get_jobs holds it), any pass over the due jobs ends
        # while the scheduler still counts as running, and no new pass starts.
        self.scheduler.pause()
        self.scheduler.get_jobs()
        self.scheduler.shutdown(wait=True)
        closed = mark_interrupted(
            store, only_pid=os.getpid(), reason="interrupted: the daemon stopped during the run"
        )
        if closed:
            log.warning("recorded %d run(s) as interrupted", closed)
        log.info("daemon stopped")

    def _cleanup(self) -> None:
        self.ready.set()
        for path in (pid_path(self.workspace), state_path(self.workspace)):
            with contextlib.suppress(OSError):
                path.unlink()

    # --- scheduling ---------------------------------------------------------------------------------

    def _read_config_mtime(self) -> float | None:
        try:
            return self.workspace.config_path.stat().st_mtime
        except OSError:
            return None

    def _schedule_jobs(self) -> None:
        """Add or replace one scheduler job per enabled config job; remove the ones no longer enabled."""
        assert self.scheduler is not None
        schedule = self.workspace.settings.schedule
        wanted: dict[str, str] = {}
        now = utc_now()
        for job_id, config in schedule.jobs.items():
            if not config.enabled:
                continue
            description = describe_trigger(job_id, config)
            wanted[job_id] = description
            if self._scheduled.get(job_id) == description:
                continue
            anchor, last_fire = load_anchor(open_store(self.workspace), job_id, description, now)
            trigger = build_trigger(job_id, config, anchor)
            self.scheduler.add_job(
                self._run_scheduled,
                trigger,
                id=job_id,
                name=job_id,
                kwargs={"job_id": job_id},
                replace_existing=True,
                coalesce=schedule.coalesce,
                misfire_grace_time=schedule.misfire_grace_seconds,
                max_instances=1,
            )
            if last_fire is not None:
                self._handle_missed(job_id, trigger, last_fire, now)
        for job_id in set(self._scheduled) - set(wanted):
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(job_id)
        self._scheduled = wanted
        self._dirty.set()

    def _handle_missed(self, job_id: str, trigger: Any, last_fire: datetime, now: datetime) -> None:
        """Apply the misfire policy to fire times that passed while the daemon was down."""
        assert self.scheduler is not None
        schedule = self.workspace.settings.schedule
        to_run = plan_missed_runs(
            open_store(self.workspace),
            job_id,
            trigger,
            last_fire,
            now,
            grace_seconds=schedule.misfire_grace_seconds,
            coalesce=schedule.coalesce,
        )
        if not to_run:
            return
        self.scheduler.add_job(
            self._run_missed,
            "date",
            run_date=now,
            id=f"{job_id}@misfire",
            name=f"{job_id} (missed runs)",
            kwargs={"job_id": job_id, "fire_times": to_run},
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _run_missed(
        self, job_id: str, fire_times: list[datetime], scheduled_for: datetime | None = None
    ) -> None:
        """Run a job once per missed fire time, one after another (a job never overlaps itself)."""
        for fire_time in fire_times:
            if self.stop_event.is_set():
                return
            self._execute(job_id, trigger="misfire", scheduled_for=fire_time, attempt=1)

    def _poll_config(self) -> None:
        mtime = self._read_config_mtime()
        if mtime == self._config_mtime:
            return
        self._config_mtime = mtime
        previous = self.workspace.settings
        try:
            self.workspace.reload_settings()
            self._schedule_jobs()
        except ShopctlError as error:
            # Keep running on the last good settings (jobs read them too) until the file is fixed.
            self.workspace.__dict__["settings"] = previous
            log.error("config.toml changed but cannot be used, keeping the running schedule: %s", error)
            return
        log.info("config.toml changed: schedule reloaded")

    # --- running -----------------------------------------------------------------------------------

    def _run_scheduled(self, job_id: str, scheduled_for: datetime | None = None) -> None:
        self._execute(job_id, trigger="schedule", scheduled_for=scheduled_for, attempt=1)

    def _run_once(
        self,
        job_id: str,
        trigger: str,
        attempt: int = 1,
        fire_time: datetime | None = None,
        request_id: str | None = None,
        scheduled_for: datetime | None = None,
    ) -> None:
        self._execute(
            job_id,
            trigger=trigger,
            scheduled_for=fire_time or scheduled_for,
            attempt=attempt,
            request_id=request_id,
        )

    def _execute(
        self,
        job_id: str,
        *,
        trigger: str,
        scheduled_for: datetime | None,
        attempt: int,
        request_id: str | None = None,
    ) -> None:
        def answer(run_id: int) -> None:
            if request_id:
                atomic_write_json(done_path(self.workspace, request_id), {"run_id": run_id, "job_id": job_id})

        try:
            outcome = execute_job(
                self.workspace,
                job_id,
                trigger=trigger,
                scheduled_for=scheduled_for,
                attempt=attempt,
                stop_event=self.stop_event,
                on_start=answer,
            )
        except ShopctlError as error:  # the job vanished from config.toml between scheduling and running
            log.error("job %s: cannot run: %s", job_id, error)
            if request_id:
                atomic_write_json(
                    done_path(self.workspace, request_id), {"error": str(error), "job_id": job_id}
                )
            return
        finally:
            self._dirty.set()
        self._queue_outbox_drain()
        schedule = self.workspace.settings.schedule
        if outcome.run.status == "failed" and outcome.retryable and not self.stop_event.is_set():
            if attempt <= schedule.retry_attempts:
                run_date = utc_now() + timedelta(seconds=schedule.retry_delay_seconds)
                log.info(
                    "job %s: retry %d of %d at %s", job_id, attempt, schedule.retry_attempts, iso(run_date)
                )
                assert self.scheduler is not None
                self.scheduler.add_job(
                    self._run_once,
                    "date",
                    run_date=run_date,
                    id=f"{job_id}@retry",
                    name=f"{job_id} (retry {attempt})",
                    kwargs={
                        "job_id": job_id,
                        "trigger": "retry",
                        "attempt": attempt + 1,
                        "fire_time": scheduled_for,
                    },
                    replace_existing=True,
                    misfire_grace_time=None,
                )
            else:
                log.error(
                    "job %s: failed after %d attempt(s); waiting for its next scheduled run", job_id, attempt
                )

    def _queue_outbox_drain(self) -> None:
        """Send the alert outbox on a worker of its own: a slow webhook never holds up a job or its next run.

        A drain already pending absorbs this one; one already running lets this one go (it would find the
        same items, and each is claimed by one sender at a time anyway).
        """
        if self.stop_event.is_set() or self.scheduler is None:
            return
        with contextlib.suppress(Exception):  # the scheduler is shutting down
            self.scheduler.add_job(
                self._drain_outbox,
                "date",
                run_date=utc_now(),
                id=OUTBOX_JOB_ID,
                name="alert outbox",
                replace_existing=True,
                misfire_grace_time=None,
                max_instances=1,
            )

    def _drain_outbox(self, scheduled_for: datetime | None = None) -> None:
        try:
            from engine.monitoring.sinks import drain_outbox

            summary = drain_outbox(self.workspace)
        except Exception:  # noqa: BLE001 - a broken outbox must never stop the daemon
            log.exception("alert outbox: drain failed")
            return
        if summary["attempts"]:
            log.info(
                "alert outbox: %d delivered, %d failed, %d still queued",
                summary["delivered"],
                summary["failed"],
                summary["queued"],
            )

    def _on_event(self, event: Any) -> None:
        self._dirty.set()
        if event.code in (EVENT_JOB_MISSED, EVENT_JOB_MAX_INSTANCES):
            job_id = str(event.job_id).split("@", 1)[0]
            if job_id not in self.workspace.settings.schedule.jobs:
                return
            store = open_store(self.workspace)
            if event.code == EVENT_JOB_MISSED:
                fire_time = event.scheduled_run_time
                reason = (
                    "skipped: missed by more than misfire_grace_seconds (the daemon was busy or suspended)"
                )
                kv_set(store, last_fire_key(job_id), iso(fire_time))
            else:
                times = getattr(event, "scheduled_run_times", None) or [None]
                fire_time = times[-1]
                reason = f"skipped: the previous run of {job_id!r} is still running"
            record_run(store, job_id, "skipped", trigger="schedule", scheduled_for=fire_time, error=reason)
            log.warning("job %s: %s", job_id, reason)

    # --- requests and state ------------------------------------------------------------------------

    def _poll_requests(self) -> None:
        folder = requests_dir(self.workspace)
        try:
            paths = sorted(path for path in folder.glob("*.json") if not path.name.startswith("."))
        except OSError:
            return
        for path in paths:
            try:
                request = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
            request_id = str(request.get("id") or path.stem)
            job_id = str(request.get("job_id", ""))
            if job_id not in self.workspace.settings.schedule.jobs:
                atomic_write_json(
                    done_path(self.workspace, request_id), {"error": f"no job {job_id!r}", "job_id": job_id}
                )
                continue
            log.info("job %s: run-now requested (%s)", job_id, request_id)
            assert self.scheduler is not None
            self.scheduler.add_job(
                self._run_once,
                "date",
                run_date=utc_now(),
                id=f"{job_id}@run-now-{request_id}",
                name=f"{job_id} (run-now)",
                kwargs={"job_id": job_id, "trigger": "run-now", "request_id": request_id},
                misfire_grace_time=None,
            )

    def state(self) -> dict[str, Any]:
        """What daemon.json holds: pid, start, heartbeat and each scheduled job's next run."""
        jobs = []
        if self.scheduler is not None:
            for job_id, description in self._scheduled.items():
                job = self.scheduler.get_job(job_id)
                next_run = getattr(job, "next_run_time", None) if job else None
                jobs.append({"id": job_id, "trigger": description, "next_run": iso(next_run)})
        return {
            "pid": os.getpid(),
            "started": iso(self.started),
            "heartbeat": iso(utc_now()),
            "workspace": str(self.workspace.root),
            "version": __version__,
            "jobs": jobs,
        }

    def _write_state(self) -> None:
        try:
            atomic_write_json(state_path(self.workspace), self.state())
        except OSError as error:
            log.error("cannot write %s: %s", state_path(self.workspace), error)


def run_foreground(workspace: Workspace) -> int:
    """Run the daemon in this process until SIGTERM/SIGINT (what systemd and containers run)."""
    return Daemon(workspace).run()
