"""What the TUI's forecast screen shows: the newest stored forecast per series, with the actuals around it.

No textual import: the screen calls `load_forecast_view` on a worker thread and paints the dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from engine.forecast.scoring import score_run
from engine.forecast.series import daily_series, last_complete_day, newest_event_time
from engine.store.db import open_store
from engine.store.forecasts import forecast_points, list_forecast_runs
from engine.workspace import Workspace

HISTORY_DAYS = 28


@dataclass(frozen=True)
class SeriesView:
    """One series: its chosen model and backtest figures, the forecast band, and the actuals known so far."""

    name: str
    model: str
    mae: float | None
    relative_mae: float | None
    days: tuple[str, ...]  # the forecast's days
    value: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    history_days: tuple[str, ...]  # the actuals before the forecast, then those inside it
    history: tuple[float, ...]
    scored: int  # forecast days with actuals
    outside: int  # of those, outside the interval
    streak: int  # consecutive days outside, ending at the last scored day

    @property
    def status(self) -> str:
        if not self.scored:
            return "WAITING"
        return f"OUTSIDE {self.streak}d" if self.streak else "IN BAND"


@dataclass(frozen=True)
class ForecastView:
    metric: str
    by: str
    as_of: str
    horizon_days: int
    level: float
    created: str
    series: tuple[SeriesView, ...]


def load_forecast_view(ws: Workspace, now: datetime | None = None) -> ForecastView | None:
    """The newest stored forecast run with its actuals; None when `shopctl forecast` has not run yet."""
    from engine.events import scan_events

    store = open_store(ws)
    runs = list_forecast_runs(store, limit=1)
    if not runs:
        return None
    run = runs[0]
    points = forecast_points(store, run["id"])
    events = scan_events(ws)
    newest = newest_event_time(events)
    as_of = date.fromisoformat(run["as_of"])
    last = last_complete_day(newest, now or datetime.now(UTC)) if newest else as_of
    scored = score_run(run, points, events, last)
    history = {
        item.name: item
        for item in daily_series(
            events, run["metric"], run["by_column"] or None, as_of - timedelta(days=HISTORY_DAYS - 1), as_of
        )
    }
    chosen = {row["series"]: row for row in run["backtest"] if row.get("chosen")}
    views = []
    for name in dict.fromkeys(point["series"] for point in points):
        own = [point for point in points if point["series"] == name]
        days = scored.get(name, [])
        before = history.get(name)
        history_days = [day.isoformat() for day in before.days()] if before else []
        history_values = [float(value) for value in before.values] if before else []
        history_days += [day["day"] for day in days]
        history_values += [float(day["actual"]) for day in days]
        streak = 0
        for day in reversed(days):
            if not day["outside"]:
                break
            streak += 1
        row = chosen.get(name, {})
        views.append(
            SeriesView(
                name=name,
                model=own[0]["model"],
                mae=row.get("mae"),
                relative_mae=row.get("relative_mae"),
                days=tuple(point["day"] for point in own),
                value=tuple(point["value"] for point in own),
                lower=tuple(point["lower"] for point in own),
                upper=tuple(point["upper"] for point in own),
                history_days=tuple(history_days),
                history=tuple(history_values),
                scored=len(days),
                outside=sum(day["outside"] for day in days),
                streak=streak,
            )
        )
    return ForecastView(
        metric=run["metric"],
        by=run["by_column"],
        as_of=run["as_of"],
        horizon_days=int(run["horizon_days"]),
        level=float(run["level"]),
        created=run["created"],
        series=tuple(views),
    )
