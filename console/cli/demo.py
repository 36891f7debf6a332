"""`shopctl demo`: build a whole demo shop (events → features → models → scores → monitoring) and summarise it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from console.cli.common import JsonOption, WorkspaceOption, emit, err, fail, guarded, info, out
from engine.demo import DEFAULT_ROOT, run_demo
from engine.infra.durations import parse_days
from engine.workspace import WORKSPACE_ENV

SHOWN_METRICS = {"binary": ("roc_auc", "pr_auc", "log_loss"), "regression": ("rmse", "mae", "r2")}


def _number(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def _scientific(value: Any) -> str:
    return f"{value:.1e}" if isinstance(value, int | float) else "-"


def _progress_printer() -> Any:
    """Progress lines on stderr (a live spinner on a TTY, plain lines otherwise)."""
    if not err.is_terminal:
        return lambda message, done, total: info(f"[{done}/{total}] {message}")
    status = err.status("starting the demo")
    status.start()

    def update(message: str, done: int, total: int) -> None:
        status.update(f"[{done}/{total}] {message}")

    update.stop = status.stop  # type: ignore[attr-defined]
    return update


def _render(summary: dict[str, Any]) -> None:
    verb = "reused" if summary["reused"] else "created"
    out.print(
        f"[bold]shopctl demo[/bold] · workspace {summary['workspace']} ({verb}) · {summary['seconds']}s"
    )
    events = summary["events"]
    out.print(
        f"events: {events['rows_read']:,} read · {events['rows_stored']:,} stored · "
        f"{events['rows_duplicate']:,} duplicates · {events['rows_quarantined']:,} quarantined"
    )
    for name, model in summary["models"].items():
        metric_names = SHOWN_METRICS.get(str(model.get("task")), SHOWN_METRICS["binary"])
        action = (
            f"new version v{model['version']}"
            if model["action"] == "trained"
            else f"skipped ({model.get('reason')})"
        )
        selection = model.get("selection") or {}
        cross_validated = selection.get("method") == "cv"
        table = Table(
            "candidate",
            *[f"test {m}" for m in metric_names],
            *(["cv mean ± sd"] if cross_validated else []),
            title=f"{name} → champion v{model.get('champion')} · {action}",
            title_justify="left",
        )
        for candidate, metrics in (model.get("candidates") or {}).items():
            test = metrics.get("test") or {}
            chosen = " ✓ chosen" if candidate == model.get("chosen") else ""
            cv = [f"{_number(metrics.get('cv_mean'), 3)} ± {_number(metrics.get('cv_sd'), 3)}"]
            table.add_row(
                candidate + chosen,
                *[_number(test.get(m)) for m in metric_names],
                *(cv if cross_validated else []),
            )
        out.print(table)
        if selection.get("reason"):
            out.print(f"  chosen: {selection['reason']}", markup=False)
        out.print(
            f"  ONNX parity with scikit-learn: max |diff| {_scientific(model.get('parity_max_abs_diff'))}"
        )
    scoring = summary["scoring"]
    out.print(
        f"scoring: {scoring['rows']:,} sessions with {scoring['model']} v{scoring['version']} in "
        f"{scoring['seconds']:.2f}s ({scoring['rows_per_second']:,} rows/s) → {scoring['output']}"
    )
    monitoring = summary["monitoring"]
    if monitoring.get("ran"):
        checks = ", ".join(f"{c['name']} {str(c['status']).upper()}" for c in monitoring["checks"])
        alerts = monitoring["alerts"]
        out.print(f"monitoring ({monitoring['window']}): {str(monitoring['status']).upper()} · {checks}")
        out.print(
            f"  {len(alerts)} alert(s) open"
            + "".join(f"\n  - {a['severity']}: {a['message']}" for a in alerts)
        )
    else:
        out.print(f"monitoring: not run ({monitoring.get('reason')})")
    where = Table("what", "where", title="where things are", title_justify="left")
    for key, path in summary["paths"].items():
        where.add_row(key, path)
    out.print(where)
    out.print("[bold]try next[/bold]")
    for line in summary["next"]:
        out.print(f"  {line}", markup=False)


def _open_console(root: str) -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()) or os.environ.get("TERM") == "dumb":
        raise fail(f"--tui needs an interactive terminal; open it later with `shopctl tui -w {root}`")
    from console.tui.app import make_app

    app = make_app(root)
    app.run(mouse=app.settings.ui.mouse)


@guarded
def demo(
    directory: Annotated[
        Path | None, typer.Argument(help=f"Folder for the demo workspace (default: ./{DEFAULT_ROOT}).")
    ] = None,
    days: Annotated[
        str, typer.Option("--days", help="Shop activity to simulate: 60, 60d or 8w (bare number: days).")
    ] = "60",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same shop).")] = 7,
    open_tui: Annotated[bool, typer.Option("--tui", help="Open the console when the demo is ready.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build a demo shop from nothing: simulate, ingest, train, register, score and monitor (re-running is safe).

    Example: shopctl demo --days 60 --seed 7 && shopctl tui -w shopctl-demo
    """
    # --workspace counts only when given on the command line: $SHOPCTL_WORKSPACE is a real shop, not a demo.
    from_environment = workspace is not None and str(workspace) == os.environ.get(WORKSPACE_ENV)
    root = directory or (None if from_environment else workspace) or Path(DEFAULT_ROOT)
    progress = _progress_printer()
    try:
        summary = run_demo(root, days=parse_days(days, source="--days"), seed=seed, progress=progress)
    finally:
        getattr(progress, "stop", lambda: None)()
    emit(summary, as_json, lambda: _render(summary))
    if open_tui:
        _open_console(summary["workspace"])


def register(app: typer.Typer) -> None:
    """Add `shopctl demo` to the root app."""
    app.command("demo", rich_help_panel="Start here")(demo)
