"""Pilot tests: navigation, keys, live refresh and every action of the console, workers awaited, no sleeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input
from textual.worker import WorkerFailed
from tui_helpers import OPERATOR, Calls, patch_entry, seeded_app

from console.tui.app import ShopctlApp
from console.tui.screens.alerts import AlertsScreen
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.drift import DriftScreen
from console.tui.screens.help import HelpScreen
from console.tui.screens.jobs import JobsScreen
from console.tui.screens.kpis import KpisScreen
from console.tui.screens.models import ModelsScreen
from console.tui.screens.overview import OverviewScreen
from console.tui.screens.too_small import TooSmallScreen
from console.tui.widgets.distribution import DistributionCompare
from console.tui.widgets.status_line import StatusLine
from console.tui.widgets.tile import Tile
from console.tui.widgets.vim_table import VimTable
from engine.registry import Registry
from engine.scheduling.control import DaemonError
from engine.store.db import Store

SIZE = (80, 24)


async def settle(app: ShopctlApp, pilot: Any) -> None:
    """Wait for every worker and the messages they posted (a failed worker is the app's to report)."""
    for _ in range(2):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


def tile_text(app: ShopctlApp, tile_id: str) -> str:
    return str(app.screen.query_one(f"#{tile_id}", Tile).render())


def notes(app: ShopctlApp) -> list[str]:
    return [notification.message for notification in app._notifications]


@pytest.fixture
def app(tmp_path: Path) -> ShopctlApp:
    return seeded_app(tmp_path / "shop")


async def test_opens_on_overview_with_every_tile(app: ShopctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert "2.47% ▼ 18.8%" in tile_text(app, "tile-conversion")
        assert "WARN" in tile_text(app, "tile-conversion")
        assert "AUC 0.742 (est.)" in tile_text(app, "tile-quality")
        assert "3/10 DRIFT" in tile_text(app, "tile-drift")
        assert "1 CRIT 2 WARN" in tile_text(app, "tile-alerts")
        assert "conversion v3 · 12d ago" in tile_text(app, "tile-champions")
        assert "monitor in 7m" in tile_text(app, "tile-next")
        assert "OK" in tile_text(app, "tile-freshness")
        status = str(app.screen.query_one(StatusLine).render())
        assert "updated 09:30:00 UTC" in status and "RUNNING" in status
        assert app.screen.query_one("#tile-drift", Tile).has_class("-warning")
        assert app.screen.query_one("#tile-alerts", Tile).has_class("-critical")


async def test_screen_keys_and_f_keys_switch_screens(app: ShopctlApp) -> None:
    expected = {
        "2": DriftScreen,
        "3": KpisScreen,
        "4": AlertsScreen,
        "5": ModelsScreen,
        "6": JobsScreen,
        "f2": OverviewScreen,
        "f5": AlertsScreen,
        "f7": JobsScreen,
    }
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for key, screen_class in expected.items():
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_class), key


async def test_vim_keys_move_the_cursor(app: ShopctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        table = app.screen.query_one("#alert-table", VimTable)
        assert table.selected_key == "1"
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_next_chart_cycles_on_a_narrow_terminal(app: ShopctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        visible = [chart.id for chart in app.screen.query("TimeChart") if chart.display]
        assert visible == ["chart-conversion"]
        await pilot.press("c")
        await pilot.pause()
        visible = [chart.id for chart in app.screen.query("TimeChart") if chart.display]
        assert visible == ["chart-quality"]


async def test_wide_terminal_shows_every_chart(app: ShopctlApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        visible = [chart.id for chart in app.screen.query("TimeChart") if chart.display]
        assert visible == ["chart-conversion", "chart-quality", "chart-drift"]


async def test_drift_sorted_by_severity_filterable_with_distributions(app: ShopctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await pilot.pause()
        table = app.screen.query_one("#drift-table", VimTable)
        statuses = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert statuses == ["DRIFT"] * 3 + ["OK"] * 7
        assert table.selected_key == "conversion/channel"
        await pilot.press("slash", *"price")
        await pilot.pause()
        assert table.row_count == 1 and table.selected_key == "conversion/price_mean"
        await pilot.press("enter")  # back to the table
        await pilot.press("enter")  # open the distributions
        await pilot.pause()
        detail = app.screen.query_one(DistributionCompare)
        assert app.screen.has_class("-detail-open") and detail.display
        assert "price_mean: reference vs current · DRIFT" in str(detail.border_title)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert not app.screen.has_class("-detail-open")
        assert table.row_count == 10


async def test_acknowledge_calls_the_engine_and_refreshes(
    app: ShopctlApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls()

    def acknowledge(ws: Any, alert_id: int, who: str) -> dict:
        calls.record(ws, alert_id, who)
        Store(ws.store_path).execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_by = ? WHERE id = ?", (who, alert_id)
        )
        return {"id": alert_id}

    patch_entry(monkeypatch, "engine.monitoring.alerts", "acknowledge", acknowledge)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4", "a")
        await settle(app, pilot)
        assert calls == [((app.workspace, 1, OPERATOR), {})]
        assert "Alert 1 acknowledged by tester." in notes(app)
        table = app.screen.query_one("#alert-table", VimTable)
        row = table.get_row(table.selected_key)
        assert str(row[2]) == "ACK"


async def test_acknowledge_refuses_an_alert_that_is_not_open(
    app: ShopctlApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls()
    patch_entry(monkeypatch, "engine.monitoring.alerts", "acknowledge", calls.record)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        app.screen.query_one("#alert-table", VimTable).select_key("4")
        await pilot.press("a")
        await settle(app, pilot)
        assert calls == []
        assert "Alert 4 is already acknowledged." in notes(app)


@pytest.mark.parametrize(
    ("alert_id", "mode", "table_id", "key"),
    [
        ("1", "drift", "#drift-table", "conversion/price_mean"),
        ("2", "kpis", "#segment-table", "channel=paid_search"),
        ("3", "models", "#model-table", "conversion"),
    ],
)
async def test_alert_jumps_to_what_it_concerns(
    app: ShopctlApp, alert_id: str, mode: str, table_id: str, key: str
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        app.screen.query_one("#alert-table", VimTable).select_key(alert_id)
        await pilot.press("o")
        await pilot.pause()
        assert app.current_mode == mode
        table = app.screen.query_one(table_id, VimTable)
        assert table.selected_key == key
        assert app.focused is table


class FakeRegistry:
    calls = Calls()

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def promote(self, name: str, version: int, *, who: str, why: str) -> None:
        self.calls.record("promote", name, version, who=who, why=why)

    def rollback(self, name: str, *, who: str, why: str) -> dict:
        self.calls.record("rollback", name, who=who, why=why)
        return {"action": "rollback", "from": 3, "to": 2, "who": who, "why": why}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Calls:
    FakeRegistry.calls = Calls()
    patch_entry(monkeypatch, "engine.registry", "Registry", FakeRegistry)
    return FakeRegistry.calls


async def test_promote_asks_then_calls_the_registry(app: ShopctlApp, registry: Calls) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("5")
        await pilot.pause()
        assert app.screen.query_one("#version-table", VimTable).selected_key == "4"
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert registry == []  # nothing happens before the confirmation
        await pilot.press("enter")
        await settle(app, pilot)
        assert registry == [(("promote", "conversion", 4), {"who": OPERATOR, "why": "from the TUI"})]
        assert "conversion v4 is now the champion." in notes(app)


async def test_promote_cancelled_calls_nothing(app: ShopctlApp, registry: Calls) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("5", "p")
        await pilot.pause()
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ModelsScreen)
        assert registry == []


async def test_promote_refuses_the_champion(app: ShopctlApp, registry: Calls) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("5", "j", "p")  # v3, the champion
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        assert "conversion v3 is already the champion." in notes(app)


async def test_rollback_asks_with_a_reason(app: ShopctlApp, registry: Calls) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("5", "r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        app.screen.query_one("#confirm-reason", Input).value = "calibration off on mobile"
        await pilot.press("enter")
        await settle(app, pilot)
        assert registry == [
            (("rollback", "conversion"), {"who": OPERATOR, "why": "calibration off on mobile"})
        ]
        assert "conversion rolled back to v2." in notes(app)


async def test_run_job_now(app: ShopctlApp, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls()
    patch_entry(monkeypatch, "engine.scheduling", "run_job_now", calls.record)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("6", "j", "r")  # second row: monitor
        await settle(app, pilot)
        assert calls == [((app.workspace, "monitor"), {"wait": False})]
        assert "Job monitor started." in notes(app)


async def test_an_engine_error_in_an_action_is_a_notification(
    app: ShopctlApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise DaemonError("the daemon is not running; start it with `shopctl daemon start`")

    patch_entry(monkeypatch, "engine.scheduling", "run_job_now", busy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("6", "r")
        await settle(app, pilot)
        assert any("the daemon is not running" in n for n in notes(app))
        assert app.is_running and isinstance(app.screen, JobsScreen)


async def test_help_lists_every_binding_with_its_id_and_cli(app: ShopctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table", VimTable)
        rows = [tuple(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]
        ids = {row[2] for row in rows}
        assert set(app.binding_ids()) <= ids
        assert {"alert_ack", "model_promote", "model_rollback", "job_run_now", "vim_down"} <= ids
        by_id = {row[2]: row for row in rows}
        assert by_id["alert_ack"][4] == "shopctl alerts ack ID --by NAME"
        assert by_id["job_run_now"][0] == "r"
        table.select_key(str([row[2] for row in rows].index("model_promote")))
        await pilot.pause()
        selected = str(app.screen.query_one("#help-selected").render())
        assert "shell: shopctl models promote NAME VERSION --why TEXT" in selected
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_keymap_remaps_bindings_by_id(tmp_path: Path) -> None:
    app = seeded_app(tmp_path / "shop", keymap={"drift": "f9", "alert_ack": "x", "no_such_binding": "z"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert any("no_such_binding" in n for n in notes(app))
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, DriftScreen)
        assert "F9" in str(app.screen.query_one(".nav-bar").render())
        rows = {row[3]: row for row in app.help_rows()}
        assert rows["alert_ack"][0] == "x"


async def test_too_small_terminal_shows_a_notice_until_resized(app: ShopctlApp) -> None:
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, TooSmallScreen)
        assert "Terminal too small: 60×20" in str(app.screen.query_one("#too-small").render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


async def test_refresh_is_skipped_while_a_dialog_is_open(
    app: ShopctlApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.tui.app as app_module

    loads: list[object] = []
    real = app_module.load_console

    def counting(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(app_module, "load_console", counting)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert len(loads) == 1
        await pilot.press("5", "p")
        await pilot.pause()
        app.refresh_data()
        await settle(app, pilot)
        assert len(loads) == 1
        await pilot.press("escape")
        app.refresh_data()
        await settle(app, pilot)
        assert len(loads) == 2


async def test_live_refresh_shows_new_rows(app: ShopctlApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        Store(app.workspace.store_path).execute(
            "INSERT INTO alerts (rule, metric, scope, severity, state, message, opened, updated) "
            "VALUES ('kpi', 'sessions', 'overall', 'critical', 'open', 'sessions fell 60%', ?, ?)",
            ("2026-03-02T09:00:00+00:00", "2026-03-02T09:00:00+00:00"),
        )
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        table = app.screen.query_one("#alert-table", VimTable)
        messages = [str(table.get_row_at(i)[-1]) for i in range(table.row_count)]
        assert "sessions fell 60%" in messages
        assert str(table.border_title).startswith("4 OPEN")


async def test_refresh_error_is_one_notification_and_refresh_continues(
    app: ShopctlApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.tui.app as app_module
    from engine.errors import StoreError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("state/shopctl.db: disk I/O error")

    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        monkeypatch.setattr(app_module, "load_console", broken)
        app.refresh_data()
        await settle(app, pilot)
        app.refresh_data()
        await settle(app, pilot)
        assert notes(app).count("state/shopctl.db: disk I/O error") == 1
        assert app._timer is not None  # re-armed: the next tick tries again
        assert isinstance(app.screen, OverviewScreen) and app.data is not None


async def test_daemon_not_running_is_written_out(tmp_path: Path) -> None:
    app = seeded_app(tmp_path / "shop", daemon_running=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "NOT RUNNING" in str(app.screen.query_one(StatusLine).render())
        assert "NOT RUNNING" in tile_text(app, "tile-next")
        await pilot.press("6")
        await pilot.pause()
        assert "daemon NOT RUNNING" in str(app.screen.query_one("#daemon-state").render())


async def test_palette_commands_are_noun_verb_and_run_on_their_screen(
    app: ShopctlApp, registry: Calls
) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("alert: acknowledge", "model: promote", "model: rollback", "job: run now"):
            assert title in titles
        app.run_on_screen("models", "promote")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)


async def test_empty_workspace_opens_with_hints(tmp_path: Path) -> None:
    from tui_fixtures import empty_workspace

    from console.tui.app import make_app

    ws = empty_workspace(tmp_path / "empty")
    app = make_app(ws, now=None, who=OPERATOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "no KPI run yet" in tile_text(app, "tile-conversion")
        assert "NOT RUNNING" in tile_text(app, "tile-next")
        for key in "23456":
            await pilot.press(key)
            await pilot.pause()
        assert notes(app) == []


async def test_unchanged_data_repaints_nothing(app: ShopctlApp, monkeypatch: pytest.MonkeyPatch) -> None:
    rebuilt: list[str | None] = []
    real_clear = VimTable.clear

    def counting_clear(self: VimTable, *args: Any, **kwargs: Any) -> Any:
        rebuilt.append(self.id)
        return real_clear(self, *args, **kwargs)

    monkeypatch.setattr(VimTable, "clear", counting_clear)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await pilot.pause()
        assert rebuilt == ["alert-table"]
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert rebuilt == ["alert-table"]  # same rows: the table was not rebuilt
        Store(app.workspace.store_path).execute("UPDATE alerts SET message = 'changed' WHERE id = 1")
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert rebuilt == ["alert-table", "alert-table"]


async def test_a_single_window_draws_no_misleading_chart(tmp_path: Path) -> None:
    from tui_fixtures import FIXED_NOW, build_workspace

    from console.tui.app import make_app
    from console.tui.widgets.time_chart import TimeChart

    ws = build_workspace(tmp_path / "shop", days=1)
    app = make_app(ws, now=FIXED_NOW, who=OPERATOR)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        chart = app.screen.query_one("#chart-conversion", TimeChart)
        assert "one window so far" in chart.plt.build()


async def test_command_palette_runs_model_promote(app: ShopctlApp, registry: Calls) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"model: promote")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(app, pilot)
        assert registry == [(("promote", "conversion", 4), {"who": OPERATOR, "why": "from the TUI"})]


async def test_screen_picker_lists_every_screen_and_opens_the_chosen_one(app: ShopctlApp) -> None:
    from console.tui.app import SCREEN_CLASSES
    from console.tui.screens.order_risk import OrderRiskScreen
    from console.tui.screens.picker import ScreenPicker

    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        assert isinstance(app.screen, ScreenPicker)
        table = app.screen.query_one("#screens-table", VimTable)
        ids = [str(key.value) for key in table.rows]
        assert ids == [*SCREEN_CLASSES, "order_risk"]
        # the open screen is marked, not only coloured
        assert table.get_row_at(0)[:3] == ["▶", "F2", "Overview"]
        await pilot.press("j", "j", "enter")  # third row: KPIs
        await settle(app, pilot)
        assert app.current_mode == "kpis"
        assert isinstance(app.screen, KpisScreen)

        await pilot.press("s")
        assert app.screen.query_one("#screens-table", VimTable).cursor_row == ids.index("kpis")
        await pilot.press("escape")
        assert isinstance(app.screen, KpisScreen)

        await pilot.press("s", "G", "enter")  # the last row opens over the current screen
        await settle(app, pilot)
        assert isinstance(app.screen, OrderRiskScreen)


async def test_models_table_shows_every_model_up_to_five_at_80x24(tmp_path: Path) -> None:
    app = seeded_app(tmp_path / "shop")
    registry = Registry(app.workspace)
    source = registry.version("repurchase", 1)
    for name in ("recommendations", "spend"):  # four models, two more than the seeded shop's
        registry.register(
            name, source.onnx_path.read_bytes(), source.metadata, {}, promote=True, who="test", why="layout"
        )
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("5")
        await settle(app, pilot)
        table = app.screen.query_one("#model-table", VimTable)
        assert table.row_count == 4
        # header + four rows + the round border: nothing scrolled out of sight
        assert table.region.height == 1 + 4 + 2, table.region
        assert app.screen.query_one("#version-table", VimTable).region.height >= 4
