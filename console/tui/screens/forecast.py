"""Forecasts: the newest stored forecast per series against the actuals that have landed, band as a picture."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData
from engine.forecast.view import ForecastView, SeriesView


class ForecastLoaded(Message):
    def __init__(self, view: ForecastView | None) -> None:
        super().__init__()
        self.view = view


def _ratio(series: SeriesView) -> str:
    return "-" if series.relative_mae is None else f"{series.relative_mae:.2f}"


class ForecastScreen(ConsoleScreen):
    MODE = "forecast"
    AUTO_FOCUS = "#forecast-table"
    CSS_PATH = "forecast.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._view: ForecastView | None = None
        self._shown: str | None = None

    def compose_body(self) -> ComposeResult:
        with Container(id="forecast-body"):
            yield VimTable("Series", "Model", "vs naive", "Days", "Outside", "Status", id="forecast-table")
            yield PlotextPlot(id="forecast-chart")

    def show_data(self, data: ConsoleData) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="forecast")
    def _load(self) -> None:
        from engine.forecast.view import load_forecast_view

        self.post_message(
            ForecastLoaded(load_forecast_view(self.console.workspace, now=self.console.fixed_now))
        )

    def on_forecast_loaded(self, message: ForecastLoaded) -> None:
        self._view = message.view
        table = self.query_one("#forecast-table", VimTable)
        view = message.view
        if view is None:
            table.border_title = "no forecast yet: shopctl forecast --by category"
            table.show_rows([])
            self._chart(None)
            return
        by = f" by {view.by}" if view.by else ""
        outside = sum(1 for series in view.series if series.streak)
        table.border_title = (
            f"{view.metric}{by} after {view.as_of} · {view.level:.0%} band · {outside} OUTSIDE"
        )
        table.show_rows(
            (
                series.name,
                (
                    series.name,
                    series.model,
                    _ratio(series),
                    f"{series.scored}/{len(series.days)}",
                    str(series.outside),
                    series.status,
                ),
            )
            for series in view.series
        )
        self._chart(table.selected_key or (view.series[0].name if view.series else None))

    @on(DataTable.RowHighlighted, "#forecast-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._chart(str(event.row_key.value))

    def _chart(self, name: str | None) -> None:
        chart = self.query_one("#forecast-chart", PlotextPlot)
        view = self._view
        series = next((item for item in view.series if item.name == name), None) if view else None
        key = None if series is None or view is None else f"{view.created}/{series.name}/{series.scored}"
        if key == self._shown and key is not None:
            return
        self._shown = key
        plt = chart.plt
        plt.clear_data()
        plt.clear_figure()
        plt.date_form("Y-m-d")
        if series is None or view is None:
            chart.border_title = "actuals against the forecast band"
            plt.title("no forecast stored yet")
            chart.refresh()
            return
        chart.border_title = f"{series.name}: actual (•) · forecast (-) · band ({view.level:.0%})"
        days = list(series.days)
        plt.plot(days, list(series.upper), marker="braille", label="upper")
        plt.plot(days, list(series.value), marker="-", label="forecast")
        plt.plot(days, list(series.lower), marker="braille", label="lower")
        if len(series.history_days) >= 2:
            plt.plot(list(series.history_days), list(series.history), marker="•", label="actual")
        plt.ylabel(view.metric)
        chart.refresh()

    def focus_key(self, key: str) -> None:
        table = self.query_one("#forecast-table", VimTable)
        if table.select_key(key.removeprefix("series:")):
            table.focus()
