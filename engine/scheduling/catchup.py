"""What a restart must remember: each job's interval anchor and newest handled fire time, and the misfire policy.

APScheduler 3's memory job store forgets everything on exit, so the daemon keeps this in the store's `kv`
table instead of adding a SQLAlchemy job store (a dependency that would also pickle our callables).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from engine.scheduling.runner import last_fire_key
from engine.scheduling.triggers import missed_fire_times
from engine.store.db import Store
from engine.store.jobs import iso, kv_get, kv_set, parse_iso, record_run

log = logging.getLogger("shopctl.daemon")

MISSED_REASON = "missed while daemon was down"


def trigger_key(job_id: str) -> str:
    """The kv key holding the trigger a job was scheduled with and its interval anchor."""
    return f"schedule:{job_id}:trigger"


def load_anchor(
    store: Store, job_id: str, description: str, now: datetime
) -> tuple[datetime, datetime | None]:
    """The interval anchor and newest handled fire time of a job; both reset to now when its trigger changed."""
    saved = kv_get(store, trigger_key(job_id)) or {}
    last_fire = parse_iso(kv_get(store, last_fire_key(job_id)))
    if saved.get("description") != description or not saved.get("anchor"):
        kv_set(store, trigger_key(job_id), {"description": description, "anchor": iso(now)})
        kv_set(store, last_fire_key(job_id), iso(now))
        return now, None
    if last_fire is None:
        kv_set(store, last_fire_key(job_id), iso(now))
    return parse_iso(saved["anchor"]) or now, last_fire


def plan_missed_runs(
    store: Store,
    job_id: str,
    trigger: Any,
    last_fire: datetime,
    now: datetime,
    *,
    grace_seconds: float,
    coalesce: bool,
) -> list[datetime]:
    """Record fire times missed beyond the grace as one skipped run; return those to run now (oldest first)."""
    fire_times, count = missed_fire_times(trigger, last_fire, now)
    if not count:
        return []
    grace = timedelta(seconds=grace_seconds)
    in_grace = [moment for moment in fire_times if now - moment <= grace]
    late = [moment for moment in fire_times if now - moment > grace]
    if late:
        record_run(
            store,
            job_id,
            "skipped",
            trigger="misfire",
            scheduled_for=late[-1],
            error=f"skipped: {MISSED_REASON} ({len(late)} run(s) older than misfire_grace_seconds={grace_seconds:g})",
            produced={"missed": len(late), "first_missed_after": iso(last_fire)},
        )
        log.warning(
            "job %s: %d run(s) %s, beyond the misfire grace: recorded as skipped",
            job_id,
            len(late),
            MISSED_REASON,
        )
    kv_set(store, last_fire_key(job_id), iso(fire_times[-1]))
    to_run = in_grace[-1:] if coalesce else in_grace
    if to_run:
        log.info(
            "job %s: %d run(s) %s within the misfire grace: running %s",
            job_id,
            len(in_grace),
            MISSED_REASON,
            "once (coalesced)" if coalesce else "each, one after another",
        )
    return to_run
