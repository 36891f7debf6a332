"""Typed records at the engine's seams: what a step returns to its caller (the CLI, the daemon, the TUI, a script).

A record is a frozen dataclass; `to_dict()` gives the JSON-ready form and is called only at the edges (`--json`,
the daemon's job-run record, a sink's payload). The rows inside a record (metric rows, alerts) are still the
store's dict rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.clock import iso

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


@dataclass(frozen=True)
class ModelEvaluation:
    """A registered model judged on the retrain holdout: its version and metrics (empty when not computable)."""

    version: int
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "metrics": self.metrics}


@dataclass(frozen=True)
class ChallengerEvaluation:
    """A freshly trained challenger judged on the same holdout; `version` is set once it is registered."""

    model: str  # the winning candidate (logistic, hgb, mlp, stack)
    metrics: dict[str, float]
    parity_max_abs_diff: float
    parity_ok: bool
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "model": self.model,
            "metrics": self.metrics,
            "parity_max_abs_diff": self.parity_max_abs_diff,
            "parity_ok": self.parity_ok,
        }


@dataclass(frozen=True)
class RetrainDecision:
    """One retrain of one model (`shopctl retrain`, the daemon's policy): the verdict, why, and what was judged.

    `decision` is "promote" or "keep" when a comparison ran, "skipped" when the policy did not let it run
    (then only `name` and `reasons` say anything). `windows` holds the train and holdout windows
    ({rows, start, end} each); `trigger` the alert ids when open alerts started it.
    """

    name: str
    decision: str
    reasons: list[str]
    dry_run: bool = False
    forced: bool = False
    promoted: bool = False
    metric: str | None = None
    margin: float | None = None
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    champion: ModelEvaluation | None = None
    challenger: ChallengerEvaluation | None = None
    improvement: float | None = None
    quality_problems: list[str] = field(default_factory=list)
    trigger: dict[str, Any] | None = None

    @classmethod
    def skipped(cls, name: str, reason: str) -> RetrainDecision:
        return cls(name=name, decision="skipped", reasons=[reason])

    def summary(self) -> dict[str, Any]:
        """What a job run keeps: the verdict, why, and the versions involved."""
        return {
            "name": self.name,
            "decision": self.decision,
            "promoted": self.promoted,
            "forced": self.forced,
            "reasons": self.reasons,
            "champion": self.champion.version if self.champion else None,
            "challenger": self.challenger.version if self.challenger else None,
        }

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "name": self.name,
            "decision": self.decision,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "promoted": self.promoted,
            "metric": self.metric,
            "margin": self.margin,
            "windows": self.windows,
            "champion": self.champion.to_dict() if self.champion else None,
            "challenger": self.challenger.to_dict() if self.challenger else None,
            "improvement": self.improvement,
            "quality_problems": self.quality_problems,
            "reasons": self.reasons,
        }
        if self.trigger is not None:
            payload["trigger"] = self.trigger
        return payload


@dataclass(frozen=True)
class JobRun:
    """One recorded run of a daemon job (scheduled, retried, missed or on demand), as the store keeps it."""

    id: int
    job_id: str
    trigger: str  # schedule, run-now, retry, misfire
    status: str  # running, ok, failed, skipped, interrupted
    started: datetime
    scheduled_for: datetime | None = None
    finished: datetime | None = None
    error: str | None = None
    produced: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def summary(self) -> dict[str, Any]:
        """The short form `daemon status` shows per job and per recent run."""
        return {
            "id": self.id,
            "status": self.status,
            "trigger": self.trigger,
            "scheduled_for": iso(self.scheduled_for),
            "start": iso(self.started),
            "end": iso(self.finished),
            "error": self.error,
            "produced": self.produced,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "trigger": self.trigger,
            "scheduled_for": iso(self.scheduled_for),
            "started": iso(self.started),
            "finished": iso(self.finished),
            "status": self.status,
            "error": self.error,
            "produced": self.produced,
            "pid": self.pid,
        }


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# What every sink receives for one alert (webhook body, command stdin, alerts.jsonl line), in this order.
ALERT_PAYLOAD_KEYS = (
    "id",
    "rule",
    "metric",
    "scope",
    "model",
    "severity",
    "state",
    "message",
    "value",
    "threshold",
    "opened",
    "updated",
    "resolved",
    "window_end",
    "consecutive",
)


@dataclass(frozen=True)
class Alert:
    """One alert as the store keeps it: a rule's condition on one series (metric, scope, model) and its
    lifecycle, open → acknowledged → resolved. Moments are the stored ISO-8601 texts (UTC)."""

    id: int
    rule: str
    metric: str
    scope: str
    model: str  # "" for data and KPI alerts
    severity: str  # info, warning, critical
    state: str  # open, acknowledged, resolved
    message: str
    opened: str
    updated: str
    value: float | None = None
    threshold: float | None = None
    consecutive: int = 1
    resolved: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: str | None = None
    window_end: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # the firing row's check, kind, band and detail

    @property
    def active(self) -> bool:
        return self.state in ("open", "acknowledged")

    @property
    def opened_at(self) -> datetime | None:
        return _moment(self.opened)

    @property
    def target(self) -> tuple[str, str] | None:
        """What the alert concerns: ("feature", name), ("segment", "dim=value") or ("model", name)."""
        kind, sep, name = self.scope.partition(":")
        if sep and kind in ("feature", "segment", "model") and name:
            return kind, name
        if self.model:
            return "model", self.model
        return None

    @property
    def check_name(self) -> str | None:
        """The check whose metric row fired the alert (None for info alerts)."""
        row = self.detail.get("row") if isinstance(self.detail, dict) else None
        return row.get("check_name") if isinstance(row, dict) else None

    def payload(self) -> dict[str, Any]:
        """The JSON every sink receives."""
        record = self.to_dict()
        return {**{key: record[key] for key in ALERT_PAYLOAD_KEYS}, "source": "shopctl"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "metric": self.metric,
            "scope": self.scope,
            "model": self.model,
            "severity": self.severity,
            "state": self.state,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "consecutive": self.consecutive,
            "opened": self.opened,
            "updated": self.updated,
            "resolved": self.resolved,
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": self.acknowledged_at,
            "window_end": self.window_end,
            "detail": self.detail,
        }
