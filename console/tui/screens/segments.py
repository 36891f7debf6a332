"""Segments: the customer-segment mix over the newest builds (shares, a bar, change and the monitor's verdict)
and the newest build's behavioural clusters with their profiles."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from console.tui.format import bar, pct
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData
from engine.dashboard.segment_model import SegmentMixRow

VERDICTS = {"ok": "OK", "warning": "OUT OF BAND", "critical": "OUT OF BAND", "skipped": "FIRST BUILD"}


def _change(row: SegmentMixRow) -> str:
    """The newest share minus the previous build's, in percentage points, direction spelled out."""
    if row.change is None:
        return "-"
    points = row.change * 100
    arrow = "▲" if points > 0.05 else "▼" if points < -0.05 else "="
    return f"{arrow} {abs(points):.1f}pt"


def _day(as_of: str) -> str:
    return as_of[:10]


class SegmentsScreen(ConsoleScreen):
    MODE = "segments"
    AUTO_FOCUS = "#segment-mix"

    def compose_body(self) -> ComposeResult:
        yield Static("", id="segments-head")
        yield VimTable("Segment", id="segment-mix")
        yield VimTable("#", "Users", "Share", "Profile", id="cluster-table")

    def show_data(self, data: ConsoleData) -> None:
        view = data.segments
        head = self.query_one("#segments-head", Static)
        mix = self.query_one("#segment-mix", VimTable)
        clusters = self.query_one("#cluster-table", VimTable)
        if not view.as_of:
            head.update("no segment build yet · run `shopctl segments build`")
            mix.border_title = "Segment mix"
            clusters.border_title = "Clusters"
            return
        psi = "-" if view.mix_psi is None else f"{view.mix_psi:.3f}"
        rebuy = "" if view.repurchase_rate is None else f" · bought again {pct(view.repurchase_rate, 1)}"
        head.update(
            f"{view.users:,} customers as of {_day(view.as_of[-1])} · mix PSI vs previous build {psi}{rebuy}"
        )
        labels = ("Segment", *(_day(as_of)[5:] for as_of in view.as_of), "Newest", "Change", "Monitor")
        if tuple(str(column.label) for column in mix.columns.values()) != labels:
            mix.clear(columns=True)
            mix._shown = []
            mix.add_columns(*labels)
        warnings = sum(row.status in ("warning", "critical") for row in view.rows)
        largest = max((row.shares[-1] or 0.0 for row in view.rows), default=0.0) or 1.0
        mix.border_title = f"Share of customers per build (as-of MM-DD) · {warnings} OUT OF BAND"
        mix.show_rows(
            (
                row.segment,
                (
                    row.segment,
                    *("-" if share is None else pct(share, 1) for share in row.shares),
                    bar((row.shares[-1] or 0.0) / largest, 8),  # scaled to the largest segment
                    _change(row),
                    VERDICTS.get(row.status, "-"),
                ),
            )
            for row in view.rows
        )
        clusters.border_title = f"Clusters of the newest build · k = {len(view.clusters)}"
        clusters.show_rows(
            (
                str(cluster.cluster),
                (str(cluster.cluster), f"{cluster.users:,}", pct(cluster.share, 1), cluster.description),
            )
            for cluster in view.clusters
        )

    def focus_key(self, key: str) -> None:
        table = self.query_one("#segment-mix", VimTable)
        if table.select_key(key.removeprefix("segment:rfm=")):
            table.focus()
