"""Every key, its binding id (for config.toml [keymap]) and the CLI command that does the same."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.tui.widgets.vim_table import VimTable

PALETTE_HINT = "^p palette: alert: acknowledge · model: promote · model: rollback · job: run now"


class HelpScreen(ModalScreen[None]):
    """Rows are (keys, where, what, binding id, shell equivalent); the selected row is spelled out below."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help_close")]
    AUTO_FOCUS = "#help-table"

    def __init__(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog") as dialog:
            dialog.border_title = "Keys · remap any id in config.toml \\[keymap] · esc closes"
            yield VimTable("Key", "Does", "Id", "Where", "Same from a shell", id="help-table")
            yield Static("", id="help-selected")
            yield Static(PALETTE_HINT, id="help-palette")

    def on_mount(self) -> None:
        self.query_one("#help-table", VimTable).show_rows(
            (str(index), (keys, does, binding_id, where, cli))
            for index, (keys, where, does, binding_id, cli) in enumerate(self.rows)
        )
        self._show_selected()

    def _show_selected(self) -> None:
        key = self.query_one("#help-table", VimTable).selected_key
        if key is None:
            return
        keys, where, does, binding_id, cli = self.rows[int(key)]
        shell = f" · shell: {cli}" if cli else ""
        self.query_one("#help-selected", Static).update(f"{keys} ({where}): {does} · id {binding_id}{shell}")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
