"""Customer-segment builds in the store: one row per as-of moment, replaced only when its figures change."""

from __future__ import annotations

import json
from typing import Any

from engine.store.db import Store


def _row(row: dict[str, Any]) -> dict[str, Any]:
    summary = row.pop("summary_json", "{}")
    try:
        row["summary"] = json.loads(summary or "{}")
    except ValueError:
        row["summary"] = {}
    return row


def save_build(
    store: Store,
    *,
    as_of: str,
    built: str,
    fingerprint: str,
    users: int,
    orders: int,
    revenue: float,
    clusters: int,
    summary: dict[str, Any],
) -> tuple[int, bool]:
    """Record a build; (its id, whether anything changed). The same as-of with the same fingerprint is a no-op."""
    with store.transaction() as connection:
        found = connection.execute(
            "SELECT id, fingerprint FROM segment_builds WHERE as_of = ?", (as_of,)
        ).fetchone()
        if found is not None and found["fingerprint"] == fingerprint:
            return int(found["id"]), False
        payload = json.dumps(summary, sort_keys=True, default=str)
        if found is not None:
            connection.execute(
                "UPDATE segment_builds SET built = ?, fingerprint = ?, users = ?, orders = ?, revenue = ?, "
                "clusters = ?, summary_json = ? WHERE id = ?",
                (built, fingerprint, users, orders, revenue, clusters, payload, found["id"]),
            )
            return int(found["id"]), True
        cursor = connection.execute(
            "INSERT INTO segment_builds (as_of, built, fingerprint, users, orders, revenue, clusters, "
            "summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (as_of, built, fingerprint, users, orders, revenue, clusters, payload),
        )
        return int(cursor.lastrowid or 0), True


def recent_builds(store: Store, limit: int = 12) -> list[dict[str, Any]]:
    """The newest builds by as-of, oldest first (at most limit)."""
    rows = store.query("SELECT * FROM segment_builds ORDER BY as_of DESC LIMIT ?", (limit,))
    return [_row(row) for row in reversed(rows)]


def build_at(store: Store, as_of: str) -> dict[str, Any] | None:
    """The build of one as-of moment, or None."""
    rows = store.query("SELECT * FROM segment_builds WHERE as_of = ?", (as_of,))
    return _row(rows[0]) if rows else None
