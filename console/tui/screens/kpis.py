"""KPIs: funnel steps and window KPIs against their baseline, and conversion per segment, anomalies marked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container

from console.tui.format import delta, num, pct
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData, KpiRow

RATE_METRICS = {"conversion_rate", "cart_rate", "checkout_rate", "cart_abandonment", "predicted_conversion"}


def _value(row: KpiRow, value: float | None) -> str:
    if row.metric in RATE_METRICS or row.metric.startswith("funnel:"):
        return pct(value)
    return num(value, 0 if row.metric == "sessions" else 2)


def _band(row: KpiRow) -> str:
    if row.lower is None or row.upper is None:
        return "-"
    if row.metric in RATE_METRICS or row.metric.startswith("funnel:"):
        return f"{row.lower * 100:.1f}–{row.upper * 100:.1f}%"
    return f"{row.lower:.2f}–{row.upper:.2f}"


def _label(row: KpiRow) -> str:
    if row.metric.startswith("funnel:"):
        return "funnel " + row.metric.removeprefix("funnel:").replace("->", "→")
    return row.metric


def _verdict(row: KpiRow) -> str:
    return "ANOMALY" if row.anomaly else "OK"


class KpisScreen(ConsoleScreen):
    MODE = "kpis"
    AUTO_FOCUS = "#kpi-table"

    def compose_body(self) -> ComposeResult:
        with Container(id="kpi-body"):
            yield VimTable("KPI", "Value", "Baseline", "Change", "Band", "Status", id="kpi-table")
            yield VimTable("Segment", "Sessions", "Conv.", "Baseline", "Change", "Status", id="segment-table")

    def show_data(self, data: ConsoleData) -> None:
        kpis = data.kpis
        window = f"{kpis.window_end:%Y-%m-%d}" if kpis.window_end else "-"
        kpi_table = self.query_one("#kpi-table", VimTable)
        kpi_table.border_title = (
            f"Funnel and KPIs · window to {window}" if kpis.window_end else "no KPI run yet"
        )
        kpi_table.show_rows(
            (
                row.metric,
                (
                    _label(row),
                    _value(row, row.value),
                    _value(row, row.baseline),
                    delta(row.delta),
                    _band(row),
                    _verdict(row),
                ),
            )
            for row in kpis.funnel + kpis.overall
        )
        segment_table = self.query_one("#segment-table", VimTable)
        anomalies = sum(row.anomaly for row in kpis.segments)
        segment_table.border_title = f"Conversion by segment · {anomalies} ANOMALY"
        segment_table.show_rows(
            (
                row.scope.removeprefix("segment:"),
                (
                    row.scope.removeprefix("segment:"),
                    num(row.sessions, 0),
                    pct(row.value),
                    pct(row.baseline),
                    delta(row.delta),
                    "LOW VOLUME" if row.status == "skipped" else _verdict(row),
                ),
            )
            for row in kpis.segments
        )

    def focus_key(self, key: str) -> None:
        table = self.query_one("#segment-table", VimTable)
        if table.select_key(key.removeprefix("segment:")):
            table.focus()
