"""Drift: every feature's method, statistic, threshold and a severity bar; the selected one's distributions."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Input

from console.tui.format import bar, num
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.distribution import DistributionCompare
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData, FeatureDrift

SEVERITY_FULL_AT = 2.0  # the bar is full at twice the threshold


def _key(feature: FeatureDrift) -> str:
    return f"{feature.model}/{feature.feature}"


class DriftScreen(ConsoleScreen):
    MODE = "drift"
    AUTO_FOCUS = "#drift-table"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="drift_filter"),
        Binding("escape", "back", "Back", show=False, id="drift_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._features: tuple[FeatureDrift, ...] = ()

    def compose_body(self) -> ComposeResult:
        with Container(id="drift-body"):
            with Vertical(id="drift-left"):
                search = Input(placeholder="/ filter: feature, method, or 'drift'", id="drift-filter")
                search.cursor_blink = False  # a blinking cursor repaints forever, which costs over slow SSH
                yield search
                yield VimTable(
                    "Feature", "Status", "Method", "Statistic", "Threshold", "Severity", id="drift-table"
                )
            yield DistributionCompare(id="drift-detail")

    def show_data(self, data: ConsoleData) -> None:
        self._features = data.drift.features
        table = self.query_one("#drift-table", VimTable)
        when = data.drift.window_end
        drifting = sum(f.drifted for f in self._features)
        table.border_title = (
            f"{drifting}/{len(self._features)} DRIFT · to {when:%Y-%m-%d} · enter: distributions"
            if when
            else "no drift check yet: shopctl monitor run"
        )
        self._apply_filter()

    def _matches(self, feature: FeatureDrift, text: str) -> bool:
        if not text:
            return True
        if text in ("drift", "drifted") and feature.drifted:
            return True
        return (
            text in feature.feature.lower() or text in feature.method.lower() or text in feature.model.lower()
        )

    def _apply_filter(self) -> None:
        text = self.query_one("#drift-filter", Input).value.strip().lower()
        rows = []
        for feature in self._features:
            if not self._matches(feature, text):
                continue
            rows.append(
                (
                    _key(feature),
                    (
                        feature.feature,
                        "DRIFT" if feature.drifted else "SKIP" if feature.status == "skipped" else "OK",
                        feature.method,
                        num(feature.statistic),
                        num(feature.threshold),
                        f"{bar(feature.severity / SEVERITY_FULL_AT, 8)} {feature.severity:.1f}x",
                    ),
                )
            )
        table = self.query_one("#drift-table", VimTable)
        table.show_rows(rows)
        self._show_selected()

    def _show_selected(self) -> None:
        key = self.query_one("#drift-table", VimTable).selected_key
        feature = next((f for f in self._features if _key(f) == key), None)
        self.query_one("#drift-detail", DistributionCompare).show_feature(feature)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply_filter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#drift-table", VimTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter opens the distributions below the table (a wide terminal shows them all the time)."""
        self.toggle_class("-detail-open")
        self._show_selected()

    def action_focus_filter(self) -> None:
        self.query_one("#drift-filter", Input).focus()

    def action_back(self) -> None:
        """Escape closes the distributions first, then clears the filter."""
        if self.has_class("-detail-open"):
            self.remove_class("-detail-open")
        else:
            self.query_one("#drift-filter", Input).value = ""
        self.query_one("#drift-table", VimTable).focus()

    def focus_key(self, key: str) -> None:
        self.query_one("#drift-filter", Input).value = ""
        self._apply_filter()
        table = self.query_one("#drift-table", VimTable)
        match = next((_key(f) for f in self._features if f.feature == key or _key(f) == key), None)
        if match is not None and table.select_key(match):
            self._show_selected()
        table.focus()
