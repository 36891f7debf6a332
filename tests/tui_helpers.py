"""Helpers shared by the TUI tests: a seeded app, and stand-ins for engine actions still being written."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from tui_fixtures import FIXED_NOW, build_workspace

from console.tui.app import ShopctlApp, make_app

OPERATOR = "tester"


def seeded_app(
    root: Path, *, daemon_running: bool = True, keymap: dict[str, str] | None = None
) -> ShopctlApp:
    ws = build_workspace(root, daemon_running=daemon_running)
    settings = ws.settings.model_copy(deep=True)
    settings.ui.refresh_seconds = 3600  # the timer never fires inside a test; tests call refresh_data()
    if keymap:
        settings.keymap = keymap
    app = make_app(ws, settings, now=FIXED_NOW, who=OPERATOR)
    app.animation_level = "none"
    return app


def patch_entry(monkeypatch: pytest.MonkeyPatch, module: str, name: str, fake: Any) -> None:
    """Replace the engine call module.name with fake (the action imports it when it runs)."""
    monkeypatch.setattr(importlib.import_module(module), name, fake)


class Calls(list):
    """Records each call's arguments; `record` is the fake entry point."""

    def record(self, *args: Any, **kwargs: Any) -> Any:
        self.append((args, kwargs))
        return None
