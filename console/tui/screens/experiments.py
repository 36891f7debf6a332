"""Experiments: each stored A/B experiment's newest verdict, its lift per variant with the interval as a bar,
and the sample-ratio check."""

from __future__ import annotations

import math

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.widgets import DataTable, Static

from console.render.intervals import interval_bar, interval_scale
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData
from engine.dashboard.experiments import ExperimentView

BAR_WIDTH = 28


class ExperimentsLoaded(Message):
    def __init__(self, experiments: tuple[ExperimentView, ...]) -> None:
        super().__init__()
        self.experiments = experiments


def _srm(view: ExperimentView) -> str:
    if view.srm_p_value is None:
        return "-"
    return f"MISMATCH p={view.srm_p_value:.2g}" if view.srm_mismatch else f"ok p={view.srm_p_value:.2f}"


def detail_lines(view: ExperimentView) -> list[str]:
    """The selected experiment: one bar per treatment on a shared axis (zero marked), then the verdict."""
    lines = [f"#{view.id} {view.dimension} · {view.metric} per {view.unit} · {view.status.upper()}"]
    if not view.lifts:
        return [*lines, view.verdict]
    # Drawn from the values as printed (0.1%): a last-digit difference in a sum must not move a bar's cell.
    shown = [tuple(round(value, 3) for value in (lift.lower, lift.lift, lift.upper)) for lift in view.lifts]
    axis = interval_scale(shown)
    low, high = axis
    lines.append(f"{'':<10}{f'{low:+.0%}':<{BAR_WIDTH // 2}}{f'{high:+.0%}':>{BAR_WIDTH - BAR_WIDTH // 2}}")
    for lift, (lower, estimate, upper) in zip(view.lifts, shown, strict=True):
        word = "SIGNIFICANT" if lift.significant else "n.s."
        chance = "" if lift.chance_to_beat is None else f" P(beat)={lift.chance_to_beat:.0%}"
        interval = (
            f"{lift.lift:+.1%} [{lift.lower:+.1%}, {lift.upper:+.1%}]"
            if math.isfinite(lift.lower) and math.isfinite(lift.upper)
            else f"{lift.lift:+.1%}"
        )
        lines.append(
            f"{lift.variant[:9]:<10}{interval_bar(lower, estimate, upper, axis, BAR_WIDTH)} "
            f"{interval} {word}{chance}{' (always valid)' if lift.sequential else ''}"
        )
    lines.append(f"sample ratio: {_srm(view)}")
    lines.append(view.verdict)
    return lines


class ExperimentsScreen(ConsoleScreen):
    MODE = "experiments"
    AUTO_FOCUS = "#experiment-table"
    CSS_PATH = "experiments.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._experiments: tuple[ExperimentView, ...] = ()

    def compose_body(self) -> ComposeResult:
        with Container(id="experiments-body"):
            yield VimTable("ID", "Dimension", "Metric", "SRM", "State", id="experiment-table")
            yield Static("", id="experiment-detail")

    def show_data(self, data: ConsoleData) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="experiments")
    def _load(self) -> None:
        from engine.dashboard.experiments import load_experiments

        self.post_message(ExperimentsLoaded(load_experiments(self.console.workspace)))

    def on_experiments_loaded(self, message: ExperimentsLoaded) -> None:
        self._experiments = message.experiments
        table = self.query_one("#experiment-table", VimTable)
        flagged = sum(1 for view in self._experiments if view.srm_mismatch)
        table.border_title = (
            f"{len(self._experiments)} experiment(s) · {flagged} SRM"
            if self._experiments
            else "no experiments yet: shopctl experiment analyze --dimension NAME"
        )
        table.show_rows(
            (
                str(view.id),
                (str(view.id), view.dimension, view.metric, _srm(view), view.state_word),
            )
            for view in self._experiments
        )
        self._show(table.selected_key or (str(self._experiments[0].id) if self._experiments else None))

    @on(DataTable.RowHighlighted, "#experiment-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._show(str(event.row_key.value))

    def _show(self, key: str | None) -> None:
        detail = self.query_one("#experiment-detail", Static)
        view = next((item for item in self._experiments if str(item.id) == key), None)
        detail.border_title = "lift against the control (● estimate, [═] interval, | zero)"
        detail.update("\n".join(detail_lines(view)) if view else "")
