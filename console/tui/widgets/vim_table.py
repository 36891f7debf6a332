"""A row-cursor DataTable with vim aliases that keeps the cursor on the same row across refreshes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

Cell = str | Text


class VimTable(DataTable[Cell]):
    """DataTable with j/k/g/G and `show_rows`, which repaints only when the rows changed."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="vim_down"),
        Binding("k", "cursor_up", "Up", show=False, id="vim_up"),
        Binding("g", "scroll_top", "Top", show=False, id="vim_top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="vim_bottom"),
    ]

    def __init__(self, *columns: str, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._column_labels = columns
        self._shown: list[tuple[str, tuple[Cell, ...]]] = []

    def on_mount(self) -> None:
        self.add_columns(*self._column_labels)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor (None when the table is empty)."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def show_rows(self, rows: Iterable[tuple[str, Sequence[Cell]]]) -> bool:
        """Replace the rows (key, cells); keeps the cursor on the same key. Returns False when nothing changed."""
        wanted = [(key, tuple(cells)) for key, cells in rows]
        if wanted == self._shown:
            return False
        keep = self.selected_key
        self._shown = wanted
        self.clear()
        for key, cells in wanted:
            self.add_row(*cells, key=key)
        if keep is not None:
            self.select_key(keep)
        return True

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row with this key; False when there is none."""
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index)
        return True
