"""The order-risk screen at 80×24 on a seeded order_fraud workspace (SVG snapshot), and its empty state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from console.cli.main import app as cli
from console.tui.app import make_app
from console.tui.screens.order_risk import OrderRiskScreen
from engine.simulator import simulate
from engine.workspace import init_workspace

runner = CliRunner()


def _workspace(root: Path, *, trained: bool) -> Any:
    ws = init_workspace(root)[0]
    path = root / "events.parquet"
    simulate(
        24, seed=5, scenario="order_fraud", sessions_per_day=500, start="2026-03-01"
    ).events.write_parquet(path)
    commands = [["ingest", str(path)], ["features", "build"]]
    if trained:
        commands += [["train", "order_risk"], ["monitor", "run", "--window", "7d"]]
    for command in commands:
        result = runner.invoke(cli, [*command, "-w", str(root)])
        assert result.exit_code == 0, result.output
    return ws


def _app(ws: Any) -> Any:
    from datetime import UTC, datetime

    settings = ws.settings.model_copy(deep=True)
    settings.ui.refresh_seconds = 3600
    app = make_app(ws, settings, now=datetime(2026, 3, 25, 12, tzinfo=UTC), who="tester")
    app.animation_level = "none"
    return app


async def _open(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    pilot.app.show_order_risk()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_order_risk_screen_80x24(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    app = _app(_workspace(tmp_path / "shop", trained=True))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open)


async def test_order_risk_screen_lists_flagged_orders_and_empty_state(tmp_path: Path) -> None:
    trained = _app(_workspace(tmp_path / "shop", trained=True))
    async with trained.run_test(size=(80, 24)) as pilot:
        await _open(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, OrderRiskScreen)
        table = screen.query_one("#order-risk-table")
        assert table.row_count > 0
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[0].startswith("fo")  # the riskiest order is one of the simulated frauds
        assert "σ" in first[5]
    empty = _app(_workspace(tmp_path / "bare", trained=False))
    async with empty.run_test(size=(80, 24)) as pilot:
        await _open(pilot)
        title = str(pilot.app.screen.query_one("#order-risk-title").render())
        assert "no order-risk champion" in title
