"""`shopctl monitor run|history`, `shopctl alerts list|ack|deliver` and `shopctl report`."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, fail, guarded, info, out, workspace_from
from engine.errors import EXIT_ALERTS, InputError

monitor_app = typer.Typer(
    help="Check data quality, KPIs, drift and accuracy; read the history.", no_args_is_help=True
)
alerts_app = typer.Typer(
    help="List and acknowledge monitoring alerts; send the queued webhook and command deliveries.",
    no_args_is_help=True,
)


class FailOn(StrEnum):
    warning = "warning"
    critical = "critical"


class ReportFormat(StrEnum):
    text = "text"
    md = "md"
    json = "json"


def _status(status: str | None) -> str:
    from engine.monitoring.report import status_word

    return status_word(status)


def _print_run(payload: dict[str, Any]) -> None:
    from engine.monitoring.report import format_value

    window = payload["window"]
    partial = " (partial: data until " + window["data_end"] + ")" if window.get("partial") else ""
    out.print(
        f"{_status(payload['status'])}  window {window['start']} → {window['end']} ({window['length']})"
        f"{partial}  source {payload['source']}",
        markup=False,
    )
    if payload.get("backfill"):
        info("back-fill: a newer window was already monitored; figures stored, alerts left as they are")
    for check in payload["checks"]:
        counts = ", ".join(f"{n} {_status(s)}" for s, n in sorted(check["counts"].items()))
        out.print(f"  {_status(check['status']):<5} {check['name']:<12} {counts}", markup=False)
        for row in check["metrics"]:
            if row["status"] in ("warning", "critical"):
                baseline = (row.get("detail") or {}).get("baseline")
                extra = f" (baseline {format_value(row['metric'], baseline)})" if baseline is not None else ""
                out.print(
                    f"        {_status(row['status']):<5} {row['metric']} {row['scope']} = "
                    f"{format_value(row['metric'], row['value'])}{extra}",
                    markup=False,
                )
    for model in payload.get("models", []):
        if model.get("skipped"):
            info(f"model {model['name']}: skipped, {model['skipped']}")
    for error in payload.get("errors", []):
        info(f"warning: {error}")
    queued = (payload.get("deliveries") or {}).get("queued", 0)
    if queued:
        info(f"{queued} alert delivery(ies) still queued: the daemon sends them, or `shopctl alerts deliver`")
    out.print(f"open alerts: {len(payload['alerts'])}", markup=False)
    for alert in payload["alerts"]:
        out.print(
            f"  #{alert['id']} {_status(alert['severity'])} [{alert['state']}] {alert['message']}",
            markup=False,
        )


@monitor_app.command("run")
@guarded
def run(
    workspace: WorkspaceOption = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model to check (default: every champion).")
    ] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Window length: 1d, 7d, 12h (default: config).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="Exclusive window end; a date means its midnight UTC (default: the newest data)."
        ),
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Check this feature table (with optional label and score columns) instead of events.",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn | None,
        typer.Option("--fail-on", help="Exit 3 when an alert at or above this severity is open."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local, or spark: the --input batch's drift computed on Apache Spark (docs/spark.md). "
            "Default: [engine] engine (local).",
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option("--master", help="Spark master (local[2], spark://host:7077, yarn, k8s://...)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a window against the champion's reference profile and earlier runs, store it, raise alerts.

    Example: shopctl monitor run --window 1d --fail-on critical --json
    """
    from engine.monitoring.run import alerts_at_or_above, integrity_failures, run_monitor

    ws = workspace_from(workspace)
    chosen = engine or (
        "spark" if input_path is not None and ws.settings.engine.engine == "spark" else "local"
    )
    if master and chosen != "spark":
        raise InputError("--master applies to --engine spark only; add --engine spark")
    result = run_monitor(
        ws, model=model, window=window, at=at, input_path=input_path, engine=chosen, master=master
    )
    payload = result.to_dict()
    emit(payload, as_json, lambda: _print_run(payload))
    tampered = integrity_failures(result)
    if tampered:
        info(
            f"model(s) {', '.join(tampered)} failed the integrity check (critical alert): exit {EXIT_ALERTS}"
        )
        raise typer.Exit(EXIT_ALERTS)
    if fail_on is not None:
        failing = alerts_at_or_above(result, fail_on.value)
        if failing:
            info(f"{len(failing)} open alert(s) at or above {fail_on.value}: exit {EXIT_ALERTS}")
            raise typer.Exit(EXIT_ALERTS)


