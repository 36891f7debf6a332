"""One headline number on the overview: a bordered box whose text always spells out its status."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.tui.format import status_class

STATUS_CLASSES = ("-ok", "-warning", "-critical")


class Tile(Static):
    """A titled box with two short lines of text; the status also sets a CSS class (never the only cue)."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__("", id=id, classes=classes)
        self.border_title = title
        self._shown: tuple[str, str | None] | None = None

    def show(self, text: str | Text, status: str | None = None) -> None:
        """Set the tile's text and status; does nothing when both are unchanged."""
        key = (str(text), status)
        if key == self._shown:
            return
        self._shown = key
        self.update(text)
        self.remove_class(*STATUS_CLASSES)
        self.add_class(status_class(status))
