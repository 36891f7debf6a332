"""One parser for every duration shopctl takes: `--window 7d`, `--horizon 30`, `--session-gap 45m`, config keys.

A duration is a whole number and a unit: `s` seconds, `m` minutes, `h` hours, `d` days, `w` weeks (`30d`,
`12h`, `2w`, `90m`). A bare number takes the unit of the option it is given to (days for `--horizon` and
`--days`, minutes for `--session-gap`), so `--horizon 30` and `--horizon 30d` mean the same.
"""

from __future__ import annotations

import re
from datetime import timedelta

from engine.errors import InputError

UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)
EXAMPLES = "1d, 30d, 12h or 2w"


def parse_duration(
    text: str | int | float,
    *,
    source: str,
    default_unit: str = "d",
    granularity: timedelta | None = None,
) -> timedelta:
    """A positive duration from text such as "30", "30d", "12h", "2w"; InputError naming source otherwise.

    granularity, when given, is the smallest step the caller can use (a monitor window is whole hours).
    """
    if isinstance(text, bool):
        raise InputError(f"{source} {text!r}: expected a length like {EXAMPLES}")
    if isinstance(text, int):
        text = str(text)
    elif isinstance(text, float) and text.is_integer():
        text = str(int(text))
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) <= 0:
        raise InputError(f"{source} {text!r}: expected a length like {EXAMPLES}")
    unit = (match.group(2) or default_unit).lower()
    length = int(match.group(1)) * UNITS[unit]
    if granularity is not None and length % granularity:
        raise InputError(f"{source} {text!r}: must be a whole number of {_unit_name(granularity)}")
    return length


def parse_days(text: str | int, *, source: str) -> int:
    """A whole number of days from "30", "30d" or "4w" (what `--horizon` and `--days` take)."""
    return parse_duration(text, source=source, default_unit="d", granularity=timedelta(days=1)).days


def _unit_name(step: timedelta) -> str:
    for name, unit in (
        ("weeks", UNITS["w"]),
        ("days", UNITS["d"]),
        ("hours", UNITS["h"]),
        ("minutes", UNITS["m"]),
    ):
        if step == unit:
            return name
    return f"{step.total_seconds():g} seconds"
