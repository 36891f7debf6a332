"""The console's actions (acknowledge, promote, roll back, run a job), each an engine call in a thread worker.

Engine entry points are imported inside the worker, so one that is missing or broken becomes a
notification naming it, never a crash, and importing the TUI stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from textual import work

from console.tui.messages import ActionDone
from engine.workspace import Workspace


class ActionUnavailable(Exception):
    """An engine entry point the action needs cannot be imported."""


def entry_point(module: str, name: str, what: str) -> Any:
    """module.name, or ActionUnavailable saying which action needs it."""
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ActionUnavailable(f"{what}: {module}.{name} is not available ({error})") from None
    return found


class ActionsMixin:
    """Workers the screens call; each posts ActionDone on success, errors go to the app's one handler."""

    workspace: Workspace
    who: str
    post_message: Any  # App.post_message: the mixin only declares what it uses

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def acknowledge_alert(self, alert_id: int) -> None:
        acknowledge = entry_point("engine.monitoring.alerts", "acknowledge", "alert: acknowledge")
        acknowledge(self.workspace, alert_id, self.who)
        self.post_message(ActionDone(f"Alert {alert_id} acknowledged by {self.who}."))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def promote_model(self, name: str, version: int, why: str) -> None:
        registry = entry_point("engine.registry", "Registry", "model: promote")
        registry(self.workspace).promote(name, version, who=self.who, why=why)
        self.post_message(ActionDone(f"{name} v{version} is now the champion."))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def rollback_model(self, name: str, why: str) -> None:
        registry = entry_point("engine.registry", "Registry", "model: rollback")
        entry = registry(self.workspace).rollback(name, who=self.who, why=why)
        version = entry.get("to") if isinstance(entry, dict) else None  # the history entry it appended
        suffix = f" to v{version}" if version is not None else ""
        self.post_message(ActionDone(f"{name} rolled back{suffix}."))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def run_job(self, job_id: str) -> None:
        run_job_now = entry_point("engine.scheduling", "run_job_now", "job: run now")
        run_job_now(self.workspace, job_id, wait=False)
        self.post_message(ActionDone(f"Job {job_id} started."))
