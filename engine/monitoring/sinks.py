"""Alert sinks: a JSON-lines log, stderr, a webhook (JSON POST) and a shell command (alert JSON on stdin).

A sink that fails is retried (webhook) and recorded in the `deliveries` table; it never raises, so a broken
endpoint cannot block or fail a monitoring run. The webhook URL comes from an environment variable and is
never printed or stored (errors name the variable instead).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from engine.config import AlertsConfig
from engine.store.alerts import record_delivery
from engine.store.db import Store
from engine.workspace import Workspace

BACKOFF_SECONDS = 0.5  # first retry delay; doubles each attempt
COMMAND_TIMEOUT_SECONDS = 30.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def alert_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """The JSON every sink receives for one alert."""
    keys = (
        "id",
        "rule",
        "metric",
        "scope",
        "model",
        "severity",
        "state",
        "message",
        "value",
        "threshold",
        "opened",
        "updated",
        "resolved",
        "window_end",
        "consecutive",
    )
    payload = {key: alert.get(key) for key in keys}
    payload["source"] = "shopctl"
    return payload


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


def _webhook(config: AlertsConfig, payload: dict[str, Any]) -> int:
    """POST payload; returns the number of attempts; raises RuntimeError naming the variable on failure."""
    url = os.environ.get(config.webhook_url_env, "")
    if not url:
        raise RuntimeError(f"webhook sink: environment variable {config.webhook_url_env} is not set")
    body = json.dumps(payload, default=str).encode("utf-8")
    attempts_allowed = config.webhook_retries + 1
    last_error = ""
    for attempt in range(1, attempts_allowed + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "shopctl"},
        )
        try:
            with urllib.request.urlopen(request, timeout=config.webhook_timeout_seconds) as response:
                if 200 <= response.status < 300:
                    return attempt
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last_error = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            reason = getattr(error, "reason", error)
            last_error = f"{type(reason).__name__}: {reason}".replace(url, f"${config.webhook_url_env}")
        if attempt < attempts_allowed:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise _AttemptsFailed(attempts_allowed, f"webhook (${config.webhook_url_env}): {last_error}")


class _AttemptsFailed(RuntimeError):
    def __init__(self, attempts: int, message: str) -> None:
        super().__init__(message)
        self.attempts = attempts


def _command(config: AlertsConfig, payload: dict[str, Any]) -> None:
    if not config.command.strip():
        raise RuntimeError("command sink: [alerts] command is empty")
    result = subprocess.run(
        config.command,
        shell=True,
        input=json.dumps(payload, default=str),
        text=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"command sink exited {result.returncode}: {tail[0][:200]}")


def deliver(
    ws: Workspace, store: Store, alert: dict[str, Any], config: AlertsConfig | None = None
) -> list[dict]:
    """Send one alert to every configured sink; returns one record per sink (delivered or failed)."""
    config = config or ws.settings.alerts
    payload = alert_payload(alert)
    records = []
    for sink in config.sinks:
        attempts, error = 1, None
        try:
            if sink == "log":
                _log(ws, payload)
            elif sink == "stderr":
                _stderr(payload)
            elif sink == "webhook":
                attempts = _webhook(config, payload)
            elif sink == "command":
                _command(config, payload)
        except _AttemptsFailed as failure:
            attempts, error = failure.attempts, str(failure)
        except Exception as failure:  # noqa: BLE001 - a sink must never fail the check
            error = f"{sink}: {type(failure).__name__}: {failure}"
        status = "failed" if error else "delivered"
        record_delivery(
            store,
            alert_id=alert.get("id"),
            sink=sink,
            status=status,
            attempts=attempts,
            error=error,
            at=_now(),
        )
        records.append({"sink": sink, "status": status, "attempts": attempts, "error": error})
    return records
