"""`shopctl tui`: refuses without a terminal, prints the read model with --json, and runs in real tmux."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tui_fixtures import build_workspace
from typer.testing import CliRunner

from console.cli import tui as tui_cli
from console.cli.main import app
from console.cli.tui import terminal_problem

runner = CliRunner()
SMOKE = Path(__file__).with_name("tmux_smoke.sh")


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_refuses_without_a_tty(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path / "shop", days=3)
    result = runner.invoke(app, ["tui", "-w", str(ws.root)])
    assert result.exit_code == 2
    assert "needs an interactive terminal" in result.stderr and "--json" in result.stderr
    assert "Traceback" not in result.output


def test_refuses_term_dumb_even_on_a_tty() -> None:
    tty = FakeTerminal(True)
    assert "TERM=dumb" in (terminal_problem(tty, tty, {"TERM": "dumb"}) or "")
    assert terminal_problem(tty, tty, {"TERM": "xterm-256color"}) is None
    assert terminal_problem(FakeTerminal(False), tty, {"TERM": "xterm"}) is not None


def test_json_prints_the_overview_read_model(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path / "shop", days=5, now=datetime.now(UTC))  # --json reads at the real now
    result = runner.invoke(app, ["tui", "-w", str(ws.root), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["drift"]["drifting"] == 3 and payload["drift"]["total"] == 10
    assert len(payload["conversion_series"]) == 5
    assert [c["name"] for c in payload["champions"]] == ["conversion", "repurchase"]


def test_not_a_workspace_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tui", "-w", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not a shopctl workspace" in result.stderr


def test_mouse_setting_reaches_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = build_workspace(tmp_path / "shop", days=3)
    ws.config_path.write_text(ws.config_path.read_text() + "\n[ui]\nmouse = false\n")
    seen: dict[str, Any] = {}

    def fake_run(self: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    from console.tui.app import ShopctlApp

    monkeypatch.setattr(tui_cli, "terminal_problem", lambda *args: None)
    monkeypatch.setattr(ShopctlApp, "run", fake_run)
    result = runner.invoke(app, ["tui", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert seen == {"mouse": False}


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tmux_smoke(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path / "shop")
    shopctl = Path(sys.executable).with_name("shopctl")
    env = {**os.environ, "SHOPCTL": str(shopctl if shopctl.exists() else "shopctl"), "SMOKE_TIMEOUT": "30"}
    env.pop("NO_COLOR", None)
    result = subprocess.run(
        ["bash", str(SMOKE), str(ws.root)], capture_output=True, text=True, env=env, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: quit with status 0" in result.stdout
