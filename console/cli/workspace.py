"""`shopctl init` and `shopctl config show|check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from
from engine.workspace import init_workspace

config_app = typer.Typer(help="Show or check the workspace configuration.", no_args_is_help=True)


@guarded
def init(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to create (default: the workspace option, else .)")
    ] = None,
    workspace: WorkspaceOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing config.toml with the default.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a workspace: config.toml, data/, registry/, state/.

    Example: shopctl init ./myshop
    """
    ws, created = init_workspace(directory or workspace, force=force)
    payload = {"workspace": str(ws.root), "config": str(ws.config_path), "config_created": created}

    def human() -> None:
        verb = "created" if created else "kept existing"
        out.print(f"workspace {ws.root} ready ({verb} config.toml)")
        info(f"next: shopctl ingest FILE -w {ws.root}   or   shopctl demo")

    emit(payload, as_json, human)


@config_app.command("show")
@guarded
def config_show(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Print the effective configuration of a workspace (defaults filled in).

    Example: shopctl config show --json
    """
    data = workspace_from(workspace).settings.to_dict()

    def human() -> None:
        import tomllib  # noqa: F401 - documents that the output round-trips through tomllib

        out.print(_to_toml(data), markup=False)

    emit(data, as_json, human)


@config_app.command("check")
@guarded
def config_check(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Validate config.toml: unknown keys and wrong types are errors naming the key.

    Example: shopctl config check -w ./myshop
    """
    ws = workspace_from(workspace)
    notes = ws.settings.notes
    for note in notes:
        info(escape(f"{ws.config_path}: {note}"))
    emit(
        {"config": str(ws.config_path), "valid": True, "notes": notes},
        as_json,
        lambda: out.print(f"{ws.config_path}: OK"),
    )


def _toml_value(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        return '""'
    return json.dumps(str(value))


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


def _to_toml(data: dict, prefix: str = "") -> str:
    """Render nested plain data as TOML: scalars first, then sub-tables (enough for our config)."""
    lines: list[str] = []
    tables: list[tuple[str, dict]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()) and prefix:
            tables.append((key, value))
        elif isinstance(value, dict) and not prefix:
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, table in tables:
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        lines.append("")
        lines.append(f"[{name}]")
        lines.append(_to_toml(table, name))
    return "\n".join(line for line in lines).strip("\n")


def register(app: typer.Typer) -> None:
    app.command("init", rich_help_panel="Workspace")(init)
    app.add_typer(config_app, name="config", rich_help_panel="Workspace")
