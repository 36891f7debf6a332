"""The funnel screen's read model: the last days' funnel against the days before, and the drop-off ranking.

Computed from the event store (polars, loaded on first use), so the screen asks for it in a thread worker and
again only when the event manifest changes (`events_version`), not on every refresh tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import ShopctlError
from engine.workspace import Workspace

FUNNEL_DAYS = 7


@dataclass(frozen=True)
class FunnelStepRow:
    """One step: sessions and step conversion now and in the comparison window."""

    step: str
    sessions: int
    previous_sessions: int | None
    step_conversion: float | None
    previous_step_conversion: float | None
    overall_conversion: float | None


@dataclass(frozen=True)
class DropOffRow:
    """One transition's change, its significance and the overall conversion it cost (points, + = lost)."""

    transition: str
    current: float | None
    previous: float | None
    change: float | None
    p_value: float | None
    significant: bool
    conversion_lost: float | None


@dataclass(frozen=True)
class FunnelView:
    """What the funnel screen paints; `message` says why it is empty when it is."""

    window: str = ""
    compare_to: str = ""
    sessions: int = 0
    previous_sessions: int = 0
    steps: tuple[FunnelStepRow, ...] = ()
    ranking: tuple[DropOffRow, ...] = ()
    message: str = ""


def events_version(ws: Workspace) -> int | None:
    """A cheap token that changes when events are committed (the manifest's mtime), None with no events."""
    from engine.events import manifest_path  # the store module loads polars; the import is deferred to here

    try:
        return manifest_path(ws).stat().st_mtime_ns
    except OSError:
        return None


def _label(window: dict[str, str] | None) -> str:
    """2026-02-23..03-01: the end's year is left out when it is the start's (titles fit 80 columns)."""
    if not window:
        return ""
    since, until = window["since"], window["until"]
    return f"{since}..{until[5:] if until[:4] == since[:4] else until}"


def funnel_view(report: dict[str, Any]) -> FunnelView:
    """The screen's rows from a `funnel_report` payload with a comparison."""
    overall = report["overall"]
    previous = overall.get("previous") or {"sessions": 0, "steps": [{} for _ in overall["steps"]]}
    steps = tuple(
        FunnelStepRow(
            row["step"],
            row["sessions"],
            before.get("sessions"),
            row["step_conversion"],
            before.get("step_conversion"),
            row["overall_conversion"],
        )
        for row, before in zip(overall["steps"], previous["steps"], strict=True)
    )
    by_transition = {change["transition"]: change for change in overall.get("changes", [])}
    ranking = tuple(
        DropOffRow(
            name,
            by_transition[name]["current"],
            by_transition[name]["previous"],
            by_transition[name]["change"],
            by_transition[name]["p_value"],
            by_transition[name]["significant"],
            by_transition[name]["conversion_lost"],
        )
        for name in overall.get("drop_off_ranking", [])
    )
    return FunnelView(
        _label(report["window"]),
        _label(report.get("compare_to")),
        overall["sessions"],
        previous["sessions"],
        steps,
        ranking,
    )


def load_funnel(ws: Workspace, *, days: int = FUNNEL_DAYS) -> FunnelView:
    """The last `days` days of data against the `days` before; an empty view naming the reason on bad data."""
    from datetime import timedelta

    from engine.analytics import funnel

    try:
        events = funnel.scan_events(ws)
        facts = funnel.store_facts(events, ws)
        last = facts.last.date()
        since = last - timedelta(days=days - 1)
        has_before = facts.first.date() < since  # a store shorter than the window has nothing to compare
        report = funnel.funnel_report(
            ws, since=since.isoformat(), until=last.isoformat(), compare_to="previous" if has_before else None
        )
    except ShopctlError as error:
        return FunnelView(message=str(error))
    return funnel_view(report)
