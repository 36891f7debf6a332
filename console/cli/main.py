"""The `shopctl` entry point: the root Typer app, joined from one module per command group."""

from __future__ import annotations

import importlib
import sys

import typer

from engine import __version__

EXIT_CODES_HELP = (
    "Exit codes: 0 ok · 1 internal error · 2 usage or input error (one line on stderr) · "
    "3 monitoring alert at or above --fail-on · 4 workspace busy (a lock is held)."
)

app = typer.Typer(
    name="shopctl",
    help=(
        "shopctl: an operations console for the machine-learning models that run an online shop.\n\n"
        "Ingest event logs, build features, train and export models to ONNX, score batches, monitor data "
        "quality, drift, accuracy and conversion KPIs, and retrain safely. Start with `shopctl demo`."
    ),
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module exposes register(app); the order here is the order of `shopctl --help`.
COMMAND_MODULES = (
    "workspace",  # init, config
    "demo",  # demo
    "ingest",  # ingest, data
    "simulate",  # simulate
    "features",  # features
    "train",  # train
    "models",  # models
    "score",  # score
    "monitor",  # monitor, alerts, report
    "daemon",  # daemon, retrain
    "tui",  # tui
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shopctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """shopctl root command."""


for module_name in COMMAND_MODULES:
    importlib.import_module(f"console.cli.{module_name}").register(app)


def _usage_error_line(error: Exception) -> str:
    """One line for a usage error (bad option value, missing argument), pointing at the command's --help."""
    message = " ".join(str(error.format_message()).split())  # type: ignore[attr-defined]
    context = getattr(error, "ctx", None)
    where = f" (see `{context.command_path} --help`)" if context is not None else ""
    return f"error: {message}{where}\n"


def main() -> None:
    """Console-script entry point: usage errors become one stderr line and exit 2, like input errors."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer vendors click

    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as error:
        sys.stdout.write(error.ctx.get_help() + "\n" if error.ctx is not None else "")
        code = 0
    except ClickException as error:
        sys.stderr.write(_usage_error_line(error))
        code = error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
