"""Every command has help text and an example; the root help documents the exit codes."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from console.cli.main import app

runner = CliRunner()


def _leaf_commands() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:  # noqa: ANN001 - typer vendors click in 0.29
        if getattr(command, "commands", None):
            for name, sub in command.commands.items():
                walk(sub, path + (name,))
        else:
            found.append(path)

    walk(root, ())
    return found


def test_root_help_documents_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for fragment in ("0 ok", "2 usage or input error", "3 monitoring alert", "4 workspace busy"):
        assert fragment in text


def test_every_command_has_help_and_an_example() -> None:
    commands = _leaf_commands()
    assert ("init",) in commands
    missing = []
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        if "Example" not in result.stdout:
            missing.append(" ".join(path))
    assert not missing, f"commands without an example in their help: {missing}"


def test_every_command_takes_workspace_and_json() -> None:
    root = typer.main.get_command(app)
    lacking = []
    for path in _leaf_commands():
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        if not {"--workspace", "--json"} <= options:
            lacking.append(" ".join(path))
    assert not lacking, f"commands without --workspace/--json: {lacking}"


def test_no_flag_shows_a_value_type_in_help() -> None:
    """Flags take no value, so help must not print `--json <bool>` (typer 0.29 does unless we say otherwise)."""
    offenders = []
    for path in [(), *_leaf_commands()]:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "160"}, terminal_width=160)
        assert result.exit_code == 0, (path, result.output)
        if "<bool>" in result.stdout:
            offenders.append(" ".join(path) or "shopctl")
    assert not offenders, f"`<bool>` shown after a flag in: {offenders}"
    monitor = runner.invoke(app, ["monitor", "run", "--help"], env={"COLUMNS": "160"}, terminal_width=160)
    assert "<warning|critical>" in monitor.stdout  # options that do take a value still show it


def test_workspace_and_json_may_come_before_the_command() -> None:
    from console.cli.main import hoist_global_options

    assert hoist_global_options(["-w", "shop", "models", "list"]) == ["models", "list", "-w", "shop"]
    assert hoist_global_options(["--json", "--workspace=s", "data", "summary"]) == [
        "data",
        "summary",
        "--json",
        "--workspace=s",
    ]
    assert hoist_global_options(["-ws", "score", "m", "-i", "-", "--", "x"]) == [
        "score",
        "m",
        "-i",
        "-",
        "-ws",
        "--",
        "x",
    ]
    assert hoist_global_options(["models", "list", "-w", "shop"]) == ["models", "list", "-w", "shop"]
    assert hoist_global_options(["--version"]) == ["--version"]


def test_workspace_before_the_command_in_a_real_process(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from engine.workspace import init_workspace

    init_workspace(tmp_path / "shop")
    result = subprocess.run(
        [sys.executable, "-m", "console.cli.main", "-w", str(tmp_path / "shop"), "--json", "models", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["models"] == []
