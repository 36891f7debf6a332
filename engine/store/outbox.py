"""The outbox: webhook and command deliveries waiting to be sent, each claimed by one drain at a time.

An item is queued with a `deliveries` row in status 'queued'. A drain claims the oldest due item for a
lease, sends it, then either finishes it (the delivery row becomes delivered or failed and the item is
deleted, in one transaction, so it is never sent again) or puts it back with its next attempt time.
A drain that dies mid-send leaves its claim to lapse, and the item is sent again after the lease.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from engine.store.db import Store, inserted_id


@dataclass(frozen=True)
class OutboxItem:
    """One claimed delivery: which sink, the alert payload as queued, and the attempts made so far."""

    id: int
    delivery_id: int
    alert_id: int | None
    sink: str
    payload_json: str
    attempts: int

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json)


def enqueue(
    store: Store, *, alert_id: int | None, sink: str, payload: dict[str, Any], at: str, now: float
) -> int:
    """Queue one delivery (its record says 'queued' until it ends); returns the delivery id."""
    with store.transaction() as connection:
        cursor = connection.execute(
            "INSERT INTO deliveries (alert_id, sink, status, attempts, error, at) "
            "VALUES (?, ?, 'queued', 0, NULL, ?)",
            (alert_id, sink, at),
        )
        delivery_id = inserted_id(cursor)
        connection.execute(
            "INSERT INTO outbox (delivery_id, sink, payload_json, next_attempt) VALUES (?, ?, ?, ?)",
            (delivery_id, sink, json.dumps(payload, default=str, sort_keys=True), now),
        )
    return delivery_id


def _skip_clause(skip: Collection[str]) -> tuple[str, tuple[str, ...]]:
    names = tuple(sorted(skip))
    if not names:
        return "", ()
    return f" AND o.sink NOT IN ({', '.join('?' for _ in names)})", names


def claim_next(
    store: Store, claimant: str, *, now: float, lease_seconds: float, skip: Collection[str] = ()
) -> OutboxItem | None:
    """Claim the oldest due, unclaimed item (of a sink not in skip) for lease_seconds; None if none is due."""
    where, names = _skip_clause(skip)
    due = (
        "SELECT o.id, o.delivery_id, d.alert_id, o.sink, o.payload_json, o.attempts "
        "FROM outbox o JOIN deliveries d ON d.id = o.delivery_id "
        "WHERE o.next_attempt <= ? AND (o.claimed_until IS NULL OR o.claimed_until < ?)"
        f"{where} ORDER BY o.next_attempt, o.id LIMIT 1"
    )
    if not store.query(due, (now, now, *names)):
        return None  # the common case, answered without taking the write lock
    with store.transaction() as connection:
        row = connection.execute(due, (now, now, *names)).fetchone()  # again: another drain may have won
        if row is None:
            return None
        connection.execute(
            "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ?",
            (claimant, now + lease_seconds, row["id"]),
        )
    return OutboxItem(
        id=row["id"],
        delivery_id=row["delivery_id"],
        alert_id=row["alert_id"],
        sink=row["sink"],
        payload_json=row["payload_json"],
        attempts=row["attempts"],
    )


def seconds_until_due(store: Store, *, now: float, skip: Collection[str] = ()) -> float | None:
    """How long until the next unclaimed item is due (0 when one is due now); None when there is none."""
    where, names = _skip_clause(skip)
    rows = store.query(
        "SELECT MIN(o.next_attempt) AS due FROM outbox o "
        f"WHERE (o.claimed_until IS NULL OR o.claimed_until < ?){where}",
        (now, *names),
    )
    due = rows[0]["due"] if rows else None
    return None if due is None else max(0.0, due - now)


def retry_later(
    store: Store, item: OutboxItem, claimant: str, *, attempts: int, error: str, next_attempt: float
) -> bool:
    """Release a claimed item after a failed attempt, to be tried again at next_attempt."""
    with store.transaction() as connection:
        released = connection.execute(
            "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt = ?, claimed_by = NULL, "
            "claimed_until = NULL WHERE id = ? AND claimed_by = ?",
            (attempts, error, next_attempt, item.id, claimant),
        ).rowcount
        if released:
            connection.execute(
                "UPDATE deliveries SET attempts = ?, error = ? WHERE id = ?",
                (attempts, error, item.delivery_id),
            )
    return bool(released)


def finish(
    store: Store,
    item: OutboxItem,
    claimant: str,
    *,
    status: str,
    attempts: int,
    error: str | None,
    at: str,
) -> bool:
    """End a claimed item as delivered or failed; False when this drain no longer held its claim."""
    with store.transaction() as connection:
        removed = connection.execute(
            "DELETE FROM outbox WHERE id = ? AND claimed_by = ?", (item.id, claimant)
        ).rowcount
        if removed:
            connection.execute(
                "UPDATE deliveries SET status = ?, attempts = ?, error = ?, at = ? WHERE id = ?",
                (status, attempts, error, at, item.delivery_id),
            )
    return bool(removed)


def queued_count(store: Store) -> int:
    """How many deliveries are still waiting in the outbox."""
    return int(store.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"])
