"""The overview: headline tiles and 90 days of conversion, model quality and drift share."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid

from console.tui.format import age, delta, num, pct, status_word
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.tile import Tile
from console.tui.widgets.time_chart import Line, TimeChart
from engine.dashboard import ConsoleData, Dashboard

METRIC_LABELS = {"roc_auc": "AUC", "pr_auc": "PR-AUC", "accuracy": "Acc"}
CHART_IDS = ("chart-conversion", "chart-quality", "chart-drift")


class OverviewScreen(ConsoleScreen):
    MODE = "overview"
    BINDINGS = [Binding("c", "next_chart", "Next chart", id="next_chart")]

    def compose_body(self) -> ComposeResult:
        with Grid(id="tiles"):
            yield Tile("Conversion", id="tile-conversion")
            yield Tile("Model quality", id="tile-quality")
            yield Tile("Drift", id="tile-drift")
            yield Tile("Open alerts", id="tile-alerts")
            yield Tile("Champions", id="tile-champions")
            yield Tile("Next check", id="tile-next")
            yield Tile("Data freshness", id="tile-freshness")
        with Grid(id="charts"):
            yield TimeChart("Conversion rate % · baseline band", id="chart-conversion", classes="-current")
            yield TimeChart("Model quality", id="chart-quality")
            yield TimeChart("Drift share %", id="chart-drift")

    def show_data(self, data: ConsoleData) -> None:
        dashboard = data.dashboard
        self._show_tiles(dashboard)
        self._show_charts(dashboard)

    def _show_tiles(self, d: Dashboard) -> None:
        conversion = d.conversion
        if conversion is None:
            self.query_one("#tile-conversion", Tile).show("no KPI run yet\nshopctl monitor run")
        else:
            self.query_one("#tile-conversion", Tile).show(
                f"{pct(conversion.value)} {delta(conversion.delta)}\n"
                f"vs {pct(conversion.baseline)} {status_word(conversion.status)}",
                conversion.status,
            )
        quality = d.quality
        if quality is None:
            self.query_one("#tile-quality", Tile).show("no model metrics\nyet")
        else:
            label = METRIC_LABELS.get(quality.metric, quality.metric)
            marker = " (est.)" if quality.kind == "estimated" else " (real)"
            self.query_one("#tile-quality", Tile).show(
                f"{label} {num(quality.value)}{marker}\n{quality.model} {status_word(quality.status)}",
                quality.status,
            )
        drift = d.drift
        if drift is None:
            self.query_one("#tile-drift", Tile).show("no drift check\nyet")
        else:
            verdict = "DRIFT" if drift.drifting else "OK"
            self.query_one("#tile-drift", Tile).show(
                f"{drift.drifting}/{drift.total} {verdict}\nshare {pct(drift.share, 0)}",
                drift.status if drift.drifting else "ok",
            )
        counts = dict(d.open_alerts)
        critical, warning = counts.get("critical", 0), counts.get("warning", 0)
        self.query_one("#tile-alerts", Tile).show(
            f"{critical} CRIT {warning} WARN\n{counts.get('info', 0)} INFO open",
            "critical" if critical else "warning" if warning else "ok",
        )
        champions = [f"{c.name} v{c.version} · {age(c.created, d.now)}" for c in d.champions if c.version]
        if len(champions) > 2:
            champions = [champions[0], f"{champions[1]} (+{len(champions) - 2} more)"]
        self.query_one("#tile-champions", Tile).show("\n".join(champions) or "no champion yet\nshopctl train")
        if not d.daemon.running:
            self.query_one("#tile-next", Tile).show("NOT RUNNING\nshopctl daemon", "critical")
        elif d.next_check is None or d.next_check.next_run is None:
            self.query_one("#tile-next", Tile).show("nothing\nscheduled", "warning")
        else:
            job = d.next_check
            self.query_one("#tile-next", Tile).show(
                f"{job.id} {age(job.next_run, d.now)}\n{job.next_run:%H:%M} UTC"
            )
        if d.data_through is None:
            self.query_one("#tile-freshness", Tile).show("no monitor run\nyet", "warning")
        else:
            stale = (d.now - d.data_through).total_seconds() > 2 * 86400
            self.query_one("#tile-freshness", Tile).show(
                f"{age(d.data_through, d.now)} {'STALE' if stale else 'OK'}\nto {d.data_through:%m-%d %H:%M}",
                "warning" if stale else "ok",
            )

    def _show_charts(self, d: Dashboard) -> None:
        series = d.conversion_series
        self.query_one("#chart-conversion", TimeChart).show_lines(
            (
                Line("rate %", series, scale=100),
                Line("band", series, "lower", marker=".", scale=100),
                Line("", series, "upper", marker=".", scale=100),
            )
        )
        label = METRIC_LABELS.get(d.quality_metric, d.quality_metric)
        quality_chart = self.query_one("#chart-quality", TimeChart)
        quality_chart.border_title = f"Model quality: {label} realized and estimated"
        quality_chart.show_lines(
            (
                Line(f"{label} realized", d.quality_realized),
                Line(f"{label} est.", d.quality_estimated, marker="+"),
            )
        )
        self.query_one("#chart-drift", TimeChart).show_lines(
            (Line("share %", d.drift_share_series, scale=100),)
        )

    def action_next_chart(self) -> None:
        """Narrow terminals show one chart at a time; cycle through them."""
        charts = [self.query_one(f"#{chart_id}", TimeChart) for chart_id in CHART_IDS]
        current = next((i for i, chart in enumerate(charts) if chart.has_class("-current")), 0)
        charts[current].remove_class("-current")
        charts[(current + 1) % len(charts)].add_class("-current")
