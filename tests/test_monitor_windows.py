"""Window parsing and resolution: --window lengths, --at dates, the default window and partial windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.errors import InputError
from engine.monitoring.windows import parse_at, parse_duration, resolve_window


def test_parse_duration_and_at() -> None:
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(days=14)
    for bad in ("0d", "1x", "d", ""):
        with pytest.raises(InputError, match="expected a length"):
            parse_duration(bad)
    assert parse_at("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_at(date(2026, 3, 1)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_at("2026-03-01T06:30") == datetime(2026, 3, 1, 6, 30, tzinfo=UTC)
    assert parse_at("2026-03-01T06:30:00+02:00") == datetime(2026, 3, 1, 4, 30, tzinfo=UTC)
    assert parse_at(None) is None
    with pytest.raises(InputError, match="--at"):
        parse_at("last tuesday")


def test_at_is_the_exclusive_end() -> None:
    window = resolve_window(timedelta(days=1), parse_at("2026-03-02"), datetime(2026, 3, 5, tzinfo=UTC))
    assert (window.start, window.end) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    assert not window.partial


def test_default_window_follows_the_newest_data() -> None:
    day = timedelta(days=1)
    evening = datetime(2026, 3, 4, 18, 0, tzinfo=UTC)
    live = resolve_window(day, None, evening)
    assert live.end == datetime(2026, 3, 5, tzinfo=UTC) and live.partial
    assert live.data_end == evening + timedelta(microseconds=1)
    # Sessions running a few minutes past midnight do not make a near-empty new day the default.
    straggler = resolve_window(day, None, datetime(2026, 3, 5, 0, 10, tzinfo=UTC))
    assert straggler.end == datetime(2026, 3, 5, tzinfo=UTC) and not straggler.partial
    hourly = resolve_window(timedelta(hours=6), None, datetime(2026, 3, 5, 13, 50, tzinfo=UTC))
    assert hourly.end == datetime(2026, 3, 5, 14, tzinfo=UTC)
    with pytest.raises(InputError, match="no events"):
        resolve_window(day, None, None)
