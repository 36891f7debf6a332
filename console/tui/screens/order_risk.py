"""Order risk: the riskiest recent orders (id, user, value, score, why) and the flagged share per monitor window.

Opened from the palette ("orders: risk"); Escape goes back. The data loads on a thread worker
(engine.dashboard.order_risk.load_order_risk), never on the UI thread.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.tui.widgets.vim_table import VimTable
from engine.dashboard.order_risk import OrderRiskView, ShareRow

BAR_WIDTH = 20


def share_line(row: ShareRow, scale: float) -> str:
    """One window's flagged share as a bar with its value and status in words (never colour alone)."""
    value = row.value or 0.0
    filled = int(round(BAR_WIDTH * min(1.0, value / scale))) if scale > 0 else 0
    status = {"ok": "OK", "warning": "▲ WARN", "critical": "▲ CRIT"}.get(row.status, row.status.upper())
    return f"{row.window_end[:10]} {'█' * filled}{'·' * (BAR_WIDTH - filled)} {value * 100:5.2f}% {status}"


class OrderRiskScreen(Screen[None]):
    """Riskiest orders of the newest days, scored by the order-risk champion."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="order-risk-back"),
        Binding("ctrl+r", "reload", "Refresh", id="order-risk-refresh"),
    ]

    def __init__(self, workspace: Any) -> None:
        super().__init__()
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        yield Static("Order risk · loading ...", id="order-risk-title")
        with Vertical(id="order-risk-body"):
            yield VimTable("Order", "User", "Value", "Score", "Flag", "Why", id="order-risk-table")
            yield Static("", id="order-risk-shares")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="order-risk")
    def load(self) -> None:
        from engine.dashboard.order_risk import load_order_risk

        view = load_order_risk(self.workspace)
        self.app.call_from_thread(self.show_view, view)

    def show_view(self, view: OrderRiskView) -> None:
        title = self.query_one("#order-risk-title", Static)
        if view.model is None:
            title.update(f"Order risk · {view.note}")
        else:
            title.update(
                f"Order risk · {view.model} v{view.version} · threshold {view.threshold:.2f} · {view.note}"
            )
        table = self.query_one("#order-risk-table", VimTable)
        review = f" · threshold flags {100 * view.review_rate:.1f}% of orders" if view.review_rate else ""
        table.border_title = f"Riskiest recent orders (higher = riskier){review}"
        table.show_rows(
            (
                order.order_id,
                (
                    order.order_id,
                    order.user_id or "-",
                    f"{order.value:,.2f}",
                    f"{order.score:.3f}",
                    "FLAG" if order.flagged else "",
                    order.why,
                ),
            )
            for order in view.orders
        )
        shares = self.query_one("#order-risk-shares", Static)
        if not view.shares:
            shares.update("Flagged share per window: no `monitor run` with an order-risk check yet")
            return
        scale = max(
            [row.value or 0.0 for row in view.shares] + [row.upper or 0.0 for row in view.shares] + [1e-9]
        )
        lines = [share_line(row, scale) for row in view.shares[-5:]]
        shares.update("Flagged share per window (newest last)\n" + "\n".join(lines))
