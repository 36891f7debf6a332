"""Alert sinks: a JSON-lines log, stderr, a webhook (JSON POST) and a shell command (alert JSON on stdin).

The log and stderr sinks write at once. The network sinks (webhook, command) can be slow or hang, so
`deliver` only queues them in the store's outbox, and `drain_outbox` sends them later within one time
budget for the whole drain (`[alerts] webhook_deadline_seconds`): `monitor run` drains after its checks are
stored, the daemon after each job, and `shopctl alerts deliver` on demand. Every delivery is recorded in
the `deliveries` table; a sink never raises, so a broken endpoint cannot block or fail a monitoring run.
The webhook URL comes from an environment variable and is never printed or stored (errors name the
variable instead).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from engine.clock import now_text
from engine.config import AlertsConfig
from engine.monitoring.webhook import DeliveryFailed, DeliveryRefused, post_json
from engine.records import Alert
from engine.store import outbox
from engine.store.alerts import record_delivery
from engine.store.db import Store, open_store
from engine.workspace import Workspace

BACKOFF_SECONDS = 0.5  # first retry delay; doubles each attempt
COMMAND_TIMEOUT_SECONDS = 30.0
NETWORK_SINKS = ("webhook", "command")  # queued in the outbox, sent by drain_outbox
MIN_ATTEMPT_SECONDS = 0.05  # a drain starts no attempt with less time than this left
LEASE_MARGIN_SECONDS = 30.0  # a claim outlives the drain's budget by this much


def _log(ws: Workspace, payload: dict[str, Any]) -> None:
    path = ws.state_dir / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(payload, default=str, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _stderr(payload: dict[str, Any]) -> None:
    severity = str(payload.get("severity", "")).upper()
    sys.stderr.write(
        f"ALERT {severity} #{payload.get('id')} [{payload.get('state')}] {payload.get('message')}\n"
    )
    sys.stderr.flush()


def _webhook(config: AlertsConfig, body: str, time_left: float) -> None:
    """POST the queued payload once; the attempt's timeout is cut to the drain's time left."""
    url = os.environ.get(config.webhook_url_env, "")
    if not url:
        raise DeliveryRefused(f"webhook sink: environment variable {config.webhook_url_env} is not set")
    post_json(
        url,
        body.encode("utf-8"),
        timeout=min(config.webhook_timeout_seconds, time_left),
        variable=config.webhook_url_env,
    )


def _command(config: AlertsConfig, body: str, time_left: float) -> None:
    """Run the command once with the payload on stdin, stopped when it outlives its limit or the drain."""
    if not config.command.strip():
        raise DeliveryRefused("command sink: [alerts] command is empty")
    limit = min(COMMAND_TIMEOUT_SECONDS, time_left)
    try:
        result = subprocess.run(
            config.command,
            shell=True,
            input=body,
            text=True,
            capture_output=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        message = f"command sink: still running after {limit:.3g}s; stopped"
        raise DeliveryFailed(message, timed_out=True) from None
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-1:] or [""]
        raise DeliveryFailed(f"command sink exited {result.returncode}: {tail[0][:200]}")


def _attempt(config: AlertsConfig, item: outbox.OutboxItem, time_left: float) -> tuple[str, str | None, bool]:
    """Try one queued delivery: ("delivered" | "retry" | "failed", error, whether it used its whole time)."""
    attempts = item.attempts + 1
    allowed = config.webhook_retries + 1 if item.sink == "webhook" else 1  # a command is never rerun
    try:
        if item.sink not in config.sinks:
            raise DeliveryRefused(f"{item.sink} sink: no longer in [alerts] sinks, so not sent")
        if item.sink == "webhook":
            _webhook(config, item.payload_json, time_left)
        else:
            _command(config, item.payload_json, time_left)
    except DeliveryRefused as refused:
        return "failed", str(refused), False
    except DeliveryFailed as failure:
        return ("retry" if attempts < allowed else "failed"), str(failure), failure.timed_out
    except Exception as failure:  # noqa: BLE001 - a sink must never fail the check
        error = f"{item.sink}: {type(failure).__name__}: {failure}"
        url = os.environ.get(config.webhook_url_env, "")
        if url:
            error = error.replace(url, f"${config.webhook_url_env}")
        return ("retry" if attempts < allowed else "failed"), error, False
    return "delivered", None, False


def deliver(ws: Workspace, store: Store, alert: Alert, config: AlertsConfig | None = None) -> list[dict]:
    """Send one alert to the log and stderr sinks and queue it for the network sinks; one record per sink."""
    config = config or ws.settings.alerts
    payload = alert.payload()
    records = []
    for sink in config.sinks:
        if sink in NETWORK_SINKS:
            outbox.enqueue(
                store, alert_id=alert.id, sink=sink, payload=payload, at=now_text(), now=time.time()
            )
            records.append({"sink": sink, "status": "queued", "attempts": 0, "error": None})
            continue
        error = None
        try:
            if sink == "log":
                _log(ws, payload)
            elif sink == "stderr":
                _stderr(payload)
        except Exception as failure:  # noqa: BLE001 - a sink must never fail the check
            error = f"{sink}: {type(failure).__name__}: {failure}"
        status = "failed" if error else "delivered"
        record_delivery(
            store, alert_id=alert.id, sink=sink, status=status, attempts=1, error=error, at=now_text()
        )
        records.append({"sink": sink, "status": status, "attempts": 1, "error": error})
    return records


def drain_outbox(
    ws: Workspace,
    store: Store | None = None,
    *,
    deadline_seconds: float | None = None,
    config: AlertsConfig | None = None,
) -> dict[str, int]:
    """Send the due deliveries of the outbox, oldest first, for at most the deadline.

    Returns the attempts made, the deliveries that ended delivered or failed, and how many remain queued.

    A failed attempt is retried after a backoff (within this drain if time allows, else by a later one);
    a sink whose attempt used its whole timeout is left alone for the rest of the drain, so one endpoint
    that never answers costs one timeout and the other sink still gets its turn.
    """
    config = config or ws.settings.alerts
    store = store or open_store(ws)
    budget = config.webhook_deadline_seconds if deadline_seconds is None else deadline_seconds
    ends = time.monotonic() + budget
    claimant = f"{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"
    counts = {"attempts": 0, "delivered": 0, "failed": 0}
    stalled: set[str] = set()
    while (time_left := ends - time.monotonic()) >= MIN_ATTEMPT_SECONDS:
        item = outbox.claim_next(
            store, claimant, now=time.time(), lease_seconds=time_left + LEASE_MARGIN_SECONDS, skip=stalled
        )
        if item is None:
            wait = outbox.seconds_until_due(store, now=time.time(), skip=stalled)
            if wait is None or wait + MIN_ATTEMPT_SECONDS > ends - time.monotonic():
                break
            time.sleep(wait)
            continue
        status, error, timed_out = _attempt(config, item, time_left)
        attempts = item.attempts + 1
        counts["attempts"] += 1
        if timed_out:
            stalled.add(item.sink)
        if status == "retry":
            backoff = BACKOFF_SECONDS * 2 ** (attempts - 1)
            next_attempt = time.time() + backoff
            outbox.retry_later(
                store, item, claimant, attempts=attempts, error=error or "", next_attempt=next_attempt
            )
        elif outbox.finish(
            store, item, claimant, status=status, attempts=attempts, error=error, at=now_text()
        ):
            counts[status] += 1
    return {**counts, "queued": outbox.queued_count(store)}
