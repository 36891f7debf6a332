"""The webhook policy and the outbox (issue 17 §5), against real local servers on 127.0.0.1.

http and https only, checked before any I/O; a redirect is a failed delivery and is never followed; one
drain of the outbox ends within [alerts] webhook_deadline_seconds however the endpoint behaves; network
deliveries leave the monitor's critical path and are sent by `monitor run` after its checks are stored,
by the daemon and by `shopctl alerts deliver`, each exactly once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_daemon_support import daemon_thread, job_runs, make_workspace, wait_for
from typer.testing import CliRunner

from console.cli.main import app
from engine.errors import WorkspaceBusy
from engine.infra.locks import workspace_lock
from engine.monitoring import sinks
from engine.monitoring.alerts import raise_info_alert
from engine.records import Alert
from engine.scheduling import register_task, run_job_now, unregister_task
from engine.store.alerts import get_alert, insert_alert, query_deliveries
from engine.store.db import Store, open_store
from engine.workspace import Workspace, init_workspace

SECRET = "s3cr3t-token"
VARIABLE = "SHOPCTL_WEBHOOK_URL"
# A bound, not a benchmark: what a loaded CI machine may add to a deadline (thread start-up, SQLite writes).
SLACK_SECONDS = 1.5


# -- local endpoints --------------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records every request; answers `status`, with a Location header when `location` is set."""

    requests: list[dict[str, Any]]
    status = 200
    location = ""
    delay = 0.0

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        time.sleep(type(self).delay)
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = _record  # noqa: N815 - http.server's naming
    do_GET = _record  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recorder(status: int = 200, location: str = "", delay: float = 0.0) -> Iterator[tuple[str, type]]:
    """An HTTP server in a thread; yields its base URL and the handler class holding `requests`."""
    handler = type(
        "Recorder", (_Recorder,), {"requests": [], "status": status, "location": location, "delay": delay}
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def silent_endpoint(on_request=None) -> Iterator[tuple[str, list[bytes]]]:  # noqa: ANN001
    """A TCP server that accepts, reads the request and never answers; yields its URL and what it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    received: list[bytes] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            connection.settimeout(2)
            try:
                received.append(connection.recv(65536))
            except OSError:
                received.append(b"")
            if on_request is not None:
                on_request()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook?token={SECRET}", received
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


@contextmanager
def tcp_listener() -> Iterator[tuple[int, list[object]]]:
    """A bare listening socket that counts the connections made to it (for schemes that must not connect)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(address)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        time.sleep(0.2)  # let a connection the code under test made be accepted and counted
        stop.set()
        thread.join(5)
        listener.close()


# -- helpers ---------------------------------------------------------------------------------------------


def _workspace(root: Path, alerts_toml: str, extra_toml: str = "") -> Workspace:
    ws, _ = init_workspace(root)
    ws.config_path.write_text("[alerts]\n" + alerts_toml + extra_toml)
    ws.reload_settings()
    return ws


def _alert(store: Store, message: str = "checkout conversion fell") -> Alert:
    now = "2026-03-02T00:00:00+00:00"
    alert_id = insert_alert(
        store,
        {
            "rule": "kpi-conversion",
            "metric": "conversion_rate",
            "scope": "overall",
            "model": "",
            "severity": "warning",
            "state": "open",
            "message": message,
            "opened": now,
            "updated": now,
        },
    )
    alert = get_alert(store, alert_id)
    assert alert is not None
    return alert


def _queue(ws: Workspace, count: int = 1) -> list[Alert]:
    """Alerts handed to the sinks as `monitor run` does (which only queues the network ones)."""
    store = open_store(ws)
    alerts = [_alert(store, f"alert {index}") for index in range(count)]
    for alert in alerts:
        sinks.deliver(ws, store, alert)
    return alerts


def _deliveries(ws: Workspace, sink: str = "webhook") -> list[dict[str, Any]]:
    return [row for row in query_deliveries(open_store(ws)) if row["sink"] == sink]


def _posted(handler: type) -> list[dict[str, Any]]:
    return [json.loads(request["body"]) for request in handler.requests if request["method"] == "POST"]


# -- the URL policy ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_is_never_followed(
    code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sinks, "BACKOFF_SECONDS", 0.0)
    with (
        recorder() as (target_url, target),
        recorder(code, location=f"{target_url}/elsewhere") as (url, hook),
    ):
        monkeypatch.setenv(VARIABLE, f"{url}/hook?token={SECRET}")
        ws = _workspace(tmp_path, 'sinks = ["webhook"]\nwebhook_retries = 2\n')
        alert = raise_info_alert(ws, "retrain", "challenger promoted", scope="model:shop", model="shop")
    assert target.requests == [], "the redirect target must receive nothing"
    assert _posted(hook) == [alert.payload()], "one POST, not retried: a redirect is final"
    (delivery,) = _deliveries(ws)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert f"HTTP {code}: redirects are not followed" in delivery["error"]
    assert VARIABLE in delivery["error"] and SECRET not in delivery["error"] and url not in delivery["error"]


