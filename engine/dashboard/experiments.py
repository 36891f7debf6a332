"""What the TUI's experiments screen shows: every stored experiment with its newest analysis.

Reads the store only (`engine.store.experiments`), so the screen opens without polars; the analyses themselves
are written by `shopctl experiment analyze` and the daemon's `experiments` task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.dashboard.reads import reader
from engine.store.experiments import list_experiments
from engine.workspace import Workspace


@dataclass(frozen=True)
class VariantLift:
    """One treatment against the control: relative lift and the interval the verdict reads."""

    variant: str
    control: str
    lift: float
    lower: float
    upper: float
    p_value: float | None
    chance_to_beat: float | None
    significant: bool
    sequential: bool


@dataclass(frozen=True)
class ExperimentView:
    id: int
    dimension: str
    metric: str
    unit: str
    status: str  # running, stopped
    analyzed: str | None  # None before the first analysis
    srm_p_value: float | None
    srm_mismatch: bool
    verdict: str
    lifts: tuple[VariantLift, ...]

    @property
    def state_word(self) -> str:
        """What the row says, never colour alone."""
        if self.analyzed is None:
            return "NOT ANALYSED"
        if self.srm_mismatch:
            return "SRM"
        if any(item.significant for item in self.lifts):
            return "SIGNIFICANT"
        return "RUNNING" if self.status == "running" else "STOPPED"


def _lift(row: dict[str, Any]) -> VariantLift:
    sequence = row.get("sequential")
    lower = sequence["relative_lower"] if sequence else row.get("relative_lower")
    upper = sequence["relative_upper"] if sequence else row.get("relative_upper")
    return VariantLift(
        variant=str(row.get("variant")),
        control=str(row.get("control")),
        lift=float(row.get("relative_lift") or 0.0),
        lower=float(lower if lower is not None else float("nan")),
        upper=float(upper if upper is not None else float("nan")),
        p_value=row.get("p_value"),
        chance_to_beat=row.get("chance_to_beat_control"),
        significant=bool(row.get("significant")),
        sequential=bool(sequence),
    )


def experiment_view(item: dict[str, Any]) -> ExperimentView:
    latest = item.get("latest") or {}
    payload = latest.get("payload") or {}
    return ExperimentView(
        id=int(item["id"]),
        dimension=str(item["dimension"]),
        metric=str(item["metric"]),
        unit=str(item["unit"]),
        status=str(item["status"]),
        analyzed=latest.get("analyzed"),
        srm_p_value=latest.get("srm_p_value"),
        srm_mismatch=bool(latest.get("srm_mismatch")),
        verdict=str(latest.get("verdict") or "no analysis yet: shopctl experiment analyze --dimension NAME"),
        lifts=tuple(_lift(row) for row in payload.get("comparisons") or []),
    )


def load_experiments(ws: Workspace) -> tuple[ExperimentView, ...]:
    """Every experiment, newest first, with its newest analysis."""
    with reader(ws) as store:
        rows = list_experiments(store)
    return tuple(experiment_view(item) for item in reversed(rows))
