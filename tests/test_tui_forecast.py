"""The forecast screen at 80x24 on a seeded store: books' actuals fell out of their band, toys' did not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from forecast_fixtures import START, seeded_events

from console.tui.app import make_app
from engine.events import commit_events
from engine.forecast.run import run_forecast
from engine.forecast.view import load_forecast_view
from engine.workspace import Workspace, init_workspace

FIXED_NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)


def _shop(root: Path) -> Workspace:
    ws, _ = init_workspace(root)
    commit_events(ws, seeded_events(0, 111), "history")
    run_forecast(ws, metric="orders", by="category", horizon=21, who="test")
    commit_events(ws, seeded_events(112, 115), "week-1")
    commit_events(ws, seeded_events(116, 119, silent=frozenset({"books"})), "week-2")
    return ws


def test_view_marks_the_series_outside_its_band(tmp_path: Path) -> None:
    view = load_forecast_view(_shop(tmp_path / "shop"), now=FIXED_NOW)
    assert view is not None and view.as_of == (START + timedelta(days=111)).isoformat()
    series = {item.name: item for item in view.series}
    assert series["books"].scored == 8 and series["books"].streak == 4
    assert series["books"].status == "OUTSIDE 4d"
    assert series["toys"].status in ("IN BAND", "OUTSIDE 1d")
    assert len(series["books"].history) == 28 + 8 and len(series["books"].days) == 21


def test_view_is_none_without_a_forecast(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "empty")
    assert load_forecast_view(ws) is None


def test_forecast_screen_at_80x24(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    app = make_app(_shop(tmp_path / "shop"), now=FIXED_NOW, who="test")

    async def run_before(pilot: Any) -> None:
        await pilot.app.workers.wait_for_complete()
        pilot.app.action_show_mode("forecast")
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
