"""Date windows for analytics commands: --since/--until (inclusive days, UTC) and --compare-to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from engine.errors import InputError

DEFAULT_COMPARE_DAYS = 7


@dataclass(frozen=True)
class Window:
    """Whole UTC days from `first` to `last`, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def to_dict(self) -> dict[str, str]:
        return {"since": self.first.isoformat(), "until": self.last.isoformat()}

    def label(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


def parse_day(text: str, option: str) -> date:
    """A YYYY-MM-DD date, or an InputError naming the option and the expected form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: expected a date YYYY-MM-DD, e.g. 2026-03-01") from None


def current_window(
    since: str | None, until: str | None, first_event: datetime, last_event: datetime, *, comparing: bool
) -> Window:
    """The window asked for; open ends take the store's first/last event day (the last 7 days when comparing)."""
    last = parse_day(until, "--until") if until else last_event.astimezone(UTC).date()
    if since:
        first = parse_day(since, "--since")
    elif comparing:
        first = last - timedelta(days=DEFAULT_COMPARE_DAYS - 1)
    else:
        first = first_event.astimezone(UTC).date()
    if first > last:
        raise InputError(f"--since {first} is after --until {last}: give a window whose start comes first")
    return Window(first, last)


def comparison_window(spec: str, current: Window) -> Window:
    """--compare-to: `previous` (the same number of days just before) or `YYYY-MM-DD..YYYY-MM-DD`."""
    text = spec.strip()
    if text == "previous":
        last = current.first - timedelta(days=1)
        return Window(last - timedelta(days=current.days - 1), last)
    parts = text.split("..")
    if len(parts) != 2 or not all(parts):
        raise InputError(
            f"--compare-to {spec!r}: expected `previous` or a window DATE..DATE, e.g. 2026-02-01..2026-02-07"
        )
    first = parse_day(parts[0], "--compare-to")
    last = parse_day(parts[1], "--compare-to")
    if first > last:
        raise InputError(f"--compare-to {spec!r}: the window's start {first} is after its end {last}")
    return Window(first, last)
