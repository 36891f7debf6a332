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
