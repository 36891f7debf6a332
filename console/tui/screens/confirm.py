"""A confirmation dialog that also asks why (the reason goes into the registry history)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[str | None]):
    """Returns the reason typed when confirmed (enter), None when cancelled (escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm_cancel")]

    def __init__(self, title: str, question: str, cli: str, reason: str = "from the TUI") -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.cli = cli
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.question, id="confirm-question")
            yield Input(self.reason, placeholder="why (recorded in the history)", id="confirm-reason")
            yield Static(f"same from a shell: {self.cli}", id="confirm-cli")
            with Horizontal(id="confirm-buttons"):
                yield Button("Confirm (enter)", variant="warning", id="confirm-yes")
                yield Button("Cancel (esc)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-reason", Input).cursor_blink = False
        self.query_one("#confirm-reason", Input).focus()

    def _confirm(self) -> None:
        self.dismiss(self.query_one("#confirm-reason", Input).value.strip() or self.reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-yes":
            self._confirm()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
