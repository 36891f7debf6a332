"""What a running task is given (JobContext) and what it may raise (JobError, JobInterrupted, JobSkipped)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.config import JobConfig
from engine.workspace import Workspace


@dataclass
class JobContext:
    """What a running task may know: its workspace, job id and settings, why it runs, and whether to stop."""

    workspace: Workspace
    job_id: str
    config: JobConfig
    trigger: str = "schedule"
    scheduled_for: datetime | None = None
    attempt: int = 1
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop_requested(self) -> bool:
        """True once the daemon is shutting down: a long task should stop at its next safe point."""
        return self.stop_event.is_set()


class JobError(Exception):
    """A task failure that carries what was produced before it, and whether a retry could help."""

    def __init__(self, message: str, produced: dict[str, Any] | None = None, *, retry: bool = True) -> None:
        super().__init__(message)
        self.produced = produced or {}
        self.retry = retry


class JobInterrupted(Exception):
    """A task stopped at a safe point because the daemon is shutting down (recorded as interrupted)."""

    def __init__(self, message: str, produced: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.produced = produced or {}


class JobSkipped(Exception):
    """A task found nothing to do (no forecast to refresh, no running experiment): recorded as skipped with the
    reason, neither ok (it did no work) nor failed (nothing is wrong), and never retried."""

    def __init__(self, message: str, produced: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.produced = produced or {}
