"""Typed records at the engine's seams: what a step returns to its caller (the CLI, the daemon, the TUI, a script).

A record is a frozen dataclass; `to_dict()` gives the JSON-ready form and is called only at the edges (`--json`,
the daemon's job-run record, a sink's payload). The rows inside a record (metric rows, alerts) are still the
store's dict rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.monitoring.windows import Window


@dataclass(frozen=True)
class MonitorRun:
    """One `monitor run`: the window it checked, each check's verdict, what fires, and what was stored."""

    run_id: int
    status: str  # ok, warning or critical: the worst severity firing
    source: str  # "events", or the resolved path of a checked --input file
    model: str | None  # the model named by --model, or the file's model; None for every champion
    models: list[dict[str, Any]]  # per model: name, version, rows, and why a part was skipped
    window: Window
    baseline_windows: list[Window]
    backfill: bool  # a newer window is stored already: figures stored, alert lifecycle untouched
    checks: list[dict[str, Any]]  # per check: name, status and its metric rows
    firing: list[dict[str, Any]]  # the alert conditions that hold in this window
    alerts: list[dict[str, Any]]  # the open alerts of the watched models, as the sinks deliver them
    errors: list[str]
    retention: dict[str, int]
    deliveries: dict[str, Any]

    def model_names(self) -> list[str]:
        return [info["name"] for info in self.models]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "source": self.source,
            "model": self.model,
            "models": self.models,
            "window": self.window.to_dict(),
            "baseline_windows": [window.to_dict() for window in self.baseline_windows],
            "backfill": self.backfill,
            "checks": self.checks,
            "firing": self.firing,
            "alerts": self.alerts,
            "errors": self.errors,
            "retention": self.retention,
            "deliveries": self.deliveries,
        }
