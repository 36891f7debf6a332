"""The console's actions (acknowledge, promote, roll back, run a job), each an engine call in a thread worker.

The engine parts are imported inside the worker, so importing the TUI stays light; an error they raise
(a busy workspace, an unknown version) reaches the app's one worker-error handler as a notification.
"""

from __future__ import annotations

from typing import Any

from textual import work

from console.tui.messages import ActionDone
from engine.workspace import Workspace


class ActionsMixin:
    """Workers the screens call; each posts ActionDone on success, errors go to the app's one handler."""

    workspace: Workspace
    who: str
    post_message: Any  # App.post_message: the mixin only declares what it uses

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def acknowledge_alert(self, alert_id: int) -> None:
        from engine.monitoring import alerts

        alerts.acknowledge(self.workspace, alert_id, self.who)
        self.post_message(ActionDone(f"Alert {alert_id} acknowledged by {self.who}."))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def promote_model(self, name: str, version: int, why: str) -> None:
        from engine import registry

        registry.Registry(self.workspace).promote(name, version, who=self.who, why=why)
        self.post_message(ActionDone(f"{name} v{version} is now the champion."))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def rollback_model(self, name: str, why: str) -> None:
        from engine import registry

        entry = registry.Registry(self.workspace).rollback(name, who=self.who, why=why)
        version = entry.get("to")  # the history entry it appended
        suffix = f" to v{version}" if version is not None else ""
        self.post_message(ActionDone(f"{name} rolled back{suffix}."))

    @work(thread=True, exclusive=True, exit_on_error=False, group="action")
    def run_job(self, job_id: str) -> None:
        from engine import scheduling

        scheduling.run_job_now(self.workspace, job_id, wait=False)
        self.post_message(ActionDone(f"Job {job_id} started."))
