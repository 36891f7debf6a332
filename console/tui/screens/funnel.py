"""Funnel: step conversion of the last days as bars against the days before, and the drop-off ranking."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import Static

from console.tui.format import pct
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData
from engine.dashboard.funnel import FunnelView, events_version, load_funnel

BAR_WIDTH = 30
NOW_BLOCK = "█"
BEFORE_BLOCK = "▒"


class FunnelLoaded(Message):
    """The funnel worker read the event store."""

    def __init__(self, view: FunnelView, version: int | None) -> None:
        super().__init__()
        self.view = view
        self.version = version


def _bar(share: float | None, block: str) -> str:
    filled = 0 if share is None else max(1 if share > 0 else 0, round(share * BAR_WIDTH))
    return (block * filled).ljust(BAR_WIDTH)


def _points(value: float | None) -> str:
    if value is None:
        return "-"
    arrow = "▲" if value > 0.00005 else "▼" if value < -0.00005 else "="
    return f"{arrow} {abs(value) * 100:.1f} pts"


def render_bars(view: FunnelView) -> Text:
    """Two bars per step (now, before), each with its step conversion written out."""
    text = Text()
    if view.message:
        text.append(view.message)
        return text
    for index, step in enumerate(view.steps):
        if index:
            text.append("\n")
        text.append(f"{step.step[:12]:<12} now    ", style="bold")
        text.append(_bar(step.step_conversion, NOW_BLOCK), style="bold")
        text.append(f" {pct(step.step_conversion, 1):>6}  {step.sessions:>8,}")
        if view.compare_to:
            text.append(f"\n{'':<12} before ")
            text.append(_bar(step.previous_step_conversion, BEFORE_BLOCK), style="dim")
            before = step.previous_sessions
            text.append(f" {pct(step.previous_step_conversion, 1):>6}  {before or 0:>8,}")
    return text


class FunnelScreen(ConsoleScreen):
    MODE = "funnel"
    AUTO_FOCUS = "#dropoff-table"
    CSS_PATH = "funnel.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._version: int | None = None
        self._loaded = False

    def compose_body(self) -> ComposeResult:
        with Container(id="funnel-body"):
            yield Static("loading the funnel from the event store ...", id="funnel-bars")
            yield VimTable(
                "Transition", "Now", "Before", "Change", "p", "Lost", "Verdict", id="dropoff-table"
            )

    def show_data(self, data: ConsoleData) -> None:
        """The app's refresh tick: reload only when events were committed since the last load."""
        version = events_version(self.console.workspace)
        if not self._loaded or version != self._version:
            self._loaded = True
            self._version = version
            self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="funnel")
    def _load(self) -> None:
        version = events_version(self.console.workspace)
        self.post_message(FunnelLoaded(load_funnel(self.console.workspace), version))

    def on_funnel_loaded(self, message: FunnelLoaded) -> None:
        view = message.view
        bars = self.query_one("#funnel-bars", Static)
        if view.compare_to:
            bars.border_title = f"Step conversion · now {view.window} vs {view.compare_to}"
        else:
            bars.border_title = f"Step conversion · {view.window or 'no events'}"
        bars.update(render_bars(view))
        table = self.query_one("#dropoff-table", VimTable)
        table.border_title = (
            "Drop-off ranking · overall conversion lost per transition"
            if view.ranking
            else "Drop-off ranking · -"
        )
        table.show_rows(
            (
                row.transition,
                (
                    row.transition.replace("->", "→"),
                    pct(row.current, 1),
                    pct(row.previous, 1),
                    _points(row.change),
                    "-" if row.p_value is None else f"{row.p_value:.2g}",
                    _points(-row.conversion_lost if row.conversion_lost is not None else None),
                    "SIGNIFICANT" if row.significant else "n.s.",
                ),
            )
            for row in view.ranking
        )
