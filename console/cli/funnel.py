"""`shopctl funnel` and `shopctl paths`: session funnels with their changes, and the paths sessions take."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f} pts"


def _print_block(block: dict[str, Any], title: str) -> None:
    out.print(f"{title}: {block['sessions']:,} sessions", markup=False)
    out.print(
        f"  {'step':<18} {'sessions':>10} {'step conv.':>11} {'95% CI':>15} {'overall':>8}", markup=False
    )
    for row in block["steps"]:
        low, high = row["step_ci"]
        out.print(
            f"  {row['step']:<18} {row['sessions']:>10,} {_pct(row['step_conversion']):>11} "
            f"{_pct(low) + '–' + _pct(high):>15} {_pct(row['overall_conversion']):>8}",
            markup=False,
        )
    if "changes" not in block:
        return
    out.print(
        f"  {'change':<26} {'now':>7} {'before':>7} {'change':>11} {'p-value':>8}  {'lost':>11}", markup=False
    )
    for change in block["changes"]:
        mark = "SIGNIFICANT" if change["significant"] else ""
        p_value = "-" if change["p_value"] is None else f"{change['p_value']:.3g}"
        lost = _points(change["conversion_lost"]) if change["conversion_lost"] is not None else "-"
        out.print(
            f"  {change['transition']:<26} {_pct(change['current']):>7} {_pct(change['previous']):>7} "
            f"{_points(change['change']):>11} {p_value:>8}  {lost:>11} {mark}",
            markup=False,
        )
    if block.get("drop_off_ranking"):
        out.print("  most conversion lost: " + ", ".join(block["drop_off_ranking"]), markup=False)


@guarded
def funnel_command(
    steps: Annotated[
        str | None,
        typer.Option(
            "--steps",
            help="Comma-separated steps: event types or your own event names "
            "(default view,cart,checkout,purchase, leaving out types the store has none of).",
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Also show the funnel per value of this dimension.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="First day, YYYY-MM-DD (UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day, included, YYYY-MM-DD.")] = None,
    compare_to: Annotated[
        str | None,
        typer.Option(
            "--compare-to",
            help="`previous` (the same number of days just before) or DATE..DATE; without --since the "
            "window is the last 7 days.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sessions reaching each step, step and overall conversion with 95% Wilson intervals, and what changed.

    A session reaches a step when it has an event of that step and of every step before it, in any order.

    Example: shopctl funnel --by device --compare-to previous -w ./myshop
    """
    from engine.analytics.funnel import funnel_report  # polars: loaded when the command runs

    ws = workspace_from(workspace)
    report = funnel_report(
        ws,
        steps=steps.split(",") if steps is not None else None,
        by=by,
        since=since,
        until=until,
        compare_to=compare_to,
    )

    def human() -> None:
        window = report["window"]
        against = report["compare_to"]
        compare = f" vs {against['since']}..{against['until']}" if against else ""
        out.print(f"funnel {window['since']}..{window['until']}{compare}", markup=False)
        _print_block(report["overall"], "all sessions")
        for segment in report["segments"]:
            _print_block(segment, f"{report['by']}={segment['segment']}")
        if report["skipped_steps"]:
            info(f"note: no {', '.join(report['skipped_steps'])} events in the store; step(s) left out")

    emit(report, as_json, human)


@guarded
def paths_command(
    top: Annotated[int, typer.Option("--top", help="How many of the most common paths to show.")] = 20,
    to: Annotated[
        str,
        typer.Option("--to", help="exit: whole sessions; purchase: purchasing sessions up to the purchase."),
    ] = "exit",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """The most common event-name paths (consecutive repeats collapsed), next-step transitions, where sessions end.

    Example: shopctl paths --top 10 --to purchase -w ./myshop
    """
    from engine.analytics.paths import paths_report  # polars: loaded when the command runs

    ws = workspace_from(workspace)
    report = paths_report(ws, top=top, to=to)

    def human() -> None:
        out.print(
            f"{report['sessions']:,} sessions ({report['distinct_paths']:,} distinct paths, to {report['to']})",
            markup=False,
        )
        for row in report["top_paths"]:
            out.print(f"  {row['sessions']:>9,} {_pct(row['share']):>7}  {row['path']}", markup=False)
        out.print("next step (share of the step's exits):", markup=False)
        by_source: dict[str, list[dict[str, Any]]] = {}
        for row in report["transitions"]:
            by_source.setdefault(row["from"], []).append(row)
        for source, rows in by_source.items():
            shown = ", ".join(f"{row['to']} {_pct(row['share'])}" for row in rows[:6])
            out.print(f"  {source:<20} -> {shown}", markup=False)
        out.print("sessions end at:", markup=False)
        for row in report["ends"][:10]:
            out.print(
                f"  {row['event_name']:<20} {row['sessions']:>9,} {_pct(row['share']):>7}", markup=False
            )

    emit(report, as_json, human)


def register(app: typer.Typer) -> None:
    """Add `funnel` and `paths` to the root app."""
    app.command("funnel", rich_help_panel="Analytics")(funnel_command)
    app.command("paths", rich_help_panel="Analytics")(paths_command)
