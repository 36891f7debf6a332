"""`simulate`: a seeded, vectorised event log of a realistic shop, with a scenario injected on a change day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.simulator.events import build_events
from engine.simulator.scenarios import SCENARIO_SETTINGS, SCENARIOS, day_start, describe
from engine.simulator.sessions import DAY_US, draw_funnel, draw_sessions
from engine.simulator.shop import make_catalogue, make_population

# Registered users in the population per expected registered session: sets how often people come back.
USERS_PER_SESSION = 0.45


@dataclass(frozen=True)
class Simulation:
    """Simulated events (canonical schema plus channel, device, country) and what the scenario changed."""

    events: pl.DataFrame
    ground_truth: dict[str, Any]


def _as_date(value: date | datetime | str, what: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InputError(f"{what} {value!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-03-01") from None


def simulate(
    days: int,
    *,
    seed: int = 7,
    scenario: str = "stable",
    start: date | datetime | str | None = None,
    sessions_per_day: float = 1500,
    scenario_day: date | datetime | str | None = None,
) -> Simulation:
    """Simulate `days` days of shop events; `start=None` ends the data yesterday (UTC)."""
    if int(days) < 1:
        raise InputError(f"--days {days}: simulate at least 1 day")
    days = int(days)
    if not sessions_per_day or sessions_per_day <= 0:
        raise InputError(f"--sessions-per-day {sessions_per_day}: must be a positive number, e.g. 1500")
    if scenario not in SCENARIO_SETTINGS:
        raise InputError(f"scenario {scenario!r} is unknown: pick one of {', '.join(SCENARIOS)}")
    if start is None:
        first_day = datetime.now(UTC).date() - timedelta(days=days)
    else:
        first_day = _as_date(start, "start")
    last_day = first_day + timedelta(days=days - 1)

    settings = SCENARIO_SETTINGS[scenario]
    change: date | None = None
    change_index: int | None = None
    if scenario != "stable":
        if scenario_day is None:
            change = first_day + timedelta(days=max(1, (2 * days) // 3))
        else:
            change = _as_date(scenario_day, "scenario day")
        change_index = (change - first_day).days
        if not 1 <= change_index <= days - 1:  # none for a one-day period
            raise InputError(
                f"scenario day {change.isoformat()} must fall after the first day {first_day.isoformat()} "
                f"and on or before the last day {last_day.isoformat()}; pick a day inside the period or add --days"
            )

    seed = int(seed)
    origin = day_start(first_day)
    catalogue = make_catalogue(seed)
    expected_registered = sessions_per_day * days * 0.88
    population = make_population(seed, int(USERS_PER_SESSION * expected_registered) + 20, days)
    sessions = draw_sessions(
        seed, days, first_day.weekday(), sessions_per_day, population, settings, change_index
    )
    funnel = draw_funnel(seed, sessions, catalogue, settings, change_index)
    events = build_events(
        seed,
        origin,
        sessions,
        funnel,
        catalogue,
        drop_type=settings.dropped_event_type,
        drop_from_us=None if change_index is None else change_index * DAY_US,
        variant_names=settings.variants,
        srm_lost_share=settings.srm_lost_share,
    )
    fraud_truth: dict[str, Any] = {}
    if scenario == "order_fraud" and change is not None:
        from engine.simulator.fraud import add_order_fraud

        events, fraud_truth = add_order_fraud(events, seed=seed, change=change, end=last_day)
    truth: dict[str, Any] = {
        "scenario": scenario,
        "seed": seed,
        "start": first_day.isoformat(),
        "end": last_day.isoformat(),
        "days": days,
        "sessions_per_day": sessions_per_day,
        "first_event": _iso(events["event_time"].min()),
        "last_event": _iso(events["event_time"].max()),
    }
    truth |= describe(settings, change)
    truth |= fraud_truth
    truth["counts"] = {
        "events": events.height,
        "sessions": int(len(sessions["start"])),
        "campaign_sessions": int(sessions["campaign"].sum()),
        "registered_users": int(np.unique(sessions["user"][sessions["user"] >= 0]).size),
        "orders": int((funnel["n_purchase"] > 0).sum()),
    }
    return Simulation(events=events, ground_truth=truth)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
