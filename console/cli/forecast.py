"""`shopctl forecast`: daily demand forecasts per series with prediction intervals, picked by a backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from
from engine.infra.durations import parse_days

METRICS_HELP = "orders, units, revenue or sessions"


def _print_forecast(payload: dict[str, Any]) -> None:
    by = f" by {payload['by']}" if payload["by"] else ""
    out.print(
        f"{payload['metric']}{by}: {payload['horizon_days']} days after {payload['as_of']}, "
        f"{payload['level']:.0%} intervals",
        markup=False,
    )
    out.print(
        f"{'series':<20} {'model':<14} {'MAE':>9} {'MASE':>5} {'vs naive':>8}  {'next day (95% band)':<24} 7 days",
        markup=False,
    )
    chosen = {row["series"]: row for row in payload["backtest"] if row["chosen"]}
    naive = {row["series"]: row for row in payload["backtest"] if row["model"] == "seasonal_naive"}
    for series in payload["series"]:
        row = chosen[series]
        points = [point for point in payload["forecasts"] if point["series"] == series]
        week = sum(point["value"] for point in points[:7])
        first = points[0]
        band = f"{first['value']:,.1f} ({first['lower']:,.1f}–{first['upper']:,.1f})"
        if row.get("mae") is None:
            figures = f"{'-':>9} {'-':>5} {'-':>8}"
        else:
            naive_mae = naive.get(series, {}).get("mae")
            ratio = f"{row['mae'] / naive_mae:>8.2f}" if naive_mae else f"{'-':>8}"
            figures = f"{row['mae']:>9.2f} {row['mase']:>5.2f} {ratio}"
        out.print(f"{series[:20]:<20} {row['model']:<14} {figures}  {band:<24} {week:,.1f}", markup=False)
        if row.get("reason"):
            info(f"{series}: {row['reason']}")
    for skipped in payload["skipped"]:
        info(f"{skipped['series']}: skipped, {skipped['reason']}")
    if payload["dropped_series"]:
        info(f"{len(payload['dropped_series'])} smaller series not forecast (the largest 25 are)")
    if payload.get("output"):
        info(f"wrote {len(payload['forecasts'])} forecast rows to {payload['output']}")
    info("stored: `shopctl monitor run` scores these forecasts as actuals land")


@guarded
def forecast_command(
    metric: Annotated[str, typer.Option("--metric", help=f"What to forecast: {METRICS_HELP}.")] = "orders",
    by: Annotated[
        str | None,
        typer.Option("--by", help="Split into one series per value of this column (e.g. category)."),
    ] = None,
    horizon: Annotated[
        str, typer.Option("--horizon", help="How far ahead: 28, 28d or 4w (a bare number is days).")
    ] = "28d",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Last day of actuals to use, YYYY-MM-DD (default: the last complete day)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the forecasts to .csv, .parquet or .jsonl."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Forecast daily orders, units, revenue or sessions per series, with 95% prediction intervals.

    Each series gets the model (seasonal naive, Holt-Winters ETS, Theta or their mean) with the lowest error in a
    rolling-origin backtest of 4 windows of the horizon; the forecasts are stored for `monitor run` to score.

    Example: shopctl forecast --metric revenue --by category --horizon 28d --json
    """
    from engine.forecast.series import check_metric

    check_metric(metric)
    days = parse_days(horizon, source="--horizon")
    from engine.clock import operator
    from engine.forecast.run import run_forecast

    payload = run_forecast(
        workspace_from(workspace),
        metric=metric,
        by=by,
        horizon=days,
        as_of=as_of,
        output=output,
        who=operator("cli"),
    )
    emit(payload, as_json, lambda: _print_forecast(payload))


def register(app: typer.Typer) -> None:
    """Add `forecast` to the root app."""
    app.command("forecast", rich_help_panel="Monitor")(forecast_command)
