"""Monitoring windows: parse "1d"/"12h", resolve `--at`, and the same-weekday baseline windows before one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from engine.errors import InputError
from engine.infra.durations import parse_duration as _parse_duration

WEEK = timedelta(days=7)
# The default window steps back one grain while less than this share of the newest grain has data.
MIN_FILLED_SHARE = 0.25


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end); observed_end < end when the data stops inside it."""

    start: datetime
    end: datetime
    observed_end: datetime | None = None

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def data_end(self) -> datetime:
        """Where data in this window stops: end, or the newest event when the window is still filling."""
        return min(self.end, self.observed_end) if self.observed_end else self.end

    @property
    def partial(self) -> bool:
        return self.data_end < self.end

    def shifted(self, delta: timedelta) -> Window:
        observed = self.observed_end - delta if self.observed_end else None
        return Window(self.start - delta, self.end - delta, observed)

    def to_dict(self) -> dict[str, object]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "length": duration_text(self.length),
            "partial": self.partial,
            "data_end": iso(self.data_end),
        }


def iso(moment: datetime) -> str:
    """ISO-8601 UTC text as stored in the store (seconds precision, +00:00 offset)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_duration(text: str, *, source: str = "--window") -> timedelta:
    """Parse a window length such as "1d", "7d", "12h" or "2w" (a bare number is days; whole hours only)."""
    return _parse_duration(text, source=source, default_unit="d", granularity=timedelta(hours=1))


def duration_text(length: timedelta) -> str:
    """The short form of a window length ("1d", "12h")."""
    hours = int(length.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def parse_at(value: str | date | datetime | None, *, source: str = "--at") -> datetime | None:
    """The window's exclusive end: a date means its midnight UTC; naive times are UTC.

    source names the option or key the value came from, so the error points at what the user typed.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    try:
        if len(text) == 10:
            return parse_at(date.fromisoformat(text), source=source)
        return parse_at(datetime.fromisoformat(text.replace("Z", "+00:00")), source=source)
    except ValueError:
        raise InputError(
            f"{source} {text!r}: expected a date like 2026-03-01 or a time like 2026-03-01T12:00"
        ) from None


def _ceil(moment: datetime, step: timedelta) -> datetime:
    """Round moment up to the next multiple of step counted from midnight UTC of 1970-01-01."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = (moment - epoch) // step
    floor = epoch + steps * step
    return floor if floor == moment else floor + step


def resolve_window(length: timedelta, at: datetime | None, newest_event: datetime | None) -> Window:
    """The window ending at `at`; by default at the newest event rounded up to a whole day (or hour), or the
    grain before when under a quarter of the newest grain has data yet."""
    if at is None:
        if newest_event is None:
            raise InputError(
                "no events in the workspace to monitor; ingest some with `shopctl ingest FILE` or pass --input FILE"
            )
        grain = timedelta(days=1) if length % timedelta(days=1) == timedelta(0) else timedelta(hours=1)
        at = _ceil(newest_event + timedelta(microseconds=1), grain)
        if newest_event - (at - grain) < grain * MIN_FILLED_SHARE:
            # A few stragglers past midnight (sessions running over) are not "the newest data" to judge.
            at -= grain
    observed = None
    if newest_event is not None and newest_event < at:
        observed = newest_event + timedelta(microseconds=1)
    return Window(at - length, at, observed)


def latest_window_end(length: timedelta, now: datetime) -> datetime:
    """The latest end a window may have: now rounded up to the window's grain (a day, or an hour).

    The default window of a shop with data up to now ends there; nothing later has happened yet, so a later
    `--at` is refused and a stored "newest window" mark past it (left by older versions) is ignored.
    """
    grain = timedelta(days=1) if length % timedelta(days=1) == timedelta(0) else timedelta(hours=1)
    return _ceil(now, grain)


EARLIEST_WINDOW_START = datetime(1970, 1, 1, tzinfo=UTC)


def check_window_end(
    at: datetime, length: timedelta, baseline_weeks: int, now: datetime, *, source: str = "--at"
) -> datetime:
    """Refuse a window that ends in the future or whose baselines would start before 1970; at when it is fine."""
    latest = latest_window_end(length, now)
    if at > latest:
        raise InputError(
            f"{source} {iso(at)}: that window ends after now (the latest window ends {iso(latest)}); "
            "monitor a window that has already happened"
        )
    step = WEEK * -(-length // WEEK)
    span = length + step * baseline_weeks
    if at - EARLIEST_WINDOW_START < span:
        raise InputError(
            f"{source} {at.date().isoformat()}: too early; a {duration_text(length)} window with "
            f"{baseline_weeks} baseline week(s) must end after {iso(EARLIEST_WINDOW_START + span)}"
        )
    return at


def baseline_windows(window: Window, weeks: int) -> list[Window]:
    """The same window shifted back by whole weeks (same weekday and hours), newest first, never overlapping."""
    step = WEEK * -(-window.length // WEEK)
    return [window.shifted(step * k) for k in range(1, weeks + 1)]
