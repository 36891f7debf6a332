"""`shopctl demo`: one small end-to-end run, a safe re-run, and the CLI rendering of its summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import console.cli.demo as demo_cli
from console.cli.main import app
from engine.demo import run_demo, schedule_monitor_often
from engine.errors import WorkspaceError
from engine.registry import Registry
from engine.store import open_store
from engine.workspace import init_workspace, open_workspace

runner = CliRunner()
# A fixed calendar: the demo otherwise starts `days` before today, and the shop's weekdays move with the date.
SMALL = {"days": 30, "seed": 3, "sessions_per_day": 150, "history_days": 3, "start": "2026-11-04"}


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("demo") / "shop"
    steps: list[tuple[str, int, int]] = []
    first = run_demo(
        root, progress=lambda message, done, total: steps.append((message, done, total)), **SMALL
    )
    assert steps[0][1] == 0 and steps[-1][:2] == ("done", 8)
    second = run_demo(root, **SMALL)
    return root, first, second


@pytest.mark.slow
def test_demo_builds_a_working_shop(demo_runs) -> None:
    root, first, _ = demo_runs
    ws = open_workspace(root)
    assert first["workspace"] == str(root.resolve()) and first["reused"] is False
    assert first["events"]["rows_stored"] == first["events"]["rows_read"] > 0
    assert ws.settings.schedule.jobs["monitor"].minutes == 2
    registry = Registry(ws)
    for name in ("conversion", "repurchase"):
        model = first["models"][name]
        assert (model["action"], model["version"], model["champion"]) == ("trained", 1, 1)
        assert model["chosen"] in model["candidates"]
        assert registry.champion(name) == 1
    scores = pl.read_parquet(first["scoring"]["output"])
    sessions = pl.read_parquet(ws.features_dir / "sessions.parquet")
    assert scores.height == sessions.height == first["scoring"]["rows"]
    assert scores["score"].is_between(0, 1).all() and set(scores["model_version"]) == {1}
    assert first["monitoring"]["ran"] is True and first["monitoring"]["run_id"]
    windows = open_store(ws).query(
        "SELECT window_end FROM monitor_runs WHERE source = 'events' ORDER BY window_end"
    )
    assert len(windows) == 3, "the demo monitors its last three days so the console has history to chart"
    assert any("daemon start" in line for line in first["next"])


@pytest.mark.slow
def test_rerun_reuses_the_workspace_and_skips_unchanged_models(demo_runs) -> None:
    root, first, second = demo_runs
    assert second["reused"] is True and second["config_changed"] is False
    assert second["first_day"] == first["first_day"]  # pinned, so a later day re-makes the same events
    assert second["events"]["rows_stored"] == 0
    assert second["events"]["rows_duplicate"] == first["events"]["rows_read"]
    for name in ("conversion", "repurchase"):
        assert second["models"][name]["action"] == "skipped"
        assert "no new events since v1" in second["models"][name]["reason"]
        assert Registry(open_workspace(root)).versions(name) == [1]


def test_demo_refuses_a_real_workspace(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "real")
    (ws.events_dir / "_manifest.json").write_text("{}")
    with pytest.raises(WorkspaceError, match="not a demo"):
        run_demo(ws.root, days=1)


def test_schedule_monitor_often_edits_only_the_monitor_job(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "ws")
    before = ws.config_path.read_text()
    assert schedule_monitor_often(ws) is True
    assert schedule_monitor_often(ws) is False
    after = ws.config_path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed == [("minutes = 15", "minutes = 2")]
    assert open_workspace(ws.root).settings.schedule.jobs["ingest"].minutes == 5


@pytest.mark.slow
def test_cli_renders_the_summary(demo_runs, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, first, _ = demo_runs
    calls: list[tuple[Any, dict[str, Any]]] = []

    def fake_run_demo(root: Any, **options: Any) -> dict[str, Any]:
        calls.append((root, options))
        return first

    monkeypatch.setattr(demo_cli, "run_demo", fake_run_demo)
    monkeypatch.delenv("SHOPCTL_WORKSPACE", raising=False)
    human = runner.invoke(app, ["demo", str(tmp_path / "d"), "--days", "5", "--seed", "2"])
    assert human.exit_code == 0, human.output
    for fragment in (
        "conversion → champion v1",
        "repurchase",
        "ONNX parity",
        "rows/s",
        "try next",
        "daemon start",
    ):
        assert fragment in human.stdout
    assert calls[0][0] == tmp_path / "d" and (calls[0][1]["days"], calls[0][1]["seed"]) == (5, 2)
    as_json = runner.invoke(app, ["demo", "--json"])
    assert json.loads(as_json.stdout)["models"]["conversion"]["version"] == 1
    assert calls[1][0] == Path("shopctl-demo")
    from_env = runner.invoke(app, ["demo", "--json"], env={"SHOPCTL_WORKSPACE": str(tmp_path / "real")})
    assert from_env.exit_code == 0 and calls[2][0] == Path("shopctl-demo")


@pytest.mark.slow
def test_tui_flag_without_a_terminal_says_how_to_open_it_later(
    demo_runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first, _ = demo_runs
    monkeypatch.setattr(demo_cli, "run_demo", lambda root, **options: first)
    result = runner.invoke(app, ["demo", "--tui"])
    assert result.exit_code == 2
    assert f"shopctl tui -w {first['workspace']}" in result.stderr and result.stderr.count("\n") == 1