@monitor_app.command("history")
@guarded
def history(
    workspace: WorkspaceOption = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric name or glob, e.g. conversion_rate.")
    ] = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help="Scope or glob, e.g. 'segment:device=*'.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only windows ending after this date.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model's figures.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many newest rows.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """Show stored figures over time (estimated and realized rows side by side).

    Example: shopctl monitor history --metric conversion_rate --scope overall --since 2026-01-01
    """
    from engine.monitoring.report import change_text, format_value, metric_history

    rows = metric_history(
        workspace_from(workspace), metric=metric, scope=scope, since=since, model=model, limit=limit
    )

    def human() -> None:
        if not rows:
            info("no figures match; run `shopctl monitor run` first or widen --metric/--scope/--since")
            return
        for row in rows:
            baseline = (row.get("detail") or {}).get("baseline", (row.get("detail") or {}).get("reference"))
            band = ""
            if row["lower"] is not None and row["upper"] is not None:
                band = f" [{format_value(row['metric'], row['lower'])}, {format_value(row['metric'], row['upper'])}]"
            out.print(
                f"{row['window_end'][:16]}  {_status(row['status']):<4}  {row['metric']:<24} {row['scope']:<32} "
                f"{row['kind']:<9} {format_value(row['metric'], row['value']):>10}{band}  "
                f"{change_text(row['value'], baseline)}".rstrip(),
                markup=False,
            )

    emit(rows, as_json, human)


@alerts_app.command("list")
@guarded
def alerts_list(
    workspace: WorkspaceOption = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open and acknowledged alerts.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first.

    Example: shopctl alerts list --open
    """
    from engine.monitoring.alerts import list_alerts

    alerts = list_alerts(workspace_from(workspace), open_only=open_only)

    def human() -> None:
        if not alerts:
            info("no alerts" + (" open" if open_only else ""))
        for alert in alerts:
            out.print(
                f"#{alert.id:<4} {_status(alert.severity):<4} {alert.state:<12} "
                f"{alert.updated[:16]}  {alert.rule}: {alert.message}",
                markup=False,
            )

    emit([alert.to_dict() for alert in alerts], as_json, human)


@alerts_app.command("ack")
@guarded
def alerts_ack(
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see `shopctl alerts list`).")],
    workspace: WorkspaceOption = None,
    who: Annotated[
        str | None, typer.Option("--by", help="Who acknowledges (default: the login name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge an alert: it stays until its condition clears, but shows a person has seen it.

    Example: shopctl alerts ack 12 --by alice
    """
    from engine.clock import operator
    from engine.monitoring.alerts import acknowledge

    alert = acknowledge(workspace_from(workspace), alert_id, operator("cli", who))
    emit(
        alert.to_dict(),
        as_json,
        lambda: out.print(
            f"#{alert.id} {alert.state} by {alert.acknowledged_by}: {alert.message}", markup=False
        ),
    )


@alerts_app.command("deliver")
@guarded
def alerts_deliver(
    workspace: WorkspaceOption = None,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            help="Stop after this many seconds in all (default: [alerts] webhook_deadline_seconds).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send the queued webhook and command deliveries now; what the deadline leaves unsent stays queued.

    `monitor run` and the daemon do this on their own; this is for a cron job without the daemon, or to flush
    the queue after fixing an endpoint. Each delivery is sent at most once.

    Example: shopctl alerts deliver --deadline 30 --json
    """
    from engine.monitoring.sinks import drain_outbox

    if deadline is not None and not (math.isfinite(deadline) and 0 < deadline <= 3600):
        raise fail(f"--deadline {deadline:g}: give seconds above 0 and at most 3600, e.g. --deadline 30")
    summary = drain_outbox(workspace_from(workspace), deadline_seconds=deadline)
    emit(
        summary,
        as_json,
        lambda: out.print(
            f"{summary['delivered']} delivered, {summary['failed']} failed, {summary['queued']} still queued "
            f"({summary['attempts']} attempt(s))",
            markup=False,
        ),
    )


@guarded
def report(
    workspace: WorkspaceOption = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="text for a terminal, md for a ticket, json.")
    ] = ReportFormat.text,
    as_json: JsonOption = False,
) -> None:
    """Summarise the newest monitoring window: KPIs vs baseline, model health, data quality, open alerts.

    Example: shopctl report --format md > status.md
    """
    from engine.monitoring.report import build_report, render_report

    payload = build_report(workspace_from(workspace))
    if as_json or fmt is ReportFormat.json:
        emit(payload, True)
    else:
        out.print(render_report(payload, fmt.value), markup=False, end="")


def register(app: typer.Typer) -> None:
    """Add the monitor and alerts groups and the report command to the root app."""
    app.add_typer(monitor_app, name="monitor", rich_help_panel="Monitor")
    app.add_typer(alerts_app, name="alerts", rich_help_panel="Monitor")
    app.command("report", rich_help_panel="Monitor")(report)
