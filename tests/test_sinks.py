"""Sinks: webhook against a local HTTP server (success, failing endpoint with retries), command, log, stderr."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from engine.monitoring import sinks
from engine.monitoring.alerts import raise_info_alert
from engine.store.alerts import query_deliveries
from engine.store.db import open_store
from engine.workspace import Workspace, init_workspace

SECRET = "s3cr3t-token"


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook?token={SECRET}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def _workspace(tmp_path: Path, alerts_toml: str) -> Workspace:
    ws, _ = init_workspace(tmp_path)
    ws.config_path.write_text("[alerts]\n" + alerts_toml)
    ws.reload_settings()
    return ws


def test_webhook_posts_the_alert_as_json(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = server
    monkeypatch.setenv("SHOPCTL_WEBHOOK_URL", url)
    ws = _workspace(tmp_path, 'sinks = ["webhook"]\n')
    alert = raise_info_alert(ws, "retrain", "challenger promoted", scope="model:shop", model="shop")
    assert handler.received == [alert.payload()]
    assert handler.received[0]["message"] == "challenger promoted"
    delivery = query_deliveries(open_store(ws), alert_id=alert.id)
    assert [(d["sink"], d["status"], d["attempts"]) for d in delivery] == [("webhook", "delivered", 1)]


def test_failing_webhook_is_retried_recorded_and_never_raises(
    tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    url, handler = server
    handler.status = 500
    monkeypatch.setenv("SHOPCTL_WEBHOOK_URL", url)
    monkeypatch.setattr(sinks, "BACKOFF_SECONDS", 0.0)
    ws = _workspace(tmp_path, 'sinks = ["webhook", "log"]\nwebhook_retries = 2\n')
    alert = raise_info_alert(ws, "retrain", "kept champion", scope="model:shop", model="shop")
    assert len(handler.received) == 3  # one try plus two retries
    deliveries = query_deliveries(open_store(ws), alert_id=alert.id)
    webhook = deliveries[0]
    assert (webhook["sink"], webhook["status"], webhook["attempts"]) == ("webhook", "failed", 3)
    assert "HTTP 500" in webhook["error"] and "SHOPCTL_WEBHOOK_URL" in webhook["error"]
    assert deliveries[1]["sink"] == "log" and deliveries[1]["status"] == "delivered"
    stored = json.dumps(deliveries) + (ws.state_dir / "alerts.jsonl").read_text()
    captured = capsys.readouterr()
    assert SECRET not in stored + captured.out + captured.err


def test_unreachable_webhook_and_missing_variable_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sinks, "BACKOFF_SECONDS", 0.0)
    monkeypatch.delenv("SHOPCTL_WEBHOOK_URL", raising=False)
    ws = _workspace(tmp_path, 'sinks = ["webhook"]\nwebhook_retries = 1\nwebhook_timeout_seconds = 2\n')
    first = raise_info_alert(ws, "r", "no url", scope="overall")
    monkeypatch.setenv("SHOPCTL_WEBHOOK_URL", f"http://127.0.0.1:9/{SECRET}")
    second = raise_info_alert(ws, "r", "refused", scope="overall")
    store = open_store(ws)
    missing = query_deliveries(store, alert_id=first.id)[0]
    refused = query_deliveries(store, alert_id=second.id)[0]
    assert missing["status"] == "failed" and "SHOPCTL_WEBHOOK_URL is not set" in missing["error"]
    assert refused["status"] == "failed" and refused["attempts"] == 2 and SECRET not in refused["error"]


def test_command_sink_gets_the_alert_on_stdin(tmp_path: Path) -> None:
    target = tmp_path / "received.json"
    ws = _workspace(tmp_path / "ws", f'sinks = ["command"]\ncommand = "cat > {target}"\n')
    alert = raise_info_alert(ws, "retrain", "challenger promoted", scope="model:shop", model="shop")
    assert json.loads(target.read_text()) == json.loads(json.dumps(alert.payload()))


def test_failing_command_is_recorded(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, 'sinks = ["command", "stderr"]\ncommand = "echo nope >&2; exit 7"\n')
    alert = raise_info_alert(ws, "retrain", "kept champion", scope="overall")
    deliveries = query_deliveries(open_store(ws), alert_id=alert.id)
    assert deliveries[0]["status"] == "failed" and "exited 7: nope" in deliveries[0]["error"]
    assert deliveries[1]["sink"] == "stderr" and deliveries[1]["status"] == "delivered"
