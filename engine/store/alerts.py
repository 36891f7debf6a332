"""Alert rows and their lifecycle (open → acknowledged → resolved), and sink delivery records."""

from __future__ import annotations

import json
from typing import Any

from engine.records import Alert
from engine.store.db import Store, inserted_id

ACTIVE_STATES = ("open", "acknowledged")
ALERT_FIELDS = (
    "rule",
    "metric",
    "scope",
    "model",
    "severity",
    "state",
    "message",
    "value",
    "threshold",
    "consecutive",
    "opened",
    "updated",
    "resolved",
    "acknowledged_by",
    "acknowledged_at",
    "window_end",
)


def _decode(row: dict[str, Any]) -> Alert:
    try:
        detail = json.loads(row.get("detail_json") or "{}")
    except ValueError:
        detail = {}
    return Alert(
        id=int(row["id"]),
        rule=row["rule"],
        metric=row["metric"],
        scope=row["scope"],
        model=row["model"] or "",
        severity=row["severity"],
        state=row["state"],
        message=row["message"],
        opened=row["opened"],
        updated=row["updated"],
        value=row["value"],
        threshold=row["threshold"],
        consecutive=int(row["consecutive"] or 1),
        resolved=row["resolved"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        window_end=row["window_end"],
        detail=detail if isinstance(detail, dict) else {},
    )


def get_alert(store: Store, alert_id: int) -> Alert | None:
    """One alert by id, or None."""
    rows = store.query("SELECT * FROM alerts WHERE id = ?", (alert_id,))
    return _decode(rows[0]) if rows else None


def active_alert(store: Store, *, rule: str, metric: str, scope: str, model: str) -> Alert | None:
    """The open or acknowledged alert for one condition, if any."""
    rows = store.query(
        "SELECT * FROM alerts WHERE rule = ? AND metric = ? AND scope = ? AND model = ? "
        "AND state IN ('open', 'acknowledged') ORDER BY id DESC LIMIT 1",
        (rule, metric, scope, model),
    )
    return _decode(rows[0]) if rows else None


def active_alerts(store: Store, *, model: str | None = None) -> list[Alert]:
    """Every open or acknowledged alert (optionally of one model, where "" is the data/KPI alerts)."""
    if model is None:
        rows = store.query("SELECT * FROM alerts WHERE state IN ('open', 'acknowledged') ORDER BY id")
    else:
        rows = store.query(
            "SELECT * FROM alerts WHERE state IN ('open', 'acknowledged') AND model = ? ORDER BY id", (model,)
        )
    return [_decode(row) for row in rows]


def last_resolved(store: Store, *, rule: str, metric: str, scope: str, model: str) -> Alert | None:
    """The most recently resolved alert for one condition (for the cooldown)."""
    rows = store.query(
        "SELECT * FROM alerts WHERE rule = ? AND metric = ? AND scope = ? AND model = ? AND state = 'resolved' "
        "ORDER BY resolved DESC, id DESC LIMIT 1",
        (rule, metric, scope, model),
    )
    return _decode(rows[0]) if rows else None


def insert_alert(store: Store, fields: dict[str, Any], detail: dict[str, Any] | None = None) -> int:
    """Insert an alert; returns its id."""
    names = [name for name in ALERT_FIELDS if name in fields]
    placeholders = ", ".join("?" for _ in names)
    with store.transaction() as connection:
        cursor = connection.execute(
            f"INSERT INTO alerts ({', '.join(names)}, detail_json) VALUES ({placeholders}, ?)",
            (*[fields[name] for name in names], json.dumps(detail or {}, default=str)),
        )
        return inserted_id(cursor)


def update_alert(
    store: Store, alert_id: int, fields: dict[str, Any], detail: dict[str, Any] | None = None
) -> None:
    """Change some fields of an alert."""
    names = [name for name in ALERT_FIELDS if name in fields]
    assignments = [f"{name} = ?" for name in names]
    values: list[Any] = [fields[name] for name in names]
    if detail is not None:
        assignments.append("detail_json = ?")
        values.append(json.dumps(detail, default=str))
    if not assignments:
        return
    with store.transaction() as connection:
        connection.execute(f"UPDATE alerts SET {', '.join(assignments)} WHERE id = ?", (*values, alert_id))


def query_alerts(store: Store, *, open_only: bool = False, limit: int = 500) -> list[Alert]:
    """Alerts, newest first; open_only keeps open and acknowledged ones."""
    where = "WHERE state IN ('open', 'acknowledged')" if open_only else ""
    rows = store.query(f"SELECT * FROM alerts {where} ORDER BY id DESC LIMIT ?", (limit,))
    return [_decode(row) for row in rows]


def record_delivery(
    store: Store, *, alert_id: int | None, sink: str, status: str, attempts: int, error: str | None, at: str
) -> int:
    """Record one sink delivery (delivered or failed)."""
    with store.transaction() as connection:
        cursor = connection.execute(
            "INSERT INTO deliveries (alert_id, sink, status, attempts, error, at) VALUES (?, ?, ?, ?, ?, ?)",
            (alert_id, sink, status, attempts, error, at),
        )
        return inserted_id(cursor)


def query_deliveries(store: Store, *, alert_id: int | None = None) -> list[dict[str, Any]]:
    """Delivery records, oldest first (optionally for one alert)."""
    if alert_id is None:
        return store.query("SELECT * FROM deliveries ORDER BY id")
    return store.query("SELECT * FROM deliveries WHERE alert_id = ? ORDER BY id", (alert_id,))


def open_counts(store: Store) -> dict[str, int]:
    """Open alerts per severity (severities without one are absent)."""
    rows = store.query("SELECT severity, count(*) AS n FROM alerts WHERE state = 'open' GROUP BY severity")
    return {row["severity"]: row["n"] for row in rows}


def newest_alerts(store: Store, limit: int) -> list[Alert]:
    """The newest `limit` alerts that are not resolved, then the newest `limit` resolved ones."""
    rows = store.query("SELECT * FROM alerts WHERE state != 'resolved' ORDER BY id DESC LIMIT ?", (limit,))
    rows += store.query("SELECT * FROM alerts WHERE state = 'resolved' ORDER BY id DESC LIMIT ?", (limit,))
    return [_decode(row) for row in rows]


def held_alerts(store: Store, *, model: str, min_consecutive: int) -> list[Alert]:
    """A model's open or acknowledged warning/critical alerts that held for at least min_consecutive runs."""
    rows = store.query(
        "SELECT * FROM alerts WHERE model = ? AND state IN ('open', 'acknowledged') AND severity != 'info' "
        "AND consecutive >= ?",
        (model, min_consecutive),
    )
    return [_decode(row) for row in rows]
