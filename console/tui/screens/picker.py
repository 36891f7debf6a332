"""Every screen in one list: the function keys ran out before the screens did, so `s` opens this picker."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.tui.widgets.vim_table import VimTable

# What each screen shows, by screen id (a mode of the app, or a screen opened over the current one).
SUMMARIES = {
    "overview": "Conversion, accuracy, drift and open alerts",
    "drift": "Feature and score drift against the reference profile",
    "kpis": "Business KPIs per window against their bands",
    "alerts": "Open and recent alerts: acknowledge, jump",
    "models": "Registry versions, champion, promote and rollback",
    "jobs": "The daemon's scheduled jobs and their runs",
    "segments": "RFM segments and clusters, the segment mix over time",
    "funnel": "Funnel against the previous period, drop-offs",
    "forecast": "Actuals against the forecast band per series",
    "experiments": "A/B experiments: lift with its interval, SRM, verdict",
    "order_risk": "The riskiest recent orders and the flagged share",
}


class ScreenPicker(ModalScreen[str | None]):
    """Rows are (screen id, key, name); enter opens the highlighted screen, esc closes."""

    BINDINGS = [Binding("escape,q,s", "dismiss", "Close", id="screens_close")]
    AUTO_FOCUS = "#screens-table"

    def __init__(self, rows: list[tuple[str, str, str]], current: str | None) -> None:
        super().__init__()
        self.rows = rows
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="screens-dialog") as dialog:
            dialog.border_title = "Screens · enter opens · esc closes"
            yield VimTable("", "Key", "Screen", "Shows", id="screens-table")
            yield Static(
                "▶ marks the open screen · the palette (^p) has them too as 'screen: …'", id="screens-hint"
            )

    def on_mount(self) -> None:
        table = self.query_one("#screens-table", VimTable)
        table.show_rows(
            (
                screen_id,
                ("▶" if screen_id == self.current else "", key or "-", name, SUMMARIES.get(screen_id, "")),
            )
            for screen_id, key, name in self.rows
        )
        ids = [screen_id for screen_id, _, _ in self.rows]
        if self.current in ids:
            table.move_cursor(row=ids.index(self.current))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(event.row_key.value)

    async def action_dismiss(self, result: str | None = None) -> None:
        self.dismiss(result)
