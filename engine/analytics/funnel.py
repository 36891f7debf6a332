"""Session funnels: how many sessions reach each step, step and overall conversion, and what changed.

A session reaches step k when it has at least one event of each of steps 1..k, in any order (tracking often
logs a purchase before its checkout, and an order of events inside one session is not a promise the data
keeps); so the counts never grow down the funnel. A step names a canonical event type (view, cart, ...)
or, failing that, a raw `event_name` of the shop's own (e.g. `addtocart` or `transaction` in RetailRocket).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from engine.analytics.stats import Z_95, two_proportion_test, wilson_interval
from engine.analytics.window import Window, comparison_window, current_window
from engine.config import EVENT_TYPES
from engine.errors import InputError
from engine.events import scan_events
from engine.workspace import Workspace

DEFAULT_STEPS = ("view", "cart", "checkout", "purchase")
SIGNIFICANCE = 0.05
NO_VALUE = "(none)"
RULE = (
    "a session reaches step k when it has an event of each of steps 1..k, in any order; step conversion = "
    "sessions at step k / sessions at step k-1 (step 1: / all sessions), overall = step k / step 1"
)


@dataclass(frozen=True)
class Step:
    """One funnel step and the column it matches on (`event_type` or the raw `event_name`)."""

    name: str
    column: str

    def matches(self) -> pl.Expr:
        return pl.col(self.column) == self.name


@dataclass(frozen=True)
class StoreFacts:
    """What the store holds, read once: its time span and the event types and names present."""

    rows: int
    first: Any
    last: Any
    event_types: frozenset[str]
    event_names: frozenset[str]


def store_facts(events: pl.LazyFrame, ws: Workspace) -> StoreFacts:
    """One pass for the span and the event vocabulary; InputError when the store is empty."""
    span = events.select(
        pl.len().alias("rows"),
        pl.col("event_time").min().alias("first"),
        pl.col("event_time").max().alias("last"),
        pl.col("event_type").unique().implode().alias("types"),
        pl.col("event_name").unique().implode().alias("names"),
    ).collect(engine="streaming")
    rows = int(span["rows"].item())
    if rows == 0:
        raise InputError(
            f"{ws.events_dir}: no events yet; run `shopctl ingest FILE` (or `shopctl demo`) first"
        )
    types = frozenset(value for value in span["types"].item().to_list() if value is not None)
    names = frozenset(value for value in span["names"].item().to_list() if value is not None)
    return StoreFacts(rows, span["first"].item(), span["last"].item(), types, names)


def resolve_steps(requested: Sequence[str] | None, facts: StoreFacts) -> tuple[list[Step], list[str]]:
    """The steps to count and the default steps left out because the store has none of them."""
    if requested is None:
        steps = [Step(name, "event_type") for name in DEFAULT_STEPS if name in facts.event_types]
        skipped = [name for name in DEFAULT_STEPS if name not in facts.event_types]
        if len(steps) < 2:
            raise InputError(
                f"the store has events of type {', '.join(sorted(facts.event_types))} only: a funnel needs two "
                "steps; name them with --steps (event types or your own event names)"
            )
        return steps, skipped
    names = [name.strip() for name in requested if name.strip()]
    if len(names) < 2:
        raise InputError(
            "--steps: give at least two steps separated by commas, e.g. --steps view,cart,purchase"
        )
    if len(set(names)) != len(names):
        raise InputError(f"--steps {','.join(names)}: a step is named twice; name each step once")
    steps = []
    for name in names:
        if name in facts.event_types:
            steps.append(Step(name, "event_type"))
        elif name in facts.event_names:
            steps.append(Step(name, "event_name"))
        else:
            known_names = sorted(facts.event_names - facts.event_types)
            extra = f"; event names: {', '.join(known_names[:12])}" if known_names else ""
            absent = " (a known event type, but the store has none)" if name in EVENT_TYPES else ""
            raise InputError(
                f"--steps: unknown step {name!r}{absent}; the store's event types: "
                f"{', '.join(sorted(facts.event_types))}{extra}"
            )
    return steps, []


def check_dimension(by: str | None, ws: Workspace) -> None:
    dimensions = list(ws.settings.schema.dimensions)
    if by is not None and by not in dimensions:
        listed = ", ".join(dimensions) if dimensions else "none configured"
        raise InputError(
            f"--by {by!r}: not a dimension of this workspace ({listed}); add it under [schema.dimensions] "
            "in config.toml and re-ingest, or pick one of those"
        )


def step_counts(
    events: pl.LazyFrame, steps: Sequence[Step], windows: dict[str, Window], by: str | None
) -> pl.DataFrame:
    """Sessions and sessions reaching each step, per period (and segment): one streaming pass over the events."""
    period = pl.lit(None, dtype=pl.String)
    for name, window in windows.items():
        inside = (pl.col("event_time") >= window.start) & (pl.col("event_time") < window.end)
        period = pl.when(inside).then(pl.lit(name)).otherwise(period)
    columns = ["event_time", "session_id", "event_type", "event_name"] + ([by] if by else [])
    sessions = (
        events.select(columns)
        .with_columns(period.alias("period"))
        .filter(pl.col("period").is_not_null())
        .group_by("period", "session_id")
        .agg(
            *[step.matches().any().alias(f"has_{index}") for index, step in enumerate(steps)],
            *([pl.col(by).drop_nulls().first().fill_null(NO_VALUE).alias("segment")] if by else []),
        )
    )
    reached = [pl.all_horizontal([f"has_{j}" for j in range(index + 1)]) for index in range(len(steps))]
    keys = ["period", "segment"] if by else ["period"]
    return (
        sessions.group_by(keys)
        .agg(
            pl.len().alias("sessions"),
            *[flag.sum().alias(f"step_{index}") for index, flag in enumerate(reached)],
        )
        .sort(keys)
        .collect(engine="streaming")
    )


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def funnel_block(sessions: int, reached: Sequence[int], steps: Sequence[Step]) -> dict[str, Any]:
    """Counts, step and overall conversion with 95% Wilson intervals for one period and segment."""
    rows = []
    for index, step in enumerate(steps):
        before = sessions if index == 0 else reached[index - 1]
        rows.append(
            {
                "step": step.name,
                "matched_on": step.column,
                "sessions": reached[index],
                "step_conversion": _ratio(reached[index], before),
                "step_ci": list(wilson_interval(reached[index], before, Z_95)),
                "overall_conversion": _ratio(reached[index], reached[0]),
                "overall_ci": list(wilson_interval(reached[index], reached[0], Z_95)),
            }
        )
    return {"sessions": sessions, "steps": rows}


def compare_blocks(current: dict[str, Any], previous: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Each step's change with its two-proportion test, and the transitions ranked by conversion lost.

    A transition's conversion lost is how much overall conversion (step 1 to the last step, in points) it
    alone cost: the other transitions held at their current rate, this one moved from its comparison rate.
    """
    cur_steps, prev_steps = current["steps"], previous["steps"]
    changes = []
    for index, (cur, prev) in enumerate(zip(cur_steps, prev_steps, strict=True)):
        trials_cur = current["sessions"] if index == 0 else cur_steps[index - 1]["sessions"]
        trials_prev = previous["sessions"] if index == 0 else prev_steps[index - 1]["sessions"]
        z, p_value = two_proportion_test(cur["sessions"], trials_cur, prev["sessions"], trials_prev)
        rate_cur, rate_prev = cur["step_conversion"], prev["step_conversion"]
        change = rate_cur - rate_prev if rate_cur is not None and rate_prev is not None else None
        lost = None
        if index > 0 and change is not None:
            others = 1.0
            for other in range(1, len(cur_steps)):
                if other != index:
                    others *= cur_steps[other]["step_conversion"] or 0.0
            lost = others * -change
        changes.append(
            {
                "step": cur["step"],
                "transition": cur["step"] if index == 0 else f"{cur_steps[index - 1]['step']}->{cur['step']}",
                "current": rate_cur,
                "previous": rate_prev,
                "change": change,
                "relative_change": change / rate_prev if change is not None and rate_prev else None,
                "z": z,
                "p_value": p_value,
                "significant": p_value is not None and p_value < SIGNIFICANCE,
                "conversion_lost": lost,
            }
        )
    ranking = sorted(
        (change for change in changes if change["conversion_lost"] is not None),
        key=lambda change: -change["conversion_lost"],
    )
    return changes, ranking


