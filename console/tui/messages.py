"""Messages the workers post to the app; handlers on the UI thread own the state."""

from __future__ import annotations

from textual.message import Message

from engine.dashboard import ConsoleData


class DataLoaded(Message):
    """A refresh worker read the store."""

    def __init__(self, data: ConsoleData) -> None:
        super().__init__()
        self.data = data


class ActionDone(Message):
    """An action worker finished; the text says what changed."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
