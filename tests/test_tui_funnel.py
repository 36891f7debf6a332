"""The funnel screen: bars now vs before and the drop-off ranking, on a seeded checkout outage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_snapshots import after
from tui_fixtures import FIXED_NOW, build_workspace

from console.tui.app import ShopctlApp, make_app
from console.tui.widgets.vim_table import VimTable
from engine.events import commit_events
from engine.simulator import simulate


def funnel_app(root: Path) -> ShopctlApp:
    """The seeded console workspace plus three weeks of events: a mobile checkout outage in the last week."""
    ws = build_workspace(root)
    simulation = simulate(
        14,
        seed=5,
        scenario="checkout_outage",
        start="2026-02-15",
        sessions_per_day=700,
        scenario_day="2026-02-22",
    )
    commit_events(ws, simulation.events, "seeded")
    settings = ws.settings.model_copy(deep=True)
    settings.ui.refresh_seconds = 3600
    app = make_app(ws, settings, now=FIXED_NOW, who="tester")
    app.animation_level = "none"
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ShopctlApp:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return funnel_app(tmp_path / "shop")


async def test_ranking_puts_checkout_first(app: ShopctlApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("f9")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#dropoff-table", VimTable)
        assert table.row_count == 3
        assert table.selected_key == "checkout->purchase"
        bars = str(app.screen.query_one("#funnel-bars").render())
        assert "before" in bars and "checkout" in bars


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_funnel_screen(snap_compare: Any, app: ShopctlApp, size: tuple[int, int]) -> None:
    assert snap_compare(app, terminal_size=size, run_before=after("f9"))
