"""The scheduler: the daemon that runs config.toml's [schedule], its job runs, and talking to it."""

from __future__ import annotations

from engine.scheduling.context import JobContext, JobError, JobInterrupted
from engine.scheduling.control import (
    daemon_running,
    daemon_status,
    run_job_now,
    start_background,
    stop_daemon,
)
from engine.scheduling.tasks import register_task, unregister_task

__all__ = [
    "JobContext",
    "JobError",
    "JobInterrupted",
    "daemon_running",
    "daemon_status",
    "register_task",
    "run_job_now",
    "start_background",
    "stop_daemon",
    "unregister_task",
]