def _blocks(counts: pl.DataFrame, period: str, steps: Sequence[Step], by: str | None) -> dict[Any, dict]:
    """Funnel blocks by segment (key None = all sessions) for one period."""
    rows = counts.filter(pl.col("period") == period)
    width = len(steps)
    total = [0] * (width + 1)
    blocks: dict[Any, dict] = {}
    for row in rows.iter_rows(named=True):
        values = [row["sessions"]] + [row[f"step_{index}"] for index in range(width)]
        total = [a + b for a, b in zip(total, values, strict=True)]
        if by:
            blocks[row["segment"]] = funnel_block(values[0], values[1:], steps)
    overall = {None: funnel_block(total[0], total[1:], steps)}
    return overall | blocks


def funnel_report(
    ws: Workspace,
    *,
    steps: Sequence[str] | None = None,
    by: str | None = None,
    since: str | None = None,
    until: str | None = None,
    compare_to: str | None = None,
) -> dict[str, Any]:
    """The `shopctl funnel --json` payload: overall and per-segment funnels, and with compare_to the changes."""
    check_dimension(by, ws)
    events = scan_events(ws)
    facts = store_facts(events, ws)
    resolved, skipped = resolve_steps(steps, facts)
    current = current_window(since, until, facts.first, facts.last, comparing=compare_to is not None)
    windows = {"current": current}
    if compare_to is not None:
        windows["previous"] = comparison_window(compare_to, current)
    counts = step_counts(events, resolved, windows, by)
    held = f"the store holds {facts.first:%Y-%m-%d}..{facts.last:%Y-%m-%d}"
    for name, window in windows.items():
        if counts.filter(pl.col("period") == name).height == 0:
            option = "--compare-to" if name == "previous" else "--since/--until"
            raise InputError(f"{option}: no events in {window.label()}; {held}")
    report: dict[str, Any] = {
        "window": current.to_dict(),
        "compare_to": windows["previous"].to_dict() if "previous" in windows else None,
        "steps": [step.name for step in resolved],
        "skipped_steps": skipped,
        "by": by,
        "rule": RULE,
        "significance": SIGNIFICANCE,
    }
    now_blocks = _blocks(counts, "current", resolved, by)
    before_blocks = _blocks(counts, "previous", resolved, by) if "previous" in windows else {}
    segments = []
    for key, block in now_blocks.items():
        entry = {"segment": key} | block
        if key in before_blocks:
            entry["previous"] = before_blocks[key]
            entry["changes"], ranking = compare_blocks(block, before_blocks[key])
            entry["drop_off_ranking"] = [change["transition"] for change in ranking]
        segments.append(entry)
    report["overall"] = segments[0]
    report["segments"] = segments[1:]
    return report
