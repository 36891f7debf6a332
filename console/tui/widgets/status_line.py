"""The bottom line above the footer: when the data was last read, the daemon, the newest window."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.tui.format import age, when
from engine.dashboard import Dashboard


class StatusLine(Static):
    """Says when the data was last updated and warns, in words, when the daemon is not running."""

    def __init__(self) -> None:
        super().__init__("loading…", classes="status-line")
        self._shown: Text | None = None

    def show_dashboard(self, dashboard: Dashboard) -> None:
        daemon = dashboard.daemon
        text = Text()
        text.append(f" updated {dashboard.now:%H:%M:%S} UTC")
        text.append(f" │ data to {when(dashboard.data_through)}")
        text.append(" │ daemon ")
        if daemon.running:
            text.append("RUNNING", style="bold")
            text.append(f" (beat {age(daemon.heartbeat, dashboard.now)})")
        else:
            text.append("NOT RUNNING", style="bold reverse")
            text.append(" — start: shopctl daemon start")
        if text == self._shown:
            return
        self._shown = text
        self.update(text)
