"""`shopctl tui`: the terminal console (Textual), refused with a hint where it cannot work."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from typing import TextIO

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, fail, guarded, workspace_from


def terminal_problem(stdin: TextIO, stdout: TextIO, environ: Mapping[str, str]) -> str | None:
    """Why a full-screen console cannot run here, or None when it can."""
    if not (stdin.isatty() and stdout.isatty()):
        return (
            "shopctl tui needs an interactive terminal (stdin and stdout are not a TTY); "
            "in scripts use `shopctl tui --json` or `shopctl report`, over ssh use `ssh -t`"
        )
    if environ.get("TERM", "") == "dumb":
        return (
            "shopctl tui cannot draw on TERM=dumb; set TERM (e.g. xterm-256color) or use `shopctl tui --json`"
        )
    return None


@guarded
def tui(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Open the live console: overview, drift, KPIs, alerts, models and jobs.

    F2-F7 (or 1-6) switch screens, ? lists every key with its CLI equivalent, ctrl+p opens the command
    palette, q quits. With --json, print the overview read model once instead (no terminal needed).

    Example: shopctl tui -w ./shopctl-demo
    """
    ws = workspace_from(workspace)
    if as_json:
        from engine.dashboard import load_dashboard

        emit(dataclasses.asdict(load_dashboard(ws)), True)
        return
    problem = terminal_problem(sys.stdin, sys.stdout, os.environ)
    if problem:
        raise fail(problem, 2)
    from console.tui.app import make_app  # textual loads only when the console really opens

    app = make_app(ws)
    app.run(mouse=app.settings.ui.mouse)
    if app.return_code:
        raise typer.Exit(app.return_code)


def register(app: typer.Typer) -> None:
    """Add `shopctl tui` to the root app."""
    app.command("tui", rich_help_panel="Console")(tui)
