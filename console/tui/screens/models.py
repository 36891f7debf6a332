"""Models: versions with metrics and ONNX parity, the champion history; promote and roll back with a confirm."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widgets import DataTable

from console.tui.format import age, num, when
from console.tui.screens.base import ConsoleScreen
from console.tui.screens.confirm import ConfirmScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData, ModelView, VersionRow


def _version(number: int | None) -> str:
    return "new" if number is None else f"v{number}"


class ModelsScreen(ConsoleScreen):
    MODE = "models"
    AUTO_FOCUS = "#version-table"
    BINDINGS = [
        Binding("p", "promote", "Promote", id="model_promote"),
        Binding("r", "rollback", "Roll back", id="model_rollback"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._models: tuple[ModelView, ...] = ()
        self._model_name: str | None = None

    def compose_body(self) -> ComposeResult:
        yield VimTable("Model", "Task", "Champion", "Versions", "Champion age", id="model-table")
        with Container(id="model-body"):
            yield VimTable(
                "Ver", "Created", "Chosen", "Metric", "Valid.", "Test", "Parity", "Role", id="version-table"
            )
            yield VimTable("When", "Who", "Action", "From→To", "Why", id="history-table")

    def show_data(self, data: ConsoleData) -> None:
        self._models = data.models
        now = data.dashboard.now
        models = self.query_one("#model-table", VimTable)
        models.border_title = f"{len(self._models)} models · tab to move between tables"
        ages = {c.name: c.created for c in data.dashboard.champions}
        models.show_rows(
            (
                model.name,
                (
                    model.name,
                    model.task or "-",
                    f"v{model.champion}" if model.champion else "none",
                    str(len(model.versions)),
                    age(ages.get(model.name), now),
                ),
            )
            for model in self._models
        )
        self._show_model()

    @property
    def model(self) -> ModelView | None:
        key = self.query_one("#model-table", VimTable).selected_key
        return next((m for m in self._models if m.name == key), None)

    @property
    def version(self) -> VersionRow | None:
        model = self.model
        key = self.query_one("#version-table", VimTable).selected_key
        if model is None or key is None:
            return None
        return next((v for v in model.versions if str(v.version) == key), None)

    def _show_model(self) -> None:
        model = self.model
        versions = self.query_one("#version-table", VimTable)
        history = self.query_one("#history-table", VimTable)
        if model is None:
            versions.border_title = "no models yet: shopctl train NAME"
            versions.show_rows([])
            history.show_rows([])
            return
        versions.border_title = f"{model.name}: versions · p promote · r roll back"
        versions.show_rows(
            (
                str(v.version),
                (
                    f"v{v.version}",
                    when(v.created),
                    v.chosen or "-",
                    v.metric or "-",
                    num(v.validation),
                    num(v.test),
                    num(v.parity, 1) if v.parity is not None else "-",
                    "★ CHAMPION" if v.champion else "",
                ),
            )
            for v in model.versions
        )
        history.border_title = f"{model.name}: champion history"
        history.show_rows(
            (
                str(index),
                (
                    when(h.at),
                    h.who,
                    h.action.upper(),
                    f"{_version(h.from_version)}→{_version(h.to_version)}",
                    h.why,
                ),
            )
            for index, h in enumerate(model.history)
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "model-table" and self.model and self.model.name != self._model_name:
            self._model_name = self.model.name
            self._show_model()

    def action_promote(self) -> None:
        model, version = self.model, self.version
        if model is None or version is None:
            self.notify("Select a model version first.", severity="warning")
            return
        if version.champion:
            self.notify(f"{model.name} v{version.version} is already the champion.", severity="warning")
            return
        current = f"v{model.champion}" if model.champion else "none"

        def done(why: str | None) -> None:
            if why is not None:
                self.console.promote_model(model.name, version.version, why)

        self.app.push_screen(
            ConfirmScreen(
                "model: promote",
                f"Make {model.name} v{version.version} the champion (now {current})?\n"
                f"Scoring and monitoring switch to it at once.",
                f"shopctl models promote {model.name} {version.version} --why …",
            ),
            done,
        )

    def action_rollback(self) -> None:
        model = self.model
        if model is None or model.champion is None:
            self.notify("Select a model with a champion first.", severity="warning")
            return

        def done(why: str | None) -> None:
            if why is not None:
                self.console.rollback_model(model.name, why)

        self.app.push_screen(
            ConfirmScreen(
                "model: rollback",
                f"Roll {model.name} back from v{model.champion} to the previous champion?",
                f"shopctl models rollback {model.name} --why …",
            ),
            done,
        )

    def focus_key(self, key: str) -> None:
        table = self.query_one("#model-table", VimTable)
        if table.select_key(key):
            self._show_model()
            table.focus()
