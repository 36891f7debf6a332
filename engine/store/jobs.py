"""Job runs and small key-value state in the store: what the daemon ran, when, and what came of it.

Every scheduled, retried, missed or on-demand run is one `job_runs` row; the `kv` table keeps scheduler
bookkeeping (each job's last handled fire time, interval anchors, retrain timestamps) across restarts.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from engine.clock import iso, utc_now
from engine.infra.atomic import pid_alive
from engine.records import JobRun
from engine.store.db import Store, inserted_id

RUN_STATUSES = ("running", "ok", "failed", "skipped", "interrupted")


def parse_iso(text: str | None) -> datetime | None:
    """The datetime of an ISO-8601 text written by iso(), or None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row(row: dict[str, Any]) -> JobRun:
    try:
        produced = json.loads(row.get("produced_json") or "{}")
    except ValueError:
        produced = {}
    started = parse_iso(row["started"])
    assert started is not None  # NOT NULL in the schema
    return JobRun(
        id=int(row["id"]),
        job_id=row["job_id"],
        trigger=row["trigger"],
        status=row["status"],
        started=started,
        scheduled_for=parse_iso(row["scheduled_for"]),
        finished=parse_iso(row["finished"]),
        error=row["error"],
        produced=produced if isinstance(produced, dict) else {"result": produced},
        pid=row["pid"],
    )


def start_run(
    store: Store,
    job_id: str,
    *,
    trigger: str = "schedule",
    scheduled_for: datetime | None = None,
    started: datetime | None = None,
) -> int:
    """Record a run as started (status running) and return its id."""
    cursor = store.execute(
        "INSERT INTO job_runs (job_id, trigger, scheduled_for, started, status, pid) "
        "VALUES (?, ?, ?, ?, 'running', ?)",
        (job_id, trigger, iso(scheduled_for), iso(started or utc_now()), os.getpid()),
    )
    return inserted_id(cursor)


def finish_run(
    store: Store,
    run_id: int,
    status: str,
    *,
    error: str | None = None,
    produced: dict[str, Any] | None = None,
    finished: datetime | None = None,
) -> None:
    """Record how a started run ended (ok, failed, skipped or interrupted), at `finished` or now."""
    if status not in RUN_STATUSES or status == "running":
        raise ValueError(f"finish_run: status {status!r} is not a final status")
    store.execute(
        "UPDATE job_runs SET finished = ?, status = ?, error = ?, produced_json = ? WHERE id = ?",
        (
            iso(finished or utc_now()),
            status,
            error,
            json.dumps(produced or {}, default=str, sort_keys=True),
            run_id,
        ),
    )


def record_run(
    store: Store,
    job_id: str,
    status: str,
    *,
    trigger: str = "schedule",
    scheduled_for: datetime | None = None,
    error: str | None = None,
    produced: dict[str, Any] | None = None,
) -> int:
    """Record a run that did not execute (skipped or missed) in one row; returns its id."""
    now = iso(utc_now())
    cursor = store.execute(
        "INSERT INTO job_runs (job_id, trigger, scheduled_for, started, finished, status, error, "
        "produced_json, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            job_id,
            trigger,
            iso(scheduled_for),
            now,
            now,
            status,
            error,
            json.dumps(produced or {}, default=str, sort_keys=True),
            os.getpid(),
        ),
    )
    return inserted_id(cursor)


def get_run(store: Store, run_id: int) -> JobRun | None:
    """One run by id."""
    rows = store.query("SELECT * FROM job_runs WHERE id = ?", (run_id,))
    return _row(rows[0]) if rows else None


def last_run(store: Store, job_id: str) -> JobRun | None:
    """The newest run of a job, or None."""
    rows = store.query("SELECT * FROM job_runs WHERE job_id = ? ORDER BY id DESC LIMIT 1", (job_id,))
    return _row(rows[0]) if rows else None


def recent_runs(store: Store, job_id: str | None = None, limit: int = 50) -> list[JobRun]:
    """The newest runs (all jobs, or one), newest first."""
    if job_id is None:
        rows = store.query("SELECT * FROM job_runs ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = store.query(
            "SELECT * FROM job_runs WHERE job_id = ? ORDER BY id DESC LIMIT ?", (job_id, limit)
        )
    return [_row(row) for row in rows]


def mark_interrupted(store: Store, *, only_pid: int | None = None, reason: str = "") -> int:
    """Close runs left `running` by a process that is gone (or by only_pid); returns how many."""
    rows = store.query("SELECT id, pid FROM job_runs WHERE status = 'running'")
    closed = 0
    for row in rows:
        if only_pid is not None and row["pid"] != only_pid:
            continue
        if only_pid is None and pid_alive(row["pid"]) and row["pid"] != os.getpid():
            continue
        store.execute(
            "UPDATE job_runs SET status = 'interrupted', finished = ?, error = ? "
            "WHERE id = ? AND status = 'running'",
            (
                iso(utc_now()),
                reason or f"interrupted: process {row['pid']} stopped before the run finished",
                row["id"],
            ),
        )
        closed += 1
    return closed


def kv_get(store: Store, key: str) -> Any:
    """The JSON value stored under key, or None."""
    rows = store.query("SELECT value FROM kv WHERE key = ?", (key,))
    return json.loads(rows[0]["value"]) if rows else None


def kv_set(store: Store, key: str, value: Any) -> None:
    """Store a JSON value under key (insert or replace)."""
    store.execute(
        "INSERT INTO kv (key, value, updated) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
        (key, json.dumps(value, default=str, sort_keys=True), iso(utc_now())),
    )
