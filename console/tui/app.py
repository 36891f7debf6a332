"""The shopctl console: one app factory, live refresh in thread workers, keyboard first."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from console.tui.actions import ActionsMixin
from console.tui.keys import APP_BINDINGS, CLI_EQUIVALENTS, display_key
from console.tui.messages import ActionDone, DataLoaded
from console.tui.screens.alerts import AlertsScreen
from console.tui.screens.base import ConsoleScreen
from console.tui.screens.drift import DriftScreen
from console.tui.screens.experiments import ExperimentsScreen
from console.tui.screens.forecast import ForecastScreen
from console.tui.screens.funnel import FunnelScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.jobs import JobsScreen
from console.tui.screens.kpis import KpisScreen
from console.tui.screens.models import ModelsScreen
from console.tui.screens.overview import OverviewScreen
from console.tui.screens.picker import ScreenPicker
from console.tui.screens.segments import SegmentsScreen
from console.tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from console.tui.widgets.vim_table import VimTable
from engine.config import Settings
from engine.dashboard import ConsoleData, load_console
from engine.workspace import Workspace, open_workspace

SCREEN_CLASSES: dict[str, type[ConsoleScreen]] = {
    "overview": OverviewScreen,
    "drift": DriftScreen,
    "kpis": KpisScreen,
    "alerts": AlertsScreen,
    "models": ModelsScreen,
    "jobs": JobsScreen,
    "segments": SegmentsScreen,
    "funnel": FunnelScreen,
    "forecast": ForecastScreen,
    "experiments": ExperimentsScreen,
}
# Palette commands, "noun: verb": (title, help, screen, screen action).
PALETTE_ACTIONS = (
    ("alert: acknowledge", "Acknowledge the selected open alert", "alerts", "acknowledge"),
    (
        "alert: go to subject",
        "Open the feature, segment or model the selected alert concerns",
        "alerts",
        "jump",
    ),
    ("model: promote", "Make the selected model version the champion (asks first)", "models", "promote"),
    (
        "model: rollback",
        "Roll the selected model back to its previous champion (asks first)",
        "models",
        "rollback",
    ),
    ("job: run now", "Run the selected scheduled job now", "jobs", "run_now"),
    ("drift: filter", "Filter the drift table by feature or method", "drift", "focus_filter"),
)


class ShopctlApp(ActionsMixin, App[None]):
    """Overview, drift, KPIs, alerts, models and jobs of one workspace, refreshed from its store."""

    CSS_PATH = "app.tcss"
    TITLE = "shopctl"
    MODES = SCREEN_CLASSES  # type: ignore[assignment]
    DEFAULT_MODE = "overview"
    BINDINGS = APP_BINDINGS
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self, workspace: Workspace, settings: Settings, *, now: datetime | None, who: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.settings = settings
        self.who = who
        self.fixed_now = now
        self.data: ConsoleData | None = None
        self.refresh_seconds = float(settings.ui.refresh_seconds)
        self.keymap_overrides = dict(settings.keymap)
        self._timer: Timer | None = None
        self._jumps: dict[str, str] = {}
        self._last_error = ""

    # -- lifecycle and live refresh ------------------------------------------------------------------

    def on_mount(self) -> None:
        unknown = sorted(set(self.keymap_overrides) - set(self.binding_ids()))
        if unknown:
            self.notify(
                f"config.toml [keymap]: unknown binding id(s) {', '.join(unknown)}; see ? for ids",
                severity="warning",
            )
        self.set_keymap({k: v for k, v in self.keymap_overrides.items() if k not in unknown})
        self.check_size()
        self.refresh_data()

    def refresh_data(self) -> None:
        """Start one refresh worker, unless a dialog is open (then try again at the next tick)."""
        if isinstance(self.screen, ModalScreen):
            self._arm()
            return
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="refresh")
    def _load(self) -> None:
        self.post_message(DataLoaded(load_console(self.workspace, now=self.fixed_now)))

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.refresh_seconds, self.refresh_data)

    def on_data_loaded(self, message: DataLoaded) -> None:
        self.data = message.data
        self._last_error = ""
        if isinstance(self.screen, ConsoleScreen):
            self.screen.refresh_from_app()
        self._arm()

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text)
        self.refresh_data()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker errors surface: a notification, and live refresh keeps going."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        text = str(error) or type(error).__name__
        if event.worker.group == "refresh":
            if text != self._last_error:  # a store that stays unreadable notifies once, not every tick
                self.notify(text, title="Refresh failed", severity="error", timeout=10)
            self._last_error = text
            self._arm()
        else:
            self.notify(text, title="Action failed", severity="error", timeout=10)

    def check_size(self) -> None:
        """Cover the console with a notice while the terminal is below 80×24 (screens call this on resize)."""
        too_small = self.size.width < MIN_WIDTH or self.size.height < MIN_HEIGHT
        showing = isinstance(self.screen, TooSmallScreen)
        if too_small and not showing:
            self.push_screen(TooSmallScreen())
        elif showing and not too_small:
            self.pop_screen()
            self.refresh_data()  # refreshes were skipped while the notice covered the console

    # -- navigation ----------------------------------------------------------------------------------

    def action_show_mode(self, mode: str) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_refresh(self) -> None:
        self.refresh_data()

    def jump_to(self, mode: str, key: str) -> None:
        """Open a screen with its cursor on key (a feature, a segment, a model)."""
        self._jumps[mode] = key
        if self.current_mode == mode and isinstance(self.screen, ConsoleScreen):
            self.screen.refresh_from_app()
        else:
            self.switch_mode(mode)

    def take_jump(self, mode: str) -> str | None:
        return self._jumps.pop(mode, None)

    def action_screens(self) -> None:
        """The screen picker: every screen with its key, the open one marked; enter opens one."""
        if isinstance(self.screen, ModalScreen):
            return
        self.push_screen(ScreenPicker(self.screen_rows(), self.current_mode), self._open_picked)

    def screen_rows(self) -> list[tuple[str, str, str]]:
        """(screen id, key, name) of every screen: the modes in key order, then those opened over a mode."""
        from console.tui.widgets.nav_bar import EXTRA_SCREENS, SCREENS

        names = dict(SCREENS) | EXTRA_SCREENS
        rows = [(mode, self.key_for(mode), names.get(mode, mode.title())) for mode in SCREEN_CLASSES]
        rows.extend((screen_id, "", name) for screen_id, (name, _) in self.pushed_screens().items())
        return rows

    def pushed_screens(self) -> dict[str, tuple[str, Callable[[], None]]]:
        """Screens opened over the current mode (not modes themselves): id → (name, how to open it)."""
        return {"order_risk": ("Order risk", self.show_order_risk)}

    def _open_picked(self, screen_id: str | None) -> None:
        if screen_id is None:
            return
        if screen_id in SCREEN_CLASSES:
            self.action_show_mode(screen_id)
        elif screen_id in self.pushed_screens():
            self.pushed_screens()[screen_id][1]()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_rows()))

    # -- keys ----------------------------------------------------------------------------------------

    def _binding_sources(self) -> Iterable[tuple[str, Binding]]:
        for binding in APP_BINDINGS:
            yield "everywhere", binding
        for mode, screen_class in SCREEN_CLASSES.items():
            for binding in screen_class.__dict__.get("BINDINGS", []):
                if isinstance(binding, Binding):
                    yield mode, binding
        for binding in ScreenPicker.BINDINGS:
            if isinstance(binding, Binding):
                yield "screens", binding
        for binding in VimTable.BINDINGS:
            if isinstance(binding, Binding):
                yield "tables", binding

    def binding_ids(self) -> list[str]:
        return [binding.id for _, binding in self._binding_sources() if binding.id]

    def effective_keys(self, binding: Binding) -> str:
        return self.keymap_overrides.get(binding.id or "", binding.key)

    def key_for(self, binding_id: str) -> str:
        for _, binding in self._binding_sources():
            if binding.id == binding_id:
                return display_key(self.effective_keys(binding))
        return ""

    def help_rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for where, binding in self._binding_sources():
            keys = " ".join(display_key(key) for key in self.effective_keys(binding).split(","))
            rows.append(
                (
                    keys,
                    where,
                    binding.description,
                    binding.id or "",
                    CLI_EQUIVALENTS.get(binding.id or "", ""),
                )
            )
        return rows

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for mode in SCREEN_CLASSES:
            yield SystemCommand(
                f"screen: {mode}", f"Open the {mode} screen", lambda m=mode: self.action_show_mode(m)
            )
        for title, help_text, mode, action in PALETTE_ACTIONS:
            yield SystemCommand(title, help_text, lambda m=mode, a=action: self.run_on_screen(m, a))
        yield SystemCommand(
            "orders: risk", "The riskiest recent orders and the flagged share", self.show_order_risk
        )
        yield SystemCommand("console: refresh", "Read the store now", self.refresh_data)
        yield SystemCommand("console: help", "List every key and its CLI equivalent", self.action_help)
        yield from super().get_system_commands(screen)

    def show_order_risk(self) -> None:
        """Open the order-risk screen (console/tui/screens/order_risk.py) over the current one."""
        from console.tui.screens.order_risk import OrderRiskScreen

        self.push_screen(OrderRiskScreen(self.workspace))

    def run_on_screen(self, mode: str, action: str) -> None:
        """Open a screen, then run one of its actions on the row under its cursor."""
        if self.current_mode != mode:
            self.switch_mode(mode)
        self.call_after_refresh(lambda: self.screen.run_action(action))


def make_app(
    workspace: Workspace | Path | str,
    settings: Settings | None = None,
    *,
    now: datetime | None = None,
    who: str | None = None,
) -> ShopctlApp:
    """The console for a workspace; `now` pins the clock (tests, screenshots), `who` names the operator."""
    ws = workspace if isinstance(workspace, Workspace) else open_workspace(workspace)
    from engine.clock import operator

    return ShopctlApp(ws, settings or ws.settings, now=now, who=operator("tui", who))
