"""A time-series chart with dated x axis and labelled y axis, drawn by plotext in the terminal."""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

from engine.dashboard import Point

DATE_FORM = "Y-m-d"


@dataclass(frozen=True)
class Line:
    """One plotted line: a label for the legend, its points, which field to draw and a marker."""

    label: str
    points: tuple[Point, ...]
    field: str = "value"  # value | lower | upper
    marker: str = "braille"
    scale: float = 1.0


class TimeChart(PlotextPlot):
    """Dated line chart; `show_lines` redraws only when the lines differ from what is on screen."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self.chart_title = title
        self._lines: tuple[Line, ...] | None = None
        self.border_title = title

    def show_lines(self, lines: tuple[Line, ...], empty_text: str = "no data yet") -> None:
        if lines == self._lines:
            return
        self._lines = lines
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.date_form(DATE_FORM)
        drawn = []
        for line in lines:
            pairs = [
                (p.at.strftime("%Y-%m-%d"), getattr(p, line.field) * line.scale)
                for p in line.points
                if getattr(p, line.field) is not None
            ]
            if pairs:
                drawn.append((line, pairs))
        if len({date for _, pairs in drawn for date, _ in pairs}) < 2:
            # plotext stretches a single date over a century; a line needs two windows.
            plt.title(empty_text if not drawn else "one window so far: the line starts with the second")
            drawn = []
        for line, pairs in drawn:
            dates, values = zip(*pairs, strict=True)
            plt.plot(list(dates), list(values), label=line.label or None, marker=line.marker)
        self.refresh()
