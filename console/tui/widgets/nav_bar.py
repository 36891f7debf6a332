"""The top line: which screen is open, the keys of the others, and the workspace."""

from __future__ import annotations

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


class NavBar(Static):
    """Screen tabs with their keys; the current one is marked with ▶ and brackets, not only by colour."""

    def __init__(self, current: str) -> None:
        super().__init__("", classes="nav-bar")
        self.current = current

    def on_mount(self) -> None:
        self.update(self.render_tabs())

    def render_tabs(self) -> Text:
        key_for = getattr(self.app, "key_for", lambda binding_id: "")
        text = Text(" shopctl ", style="bold reverse")
        for mode, label in SCREENS:
            key = key_for(mode)
            if mode == self.current:
                text.append(f" ▶{key} [{label}]", style="bold")
            else:
                text.append(f"  {key} {label}")
        return text
