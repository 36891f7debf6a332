"""The task registry: what a scheduled job runs, looked up by name or by "module:function".

A task is a function `task(context: JobContext) -> dict` returning what it produced (plain JSON data).
Built-in tasks (monitor, ingest, retrain, report, deliver) register themselves from engine.scheduling.builtin;
tests and users add their own with `register_task` or name one as `module:function` in config.toml.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.config import JobConfig
from engine.errors import ConfigError
from engine.workspace import Workspace

TaskFunction = Callable[["JobContext"], "dict[str, Any] | None"]

_TASKS: dict[str, TaskFunction] = {}


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


def register_task(name: str, function: TaskFunction) -> TaskFunction:
    """Make a task available to `[schedule.jobs.<id>] task = name` (and to jobs whose id is name)."""
    _TASKS[name] = function
    return function


def unregister_task(name: str) -> None:
    """Remove a registered task (tests use this to clean up)."""
    _TASKS.pop(name, None)


def task_names() -> list[str]:
    """Names of the registered tasks, sorted."""
    _load_builtin()
    return sorted(_TASKS)


def _load_builtin() -> None:
    importlib.import_module("engine.scheduling.builtin")


def resolve_task(job_id: str, config: JobConfig) -> TaskFunction:
    """The function a job runs: its `task` (registered name or module:function), else the task named as the job."""
    _load_builtin()
    name = config.task or job_id
    if name in _TASKS:
        return _TASKS[name]
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            function = getattr(module, attribute)
        except (ImportError, AttributeError) as error:
            raise ConfigError(
                f"config.toml: key 'schedule.jobs.{job_id}.task': cannot load {name!r} ({error}); "
                "give a built-in task or an importable module:function"
            ) from None
        if not callable(function):
            raise ConfigError(f"config.toml: key 'schedule.jobs.{job_id}.task': {name!r} is not callable")
        return function
    raise ConfigError(
        f"config.toml: key 'schedule.jobs.{job_id}': no task named {name!r}; set task to one of "
        f"{', '.join(sorted(_TASKS))} or to module:function"
    )
