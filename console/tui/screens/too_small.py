"""Shown instead of the console while the terminal is smaller than 80×24."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

MIN_WIDTH, MIN_HEIGHT = 80, 24


class TooSmallScreen(ModalScreen[None]):
    BINDINGS = [Binding("q", "app.quit", "Quit", id="too_small_quit")]

    def compose(self) -> ComposeResult:
        yield Static("", id="too-small")

    def on_mount(self) -> None:
        self.show_size()

    def on_resize(self) -> None:
        self.show_size()
        self.app.call_later(self.app.check_size)  # type: ignore[attr-defined]

    def show_size(self) -> None:
        width, height = self.app.size
        self.query_one("#too-small", Static).update(
            f"Terminal too small: {width}×{height}.\n"
            f"shopctl needs at least {MIN_WIDTH}×{MIN_HEIGHT}.\n"
            "Resize the window, or press q to quit."
        )
