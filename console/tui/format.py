"""Text formatting shared by the screens: every status is written out, never shown by colour alone."""

from __future__ import annotations

from datetime import datetime

STATUS_WORDS = {"ok": "OK", "warning": "WARN", "critical": "CRIT", "skipped": "SKIP", "error": "ERROR"}
SEVERITY_WORDS = {"critical": "CRIT", "warning": "WARN", "info": "INFO"}
STATE_WORDS = {"open": "OPEN", "acknowledged": "ACK", "resolved": "RESOLVED"}


def status_word(status: str | None) -> str:
    return STATUS_WORDS.get(status or "", (status or "-").upper())


def status_class(status: str | None) -> str:
    """CSS class for a status (colour is a second channel; the word is always there too)."""
    return {"warning": "-warning", "critical": "-critical", "error": "-critical"}.get(status or "", "-ok")


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 10**-digits or abs(value) >= 10**6):
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def delta(change: float | None) -> str:
    """A relative change with its direction spelled out: "▲ 2.1%", "▼ 11.5%", "= 0.0%"."""
    if change is None:
        return "-"
    arrow = "▲" if change > 0.0005 else "▼" if change < -0.0005 else "="
    return f"{arrow} {abs(change) * 100:.1f}%"


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago (or, for a future moment, how soon): "12d", "9h", "7m", "20s"."""
    if moment is None:
        return "-"
    seconds = abs((now - moment).total_seconds())
    if seconds >= 2 * 86400:
        text = f"{seconds / 86400:.0f}d"
    elif seconds >= 3600:
        text = f"{seconds / 3600:.0f}h"
    elif seconds >= 60:
        text = f"{seconds / 60:.0f}m"
    else:
        text = f"{seconds:.0f}s"
    return f"in {text}" if moment > now else f"{text} ago"


def when(moment: datetime | None, *, seconds: bool = False) -> str:
    if moment is None:
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def day(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"


def bar(fraction: float, width: int = 10) -> str:
    """A bar of block characters, fraction 0..1 of width; readable without colour."""
    filled = round(max(0.0, min(fraction, 1.0)) * width)
    return "█" * filled + "░" * (width - filled)
