"""The one clock and its text forms: every stored or printed moment is UTC ISO-8601."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 text (UTC, microseconds kept) of a datetime, or None; a naive datetime is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def now_text() -> str:
    """The current time as ISO-8601 text to the second (what history lines and alert records carry)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def operator(surface: str, who: str | None = None) -> str:
    """Who did something, as every record names it: the name given, else `$SHOPCTL_USER`, else
    `<surface>:<login>` (e.g. `cli:alice`, `tui:alice`), else the bare surface when there is no login name."""
    if who:
        return who
    if os.environ.get("SHOPCTL_USER"):
        return os.environ["SHOPCTL_USER"]
    try:
        return f"{surface}:{getpass.getuser()}"
    except (KeyError, OSError):
        return surface
