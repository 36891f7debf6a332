"""What every command shares: the --workspace and --json options, error mapping, output helpers.

stdout carries data only (tables, JSON, scores); progress and diagnostics go to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from engine.errors import EXIT_INTERNAL, ShopctlError
from engine.infra.atomic import is_disk_full
from engine.workspace import WORKSPACE_ENV, Workspace, open_workspace, resolve_root

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar=WORKSPACE_ENV,
        help="Workspace folder (default: $SHOPCTL_WORKSPACE, else the current directory).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a machine-readable JSON result on stdout.")]


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


out = Console(no_color=_no_color(), soft_wrap=True, highlight=False)
err = Console(stderr=True, no_color=_no_color(), highlight=False)


def workspace_from(path: Path | None) -> Workspace:
    """Open the workspace a command was pointed at (errors name the folder and the fix)."""
    return open_workspace(path)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def print_json(payload: Any) -> None:
    """Write payload as JSON on stdout (one document, newline-terminated)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=_json_default, allow_nan=False) + "\n")
    sys.stdout.flush()


def sanitize(payload: Any) -> Any:
    """Replace NaN/inf floats with None so the JSON stays standard."""
    if isinstance(payload, float):
        return payload if payload == payload and payload not in (float("inf"), float("-inf")) else None
    if isinstance(payload, dict):
        return {key: sanitize(value) for key, value in payload.items()}
    if isinstance(payload, list | tuple):
        return [sanitize(value) for value in payload]
    return payload


def emit(payload: Any, as_json: bool, human: Callable[[], None] | None = None) -> None:
    """Print a command's result: JSON when asked, else the human rendering."""
    if as_json or human is None:
        print_json(sanitize(payload))
    else:
        human()


def info(message: str) -> None:
    """A diagnostic line on stderr (never on stdout)."""
    err.print(message)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line on stderr and return the Exit to raise."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"error: {one_line}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def _disk_full_message(error: BaseException, workspace: Path | None) -> str:
    """Say the disk is full and where: the file being written, else the workspace folder."""
    filename = getattr(error, "filename", None)
    where = (
        f"while writing {filename}" if filename else f"on the drive of workspace {resolve_root(workspace)}"
    )
    return f"disk full {where}: free some space and run again; nothing was half-written"


def guarded(function: F) -> F:
    """Turn user errors into one stderr line and exit 2 (4 when busy); never a traceback unless SHOPCTL_DEBUG."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except ShopctlError as error:
            raise fail(str(error), error.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing half-written was kept", 130) from None
        except OSError as error:
            if os.environ.get("SHOPCTL_DEBUG"):
                raise
            if is_disk_full(error):
                raise fail(_disk_full_message(error, kwargs.get("workspace"))) from None
            where = f" ({error.filename})" if getattr(error, "filename", None) else ""
            raise fail(f"{error.strerror or error}{where}") from None
        except Exception as error:  # noqa: BLE001 - the last line of defence for the user's terminal
            if os.environ.get("SHOPCTL_DEBUG"):
                raise
            if is_disk_full(error):  # e.g. polars reports ENOSPC as a ComputeError
                raise fail(_disk_full_message(error, kwargs.get("workspace"))) from None
            raise fail(
                f"internal error: {type(error).__name__}: {error} (run with SHOPCTL_DEBUG=1 for a traceback)",
                EXIT_INTERNAL,
            ) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr when stderr is a TTY; yields advance(n, total=None). Silent otherwise.

    `total` lets the engine's own count of steps set the bar's length as it reports (None keeps it)."""
    if not err.is_terminal:
        yield lambda _n=1, total=None: None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1, total: float | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, n)

        yield advance
