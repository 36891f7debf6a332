"""The task registry: what a scheduled job runs, looked up by name or by "module:function".

A task is a function `task(context: JobContext) -> dict` returning what it produced (plain JSON data).
Built-in tasks (monitor, ingest, retrain, report, deliver) are the plain dict engine.scheduling.builtin.BUILTIN_TASKS;
tests and users add their own with `register_task` or name one as `module:function` in config.toml.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from engine.config import JobConfig
from engine.errors import ConfigError
from engine.scheduling.builtin import BUILTIN_TASKS
from engine.scheduling.context import JobContext, JobError, JobInterrupted

TaskFunction = Callable[[JobContext], "dict[str, Any] | None"]

# Tasks added at run time (tests, a user's own script); they shadow a built-in of the same name.
_TASKS: dict[str, TaskFunction] = {}

__all__ = ["JobContext", "JobError", "JobInterrupted", "TaskFunction", "register_task", "resolve_task"]


def register_task(name: str, function: TaskFunction) -> TaskFunction:
    """Make a task available to `[schedule.jobs.<id>] task = name` (and to jobs whose id is name)."""
    _TASKS[name] = function
    return function


def unregister_task(name: str) -> None:
    """Remove a registered task (tests use this to clean up)."""
    _TASKS.pop(name, None)


def resolve_task(job_id: str, config: JobConfig) -> TaskFunction:
    """The function a job runs: its `task` (registered name or module:function), else the task named as the job."""
    name = config.task or job_id
    known = {**BUILTIN_TASKS, **_TASKS}
    if name in known:
        return known[name]
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
        f"{', '.join(sorted(known))} or to module:function"
    )
