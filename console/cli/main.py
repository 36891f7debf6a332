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


def _flags_show_no_value() -> None:
    """typer 0.29 prints `<bool>` after every flag in --help (`--json <bool>`), which reads as if the flag took a
    value; a flag (an option without a value) shows no type, as click and argparse print them."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_shopctl_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: typer.Context) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    display_type_rich._shopctl_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_value()

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
    "segments",  # segments build, show
    "funnel",  # funnel, paths
    "basket",  # basket
    "recommend",  # recommend
    "forecast",  # forecast
    "experiment",  # experiment
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


GLOBAL_FLAGS = ("--json",)
GLOBAL_VALUE_OPTIONS = ("-w", "--workspace")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move `-w DIR`, `--workspace DIR` and `--json` given before the command to after it.

    People who use `git -C DIR` or `kubectl -n NS` write `shopctl -w shop models list`; every command takes
    these options, so they are passed on to it (before a `--`, if there is one, so they stay options).
    """
    hoisted: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token in GLOBAL_FLAGS:
            hoisted.append(token)
            index += 1
        elif token in GLOBAL_VALUE_OPTIONS and index + 1 < len(args):
            hoisted += [token, args[index + 1]]
            index += 2
        elif token.startswith("--workspace=") or (
            token.startswith("-w") and len(token) > 2 and token[2] != "-"
        ):
            hoisted.append(token)
            index += 1
        else:
            break
    if not hoisted or index == len(args):
        return list(args)
    rest = list(args[index:])
    cut = rest.index("--") if "--" in rest else len(rest)
    return rest[:cut] + hoisted + rest[cut:]


def main() -> None:
    """Console-script entry point: usage errors become one stderr line and exit 2, like input errors."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer vendors click

    try:
        code = app(args=hoist_global_options(sys.argv[1:]), standalone_mode=False)
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
