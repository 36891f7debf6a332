"""What every console screen shares: the nav bar, the status line, the footer and data hand-over."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from console.tui.widgets.nav_bar import NavBar
from console.tui.widgets.status_line import StatusLine
from engine.dashboard import ConsoleData

if TYPE_CHECKING:
    from console.tui.app import ShopctlApp


class ConsoleScreen(Screen[None]):
    """A screen fed by the app's refresh worker; subclasses paint their part of ConsoleData."""

    MODE: ClassVar[str] = ""

    @property
    def console(self) -> ShopctlApp:
        return cast("ShopctlApp", self.app)

    def compose(self) -> ComposeResult:
        yield NavBar(self.MODE)
        yield from self.compose_body()
        yield StatusLine()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_resize(self) -> None:
        self.console.call_later(self.console.check_size)

    def on_screen_resume(self) -> None:
        self.refresh_from_app()

    def refresh_from_app(self) -> None:
        """Paint the app's newest data, then honour a pending jump from another screen."""
        data = self.console.data
        if data is None:
            return
        self.query_one(StatusLine).show_dashboard(data.dashboard)
        self.show_data(data)
        target = self.console.take_jump(self.MODE)
        if target is not None:
            self.focus_key(target)

    def show_data(self, data: ConsoleData) -> None:
        raise NotImplementedError

    def focus_key(self, key: str) -> None:
        """Put the cursor on the row this key names (a feature, a segment, a model)."""
