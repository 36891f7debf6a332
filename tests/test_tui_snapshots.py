"""SVG snapshots of every screen at 80×24 and 120×40 on the seeded workspace, clock pinned, no animation.

Regenerate with `pytest tests/test_tui_snapshots.py --snapshot-update` and look at the result before
committing (`rsvg-convert file.svg -o /tmp/x.png`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.worker import WorkerFailed
from tui_helpers import seeded_app

from console.tui.app import ShopctlApp

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}
SCREEN_KEYS = {"overview": "f2", "drift": "f3", "kpis": "f4", "alerts": "f5", "models": "f6", "jobs": "f7"}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ShopctlApp:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return seeded_app(tmp_path / "shop")


def after(*keys: str) -> Callable[[Any], Awaitable[None]]:
    """A run_before that waits for the first refresh, presses keys, and waits again."""

    async def run_before(pilot: Any) -> None:
        for key in (None, *keys):
            if key is not None:
                await pilot.press(key)
            try:
                await pilot.app.workers.wait_for_complete()
            except WorkerFailed:
                pass
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREEN_KEYS)
def test_screen(snap_compare: Any, app: ShopctlApp, screen: str, size: str) -> None:
    assert snap_compare(app, terminal_size=SIZES[size], run_before=after(SCREEN_KEYS[screen]))


def test_drift_distributions_at_80x24(snap_compare: Any, app: ShopctlApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("f3", "j", "enter"))


def test_help_at_80x24(snap_compare: Any, app: ShopctlApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("question_mark"))


def test_screen_picker_at_80x24(snap_compare: Any, app: ShopctlApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("f4", "s"))


def test_promote_confirmation_at_80x24(snap_compare: Any, app: ShopctlApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("f6", "p"))


def test_too_small_notice(snap_compare: Any, app: ShopctlApp) -> None:
    assert snap_compare(app, terminal_size=(70, 20), run_before=after())


def test_overview_without_colour(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under NO_COLOR every status still reads: DRIFT, WARN, CRIT, ▼, NOT RUNNING are words and arrows."""
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    app = seeded_app(tmp_path / "shop", daemon_running=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=after())
