from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from console.cli.main import app

runner = CliRunner()


def test_init_creates_layout(tmp_path: Path) -> None:
    target = tmp_path / "shop"
    result = runner.invoke(app, ["init", str(target), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["config_created"] is True
    for sub in ("data", "registry", "state", "config.toml"):
        assert (target / sub).exists()
    again = runner.invoke(app, ["init", str(target), "--json"])
    assert json.loads(again.stdout)["config_created"] is False


def test_config_check_reports_bad_key_with_exit_2(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path)])
    (tmp_path / "config.toml").write_text("[monitr]\nwindow='1d'\n")
    result = runner.invoke(app, ["config", "check", "-w", str(tmp_path)])
    assert result.exit_code == 2
    assert "monitr" in result.stderr and "Traceback" not in result.output


def test_config_check_accepts_the_deprecated_min_sessions_and_says_to_remove_it(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path)])
    config = tmp_path / "config.toml"
    config.write_text(config.read_text().replace("[monitor]\n", "[monitor]\nmin_sessions = 300\n", 1))
    result = runner.invoke(app, ["config", "check", "-w", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert len(notes) == 1 and "[monitor] min_sessions is deprecated and ignored" in notes[0]
    assert "[monitor] min_sessions is deprecated" in result.stderr  # shown literally, not as markup


def test_not_a_workspace_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", "-w", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "not a shopctl workspace" in result.stderr


def test_config_show_json_round_trips(tmp_path: Path) -> None:
    runner.invoke(app, ["init", str(tmp_path)])
    result = runner.invoke(app, ["config", "show", "-w", str(tmp_path), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["monitor"]["window"] == "1d"


def test_config_show_human_is_valid_toml(tmp_path: Path) -> None:
    import tomllib

    runner.invoke(app, ["init", str(tmp_path)])
    result = runner.invoke(app, ["config", "show", "-w", str(tmp_path)])
    assert result.exit_code == 0
    parsed = tomllib.loads(result.stdout)
    assert parsed["schedule"]["jobs"]["monitor"]["trigger"] == "interval"
