"""Alerts: open and recent alerts; acknowledge one, or jump to the feature, segment or model it concerns."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from console.tui.format import SEVERITY_WORDS, STATE_WORDS, age, num
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData
from engine.records import Alert

JUMP_MODES = {"feature": "drift", "segment": "kpis", "model": "models"}


class AlertsScreen(ConsoleScreen):
    MODE = "alerts"
    AUTO_FOCUS = "#alert-table"
    BINDINGS = [
        Binding("a", "acknowledge", "Acknowledge", id="alert_ack"),
        Binding("o", "jump", "Go to subject", id="alert_jump"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._alerts: tuple[Alert, ...] = ()

    def compose_body(self) -> ComposeResult:
        yield VimTable("ID", "Sev", "State", "Opened", "Concerns", "Message", id="alert-table")
        yield Static("", id="alert-detail")

    def show_data(self, data: ConsoleData) -> None:
        self._alerts = data.alerts
        now = data.dashboard.now
        table = self.query_one("#alert-table", VimTable)
        open_count = sum(alert.state == "open" for alert in self._alerts)
        table.border_title = f"{open_count} OPEN · {len(self._alerts)} shown"
        table.show_rows(
            (
                str(alert.id),
                (
                    str(alert.id),
                    SEVERITY_WORDS.get(alert.severity, alert.severity.upper()),
                    STATE_WORDS.get(alert.state, alert.state.upper()),
                    age(alert.opened_at, now),
                    alert.scope,
                    alert.message,
                ),
            )
            for alert in self._alerts
        )
        self._show_selected()

    @property
    def selected(self) -> Alert | None:
        key = self.query_one("#alert-table", VimTable).selected_key
        return next((alert for alert in self._alerts if str(alert.id) == key), None)

    def _show_selected(self) -> None:
        alert = self.selected
        detail = self.query_one("#alert-detail", Static)
        if alert is None:
            detail.update(
                "No alerts. Rules live in config.toml [alerts]; `shopctl alerts list` shows the same."
            )
            return
        target = alert.target
        where = f"{target[0]} {target[1]}" if target else "the whole shop"
        acked = f" · acknowledged by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        detail.update(
            f"#{alert.id} {alert.message}\n"
            f"value {num(alert.value)} vs threshold {num(alert.threshold)} · {alert.consecutive} run(s) · "
            f"concerns {where}{acked}"
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def action_acknowledge(self) -> None:
        alert = self.selected
        if alert is None:
            self.notify("No alert selected.", severity="warning")
        elif alert.state != "open":
            self.notify(f"Alert {alert.id} is already {alert.state}.", severity="warning")
        else:
            self.console.acknowledge_alert(alert.id)

    def action_jump(self) -> None:
        alert = self.selected
        target = alert.target if alert else None
        if target is None:
            self.notify("This alert concerns the whole shop; see the overview.", severity="information")
            return
        kind, name = target
        self.console.jump_to(JUMP_MODES[kind], name)