@pytest.mark.parametrize(
    ("template", "scheme"),
    [
        ("file:///etc/passwd", "'file'"),
        ("ftp://ops:{secret}@127.0.0.1:{port}/alerts", "'ftp'"),
        ("FTP://127.0.0.1:{port}/{secret}", "'ftp'"),
        ("data:application/json,{secret}", "'data'"),
        ("gopher://127.0.0.1:{port}/{secret}", "'gopher'"),
        ("127.0.0.1:{port}/{secret}", "without a scheme"),
        ("hooks.example.com:{port}/{secret}", "an unrecognised scheme"),
        ("//127.0.0.1:{port}/{secret}", "without a scheme"),
        ("http:///{secret}", "has no host"),
        ("http://127.0.0.1:{port}/\n{secret}", "control characters"),
    ],
)
def test_only_http_and_https_urls_are_used_and_others_cause_no_io(
    template: str, scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    real_open = urllib.request.OpenerDirector.open

    def spy(self, request, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        opened.append(request)
        return real_open(self, request, *args, **kwargs)

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", spy)
    monkeypatch.setattr(sinks, "BACKOFF_SECONDS", 0.0)
    with tcp_listener() as (port, connections):
        url = template.format(port=port, secret=SECRET)
        monkeypatch.setenv(VARIABLE, url)
        ws = _workspace(tmp_path, 'sinks = ["webhook"]\nwebhook_retries = 2\nwebhook_timeout_seconds = 0.5\n')
        raise_info_alert(ws, "retrain", "kept champion", scope="overall")
    assert opened == [] and connections == [], "a refused URL is never opened"
    (delivery,) = _deliveries(ws)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
    assert VARIABLE in delivery["error"] and scheme in delivery["error"]
    assert SECRET not in delivery["error"] and "/etc/passwd" not in delivery["error"]
    assert "example.com" not in delivery["error"]


# -- the deadline ------------------------------------------------------------------------------------------


def test_an_endpoint_that_never_answers_costs_at_most_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadline = 1.0
    with silent_endpoint() as (url, received):
        monkeypatch.setenv(VARIABLE, url)
        ws = _workspace(
            tmp_path,
            f'sinks = ["webhook"]\nwebhook_timeout_seconds = 30\nwebhook_retries = 3\n'
            f"webhook_deadline_seconds = {deadline}\n",
        )
        _queue(ws)
        started = time.monotonic()
        summary = sinks.drain_outbox(ws)
        elapsed = time.monotonic() - started
    assert elapsed < deadline + SLACK_SECONDS, f"drain took {elapsed:.2f}s with a {deadline}s deadline"
    assert len(received) == 1 and received[0].startswith(b"POST /hook")
    assert summary == {"attempts": 1, "delivered": 0, "failed": 0, "queued": 1}
    (delivery,) = _deliveries(ws)
    assert (delivery["status"], delivery["attempts"]) == ("queued", 1), "left for the daemon to retry"
    assert (
        "timed out" in delivery["error"] and VARIABLE in delivery["error"] and SECRET not in delivery["error"]
    )


def test_retries_and_their_backoff_stay_within_the_deadline_and_resume_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with recorder(500) as (url, hook):
        monkeypatch.setenv(VARIABLE, url)
        ws = _workspace(
            tmp_path, 'sinks = ["webhook"]\nwebhook_retries = 3\nwebhook_deadline_seconds = 1.0\n'
        )
        _queue(ws)
        started = time.monotonic()
        first = sinks.drain_outbox(ws)  # try, 0.5 s backoff, try; the next backoff (1 s) passes the deadline
        elapsed = time.monotonic() - started
        assert elapsed < 1.0 + SLACK_SECONDS
        assert first == {"attempts": 2, "delivered": 0, "failed": 0, "queued": 1}
        assert len(hook.requests) == 2
        monkeypatch.setattr(sinks, "BACKOFF_SECONDS", 0.0)
        second = sinks.drain_outbox(ws, deadline_seconds=10)  # waits for the stored next attempt, then ends
    assert second == {"attempts": 2, "delivered": 0, "failed": 1, "queued": 0}
    assert len(hook.requests) == 4, "retries + 1 attempts in all, counted across drains"
    (delivery,) = _deliveries(ws)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 4) and "HTTP 500" in delivery["error"]


def test_a_stalled_webhook_does_not_starve_the_command_sink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received_by_command = tmp_path / "command.jsonl"
    with silent_endpoint() as (url, received):
        monkeypatch.setenv(VARIABLE, url)
        ws = _workspace(
            tmp_path / "ws",
            f'sinks = ["webhook", "command"]\ncommand = "cat >> {received_by_command}; echo >> '
            f'{received_by_command}"\nwebhook_timeout_seconds = 0.5\nwebhook_deadline_seconds = 20\n',
        )
        alerts = _queue(ws, 2)
        started = time.monotonic()
        summary = sinks.drain_outbox(ws)
        elapsed = time.monotonic() - started
    # One timeout for the webhook, then it is left alone for this drain; the commands still run.
    assert len(received) == 1 and elapsed < 0.5 + SLACK_SECONDS
    lines = [json.loads(line) for line in received_by_command.read_text().splitlines() if line.strip()]
    assert [line["id"] for line in lines] == [alert.id for alert in alerts]
    assert summary == {"attempts": 3, "delivered": 2, "failed": 0, "queued": 2}
    assert [row["status"] for row in _deliveries(ws, "command")] == ["delivered", "delivered"]


# -- the outbox --------------------------------------------------------------------------------------------


def test_a_queued_post_carries_the_alert_json_and_is_sent_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with recorder() as (url, hook):
        monkeypatch.setenv(VARIABLE, f"{url}/hook?token={SECRET}")
        ws = _workspace(tmp_path, 'sinks = ["webhook", "log"]\n')
        (alert,) = _queue(ws)
        assert hook.requests == [], "deliver only queues the webhook"
        assert [row["status"] for row in _deliveries(ws)] == ["queued"]
        assert [row["status"] for row in _deliveries(ws, "log")] == ["delivered"]  # local sinks at once
        assert sinks.drain_outbox(ws) == {"attempts": 1, "delivered": 1, "failed": 0, "queued": 0}
        assert sinks.drain_outbox(ws) == {"attempts": 0, "delivered": 0, "failed": 0, "queued": 0}
    (request,) = hook.requests
    assert request["method"] == "POST" and request["path"] == f"/hook?token={SECRET}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == alert.payload()
    (delivery,) = _deliveries(ws)
    assert (delivery["status"], delivery["attempts"], delivery["error"]) == ("delivered", 1, None)
    stored = json.dumps(open_store(ws).query("SELECT * FROM outbox")) + json.dumps(
        query_deliveries(open_store(ws))
    )
    assert SECRET not in stored and url not in stored


def test_concurrent_drains_send_each_delivery_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with recorder(delay=0.05) as (url, hook):
        monkeypatch.setenv(VARIABLE, url)
        ws = _workspace(tmp_path, 'sinks = ["webhook"]\n')
        alerts = _queue(ws, 8)
        summaries: list[dict[str, int]] = []
        threads = [
            threading.Thread(target=lambda: summaries.append(sinks.drain_outbox(ws))) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert sorted(payload["id"] for payload in _posted(hook)) == [alert.id for alert in alerts]
    assert sum(summary["delivered"] for summary in summaries) == 8
    assert [row["status"] for row in _deliveries(ws)] == ["delivered"] * 8


def test_alerts_deliver_sends_the_queue_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    with recorder() as (url, hook):
        monkeypatch.setenv(VARIABLE, f"{url}/hook?token={SECRET}")
        ws = _workspace(tmp_path, 'sinks = ["webhook"]\n')
        alerts = _queue(ws, 2)
        result = runner.invoke(app, ["alerts", "deliver", "-w", str(ws.root), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"attempts": 2, "delivered": 2, "failed": 0, "queued": 0}
        again = runner.invoke(app, ["alerts", "deliver", "-w", str(ws.root)])
        assert again.exit_code == 0 and again.stdout.startswith("0 delivered, 0 failed, 0 still queued")
    assert [payload["id"] for payload in _posted(hook)] == [alert.id for alert in alerts]
    assert SECRET not in result.output + again.output


def test_the_daemon_sends_queued_deliveries_after_a_job_and_only_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_task("quiet", lambda context: {})
    try:
        with recorder() as (url, hook):
            monkeypatch.setenv(VARIABLE, url)
            ws = make_workspace(
                tmp_path,
                "[schedule.jobs.quiet]\ntrigger = 'interval'\nseconds = 1\n\n[alerts]\nsinks = ['webhook']\n",
            )
            # Left queued while no daemon ran, as a `monitor run` whose drain ran out of time leaves it.
            (before,) = _queue(ws)
            assert hook.requests == []
            with daemon_thread(ws):
                wait_for(lambda: len(hook.requests) == 1, what="the delivery queued before the start")
                (during,) = _queue(ws)  # sent by the drain that follows the next job
                wait_for(lambda: len(hook.requests) == 2, what="the delivery queued while running")
                runs = len(job_runs(ws, "quiet"))
                wait_for(lambda: len(job_runs(ws, "quiet")) >= runs + 2, what="two more jobs")
            assert [payload["id"] for payload in _posted(hook)] == [before.id, during.id]
    finally:
        unregister_task("quiet")
    assert [row["status"] for row in _deliveries(ws)] == ["delivered", "delivered"]


def test_the_deliver_task_sends_the_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with recorder() as (url, hook):
        monkeypatch.setenv(VARIABLE, url)
        ws = make_workspace(
            tmp_path, "[schedule.jobs.deliver]\nminutes = 1\n\n[alerts]\nsinks = ['webhook']\n"
        )
        _queue(ws, 3)
        run = run_job_now(ws, "deliver")
        assert run["status"] == "ok"
        assert run["produced"] == {"attempts": 3, "delivered": 3, "failed": 0, "queued": 0}
        assert run_job_now(ws, "deliver")["produced"]["attempts"] == 0
    assert len(_posted(hook)) == 3


def test_monitor_run_stores_its_checks_before_a_webhook_is_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slow sink is off the critical path: when the request arrives, the run is stored and unlocked."""
    from engine.events import commit_events
    from engine.monitoring.run import run_monitor
    from engine.simulator import simulate

    seen: list[tuple[int, bool]] = []

    def inspect() -> None:
        runs = open_store(ws).query("SELECT COUNT(*) AS n FROM monitor_runs")[0]["n"]
        try:
            with workspace_lock(ws, "monitor", wait_seconds=0):
                free = True
        except WorkspaceBusy:
            free = False
        seen.append((runs, free))

    with silent_endpoint(on_request=inspect) as (url, received):
        monkeypatch.setenv(VARIABLE, url)
        ws = _workspace(
            tmp_path / "shop",
            'sinks = ["webhook"]\nwebhook_timeout_seconds = 30\nwebhook_deadline_seconds = 1\n',
        )
        sim = simulate(10, seed=11, scenario="stable", start=date(2026, 1, 5), sessions_per_day=300)
        commit_events(ws, sim.events, "sim")
        stale = date.fromisoformat(sim.ground_truth["end"]) + timedelta(days=4)  # a data-freshness alert
        payload = run_monitor(ws, at=stale).to_dict()
    assert any(item["rule"] == "data-freshness" for item in payload["firing"])
    assert received and seen and all(entry == (1, True) for entry in seen), seen
    assert payload["deliveries"]["queued"] >= 1 and payload["deliveries"]["delivered"] == 0
