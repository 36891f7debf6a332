"""The read model's dataclasses: frozen, so the TUI can repaint only what compares unequal to what it showed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.dashboard.segment_model import EMPTY_SEGMENTS, SegmentsView
from engine.records import Alert

SERIES_DAYS = 90
ALERT_ROWS = 200
JOB_RUN_ROWS = 100
SEVERITIES = ("critical", "warning", "info")
QUALITY_METRICS = ("roc_auc", "pr_auc", "accuracy")


@dataclass(frozen=True)
class Point:
    """One window of a time series: its end, the value and the band around it."""

    at: datetime
    value: float | None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class KpiTile:
    metric: str
    value: float | None
    baseline: float | None
    lower: float | None
    upper: float | None
    status: str
    window_end: datetime | None

    @property
    def delta(self) -> float | None:
        """Relative change of the window against its baseline (0.021 is +2.1 %)."""
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline - 1.0


@dataclass(frozen=True)
class QualityTile:
    model: str
    metric: str
    value: float | None
    kind: str  # realized | estimated
    lower: float | None
    upper: float | None
    status: str
    window_end: datetime | None


@dataclass(frozen=True)
class DriftTile:
    model: str
    drifting: int
    total: int
    share: float | None
    status: str
    window_end: datetime | None


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    trigger: str
    next_run: datetime | None


@dataclass(frozen=True)
class DaemonState:
    running: bool
    pid: int | None
    started: datetime | None
    heartbeat: datetime | None
    jobs: tuple[ScheduledJob, ...] = ()

    @property
    def label(self) -> str:
        return "RUNNING" if self.running else "NOT RUNNING"


@dataclass(frozen=True)
class Champion:
    name: str
    version: int | None
    created: datetime | None
    age_days: float | None


@dataclass(frozen=True)
class Dashboard:
    """Everything the overview shows."""

    now: datetime
    conversion: KpiTile | None
    quality: QualityTile | None
    drift: DriftTile | None
    open_alerts: tuple[tuple[str, int], ...]
    champions: tuple[Champion, ...]
    next_check: ScheduledJob | None
    data_through: datetime | None
    last_run_finished: datetime | None
    daemon: DaemonState
    conversion_series: tuple[Point, ...] = ()
    quality_metric: str = "roc_auc"
    quality_realized: tuple[Point, ...] = ()
    quality_estimated: tuple[Point, ...] = ()
    drift_share_series: tuple[Point, ...] = ()


@dataclass(frozen=True)
class Histogram:
    """Reference and current distribution over the same bins, as fractions."""

    labels: tuple[str, ...] = ()
    reference: tuple[float, ...] = ()
    current: tuple[float, ...] = ()


@dataclass(frozen=True)
class FeatureDrift:
    model: str
    feature: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    status: str
    histogram: Histogram = field(default_factory=Histogram)
    reported_severity: float | None = None
    note: str = ""  # why a check was skipped, when it says

    @property
    def severity(self) -> float:
        """How far past its threshold (1.0 is on it), as the drift check reported it or else derived the same way:
        statistic / threshold, or log(p) / log(threshold) for tests whose threshold is a p-value."""
        if self.reported_severity is not None:
            return self.reported_severity
        if self.statistic is None or not self.threshold:
            return 0.0
        if self.p_value is not None and 0 < self.threshold < 1:
            return math.log(max(self.p_value, 1e-300)) / math.log(self.threshold)
        return abs(self.statistic) / abs(self.threshold)


@dataclass(frozen=True)
class DriftView:
    window_end: datetime | None
    features: tuple[FeatureDrift, ...]


@dataclass(frozen=True)
class KpiRow:
    metric: str
    scope: str
    value: float | None
    baseline: float | None
    lower: float | None
    upper: float | None
    status: str
    anomaly: bool
    sessions: float | None = None

    @property
    def delta(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline - 1.0

    @property
    def segment(self) -> tuple[str, str]:
        """(dimension, value) of a segment:<dim>=<value> scope."""
        dimension, _, value = self.scope.removeprefix("segment:").partition("=")
        return dimension, value


@dataclass(frozen=True)
class KpiView:
    window_start: datetime | None
    window_end: datetime | None
    overall: tuple[KpiRow, ...]
    funnel: tuple[KpiRow, ...]
    segments: tuple[KpiRow, ...]


@dataclass(frozen=True)
class VersionRow:
    version: int
    created: datetime | None
    chosen: str
    metric: str
    validation: float | None
    test: float | None
    parity: float | None
    champion: bool


@dataclass(frozen=True)
class HistoryRow:
    at: datetime | None
    who: str
    action: str
    from_version: int | None
    to_version: int | None
    why: str


@dataclass(frozen=True)
class ModelView:
    name: str
    task: str
    champion: int | None
    versions: tuple[VersionRow, ...]
    history: tuple[HistoryRow, ...]


@dataclass(frozen=True)
class JobRow:
    id: str
    trigger: str
    enabled: bool
    next_run: datetime | None
    last_status: str | None
    last_started: datetime | None
    last_seconds: float | None


@dataclass(frozen=True)
class JobRunRow:
    id: int
    job_id: str
    trigger: str
    started: datetime | None
    seconds: float | None
    status: str
    error: str


@dataclass(frozen=True)
class JobsView:
    daemon: DaemonState
    jobs: tuple[JobRow, ...]
    runs: tuple[JobRunRow, ...]


@dataclass(frozen=True)
class ConsoleData:
    """One refresh of everything the console shows."""

    dashboard: Dashboard
    drift: DriftView
    kpis: KpiView
    alerts: tuple[Alert, ...]
    models: tuple[ModelView, ...]
    jobs: JobsView
    segments: SegmentsView = EMPTY_SEGMENTS  # customer segments (engine/dashboard/segments.py)


def parse_time(text: Any) -> datetime | None:
    """An ISO-8601 string (naive means UTC) as an aware datetime; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
