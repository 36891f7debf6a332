"""The top line: which screen is open, the keys of the others, and the workspace."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

SCREENS = (
    ("overview", "Overview"),
    ("drift", "Drift"),
    ("kpis", "KPIs"),
    ("alerts", "Alerts"),
    ("models", "Models"),
    ("jobs", "Jobs"),
)
# Screens reached by key and palette that get a tab while open (the row above is full at 80 columns).
EXTRA_SCREENS = {
    "segments": "Segments",
    "funnel": "Funnel",
    "forecast": "Forecast",
    "experiments": "Experiments",
}


class NavBar(Static):
    """Screen tabs with their keys; the current one is marked with ▶ and brackets, not only by colour."""

    def __init__(self, current: str) -> None:
        super().__init__("", classes="nav-bar")
        self.current = current

    def on_mount(self) -> None:
        self.update(self.render_tabs())

    def render_tabs(self) -> Text:
        key_for = getattr(self.app, "key_for", lambda binding_id: "")
        screens = SCREENS
        if self.current not in dict(SCREENS) and self.current in EXTRA_SCREENS:
            screens = (*SCREENS, (self.current, EXTRA_SCREENS[self.current]))
        text = self._tabs(screens, key_for, compact=False)
        if text.cell_len > self.app.size.width:  # an extra screen's tab: the others show their keys only
            text = self._tabs(screens, key_for, compact=True)
        return text

    def _tabs(self, screens: tuple[tuple[str, str], ...], key_for: Any, *, compact: bool) -> Text:
        text = Text(" shopctl ", style="bold reverse")
        for mode, label in screens:
            key = key_for(mode)
            if mode == self.current:
                text.append(f" ▶{key} [{label}]", style="bold")
            else:
                text.append(f"  {key}" if compact else f"  {key} {label}")
        return text
