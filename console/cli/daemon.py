"""`shopctl daemon start|stop|status|run-now` and `shopctl retrain`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from

daemon_app = typer.Typer(
    help="Run the scheduled jobs of config.toml [schedule] and look after them.", no_args_is_help=True
)


@daemon_app.command("start")
@guarded
def start(
    workspace: WorkspaceOption = None,
    foreground: Annotated[
        bool,
        typer.Option("--foreground", "-f", help="Run in this process, log to stderr (systemd, containers)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Start the scheduler daemon (detached, logging to state/logs/daemon.log, unless --foreground).

    Example: shopctl daemon start -w shopctl-demo
    """
    ws = workspace_from(workspace)
    if foreground:
        from engine.scheduling.__main__ import configure_logging
        from engine.scheduling.daemon import run_foreground

        configure_logging()
        info(f"daemon running in the foreground for {ws.root}; stop with Ctrl-C or SIGTERM")
        code = run_foreground(ws)
        raise typer.Exit(code)
    from engine.scheduling import start_background

    payload = start_background(ws)

    def human() -> None:
        out.print(f"daemon started (pid {payload['pid']}), log: {payload['log']}")
        info("see it work: shopctl daemon status")

    emit(payload, as_json, human)


@daemon_app.command("stop")
@guarded
def stop(
    workspace: WorkspaceOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for running jobs to finish.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Stop the daemon: SIGTERM, then wait until its running jobs finished and it exited.

    Example: shopctl daemon stop -w shopctl-demo
    """
    from engine.scheduling import stop_daemon

    payload = stop_daemon(workspace_from(workspace), timeout=timeout)

    def human() -> None:
        if payload["stopped"]:
            out.print(f"daemon stopped (pid {payload['pid']})")
        else:
            out.print("daemon not running")

    emit(payload, as_json, human)


def _short(moment: Any) -> str:
    """A UTC time as 'MM-DD HH:MM:SS' (the table header says UTC), or '-'."""
    if not moment:
        return "-"
    text = str(moment).replace("T", " ")
    return text[5:19] if len(text) >= 19 else text


@daemon_app.command("status")
@guarded
def status(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Show whether the daemon runs, each job's trigger, next run and last run.

    Example: shopctl daemon status --json
    """
    from engine.scheduling import daemon_status

    payload = daemon_status(workspace_from(workspace))

    def human() -> None:
        from rich.table import Table

        if payload["running"]:
            out.print(
                f"daemon RUNNING  pid {payload['pid']}  since {_short(payload['started'])} UTC  "
                f"heartbeat {_short(payload['heartbeat'])} UTC"
            )
        else:
            out.print("daemon NOT RUNNING (start it with `shopctl daemon start`)")
        table = Table(box=None, pad_edge=False)
        for column in ("job", "trigger", "next run UTC", "last run UTC", "status"):
            table.add_column(column, no_wrap=True)
        errors = []
        for job in payload["jobs"]:
            last = job["last_run"] or {}
            table.add_row(
                job["id"],
                job["trigger"],
                _short(job["next_run"]) if job["enabled"] else "disabled",
                _short(last.get("start")),
                (last.get("status") or "never").upper(),
            )
            if last.get("error"):
                errors.append(f"{job['id']}: {last['error']}")
        out.print(table)
        for line in errors:
            out.print(line, markup=False)

    emit(payload, as_json, human)


@daemon_app.command("run-now")
@guarded
def run_now(
    job: Annotated[str, typer.Argument(help="Job id from config.toml [schedule.jobs.<id>].")],
    workspace: WorkspaceOption = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the daemon has started the run.")
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Give up waiting for the run after this many seconds.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a job at once: through the running daemon, or in this process when none runs. Exit 1 if it failed.

    Example: shopctl daemon run-now monitor -w shopctl-demo
    """
    from engine.scheduling import run_job_now

    run = run_job_now(workspace_from(workspace), job, wait=not no_wait, timeout=timeout)

    def human() -> None:
        where = "by the daemon" if run.get("via") == "daemon" else "in this process"
        out.print(f"job {job}: run {run.get('id')} {str(run.get('status', '')).upper()} ({where})")
        if run.get("error"):
            info(f"error: {run['error']}")

    emit(run, as_json, human)
    if run.get("status") in ("failed", "interrupted"):
        raise typer.Exit(1)


@guarded
def retrain(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    workspace: WorkspaceOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the decision; change nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Promote the challenger regardless (recorded as forced).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Train a challenger on the newest data and promote it only if it beats the champion on held-out data.

    Example: shopctl retrain conversion --dry-run
    """
    from engine.clock import operator
    from engine.train.retrain import retrain as run_retrain

    result = run_retrain(
        workspace_from(workspace), name, dry_run=dry_run, force=force, who=operator("cli")
    ).to_dict()

    def human() -> None:
        metric = result.get("metric", "")
        champion = result.get("champion") or {}
        challenger = result.get("challenger") or {}
        out.print(f"{name}: {result['decision'].upper()}{' (dry run)' if dry_run else ''}")
        out.print(
            f"  champion   v{champion.get('version', '-')}  {metric} {_metric(champion.get('metrics', {}), metric)}"
        )
        out.print(
            f"  challenger v{challenger.get('version') or '-'}  {metric} {_metric(challenger.get('metrics', {}), metric)}"
        )
        for reason in result.get("reasons", []):
            out.print(f"  - {reason}")

    emit(result, as_json, human)


def _metric(metrics: dict[str, Any], metric: str) -> str:
    value = metrics.get(metric)
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def register(app: typer.Typer) -> None:
    """Add `daemon` and `retrain` to the root app."""
    app.add_typer(daemon_app, name="daemon", rich_help_panel="Operations")
    app.command("retrain", rich_help_panel="Operations")(retrain)
