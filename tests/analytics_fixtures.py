"""Small hand-made event stores for the analytics tests: every count in them can be checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from engine.events import commit_events, conform
from engine.workspace import Workspace, init_workspace

DAY = datetime(2026, 3, 2, tzinfo=UTC)


def event_rows(
    session: str, names: list[str], *, day: int = 0, device: str = "mobile", order: str | None = None
) -> list[dict]:
    """One session's events a minute apart; `names` are canonical types (or `type:name` for a raw name)."""
    rows = []
    for index, text in enumerate(names):
        event_type, _, event_name = text.partition(":")
        rows.append(
            {
                "event_time": DAY + timedelta(days=day, minutes=index),
                "event_type": event_type,
                "event_name": event_name or event_type,
                "user_id": f"u-{session}",
                "session_id": session,
                "product_id": f"p{index}",
                "order_id": order if event_type == "purchase" else None,
                "device": device,
            }
        )
    return rows


def store(root: Path, rows: list[dict]) -> Workspace:
    """A workspace at root holding exactly these events."""
    ws, _ = init_workspace(root)
    frame = conform(pl.DataFrame(rows), list(ws.settings.schema.dimensions)).collect()
    commit_events(ws, frame, "fixture")
    return ws
