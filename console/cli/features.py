"""`shopctl features build`: write the point-in-time session and user tables next to the events."""

from __future__ import annotations

from typing import Annotated

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from

features_app = typer.Typer(help="Build the feature tables models train on.", no_args_is_help=True)


@features_app.command("build")
@guarded
def build(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Use only events before this date, YYYY-MM-DD (default: everything)."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build data/features/sessions.parquet (conversion) and users.parquet (repurchase, spend).

    Example: shopctl features build --as-of 2026-03-01 -w ./myshop
    """
    from engine.features import build_features  # polars: loaded when the command runs

    ws = workspace_from(workspace)
    info("building feature tables ...")
    result = build_features(ws, as_of=as_of)

    def human() -> None:
        sessions, users = result["sessions"], result["users"]
        rate = sessions["conversion_rate"]
        out.print(f"as of {result['as_of']}: {result['events']:,} events")
        out.print(
            f"sessions: {sessions['rows']:,} rows, conversion {rate:.2%} -> {sessions['path']}"
            if rate is not None
            else f"sessions: 0 rows -> {sessions['path']}"
        )
        repurchase = users["repurchase_rate"]
        share = f", repurchased {repurchase:.1%}" if repurchase is not None else ""
        out.print(
            f"users: {users['rows']:,} customers at cutoff {users['cutoff']} "
            f"(horizon {users['horizon_days']} days{share}) -> {users['path']}"
        )
        if users["horizon_shortened"]:
            info(
                f"note: the data is too short for a {users['configured_horizon_days']}-day horizon; "
                f"used {users['horizon_days']} days"
            )
        if "orders" in result:  # engine/features/orders.py
            orders = result["orders"]
            out.print(f"orders: {orders['rows']:,} orders of {orders['users']:,} users -> {orders['path']}")
        info(f"took {result['seconds']:.1f}s; next: shopctl train conversion")

    emit(result, as_json, human)


def register(app: typer.Typer) -> None:
    """Add the `features` group to the root app."""
    app.add_typer(features_app, name="features", rich_help_panel="Data")
