"""`shopctl segments`: build and show customer segments (RFM scores, named segments, behavioural clusters)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from

segments_app = typer.Typer(
    help="Customer segments: RFM scores, named segments and behavioural clusters.", no_args_is_help=True
)


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


@segments_app.command("build")
@guarded
def build(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Use only events before this date, YYYY-MM-DD (its midnight UTC; default: every event).",
        ),
    ] = None,
    horizon: Annotated[
        str | None,
        typer.Option(
            "--horizon",
            help="Lifetime-value horizon after the as-of: 30, 30d or 39w (default: [features] horizon_days).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score every customer (recency, frequency, monetary), name their segment, cluster them, and write
    data/segments/segments.parquet plus a build summary in the store (re-running changes nothing).

    Example: shopctl segments build --as-of 1997-10-01 -w ./shop
    """
    from engine.customers.build import build_segments
    from engine.infra.durations import parse_days

    ws = workspace_from(workspace)
    horizon_days = None if horizon is None else parse_days(horizon, source="--horizon")
    info("building customer segments ...")
    result = build_segments(ws, as_of=as_of, horizon_days=horizon_days)

    def human() -> None:
        state = "written" if result["changed"] else "unchanged"
        out.print(
            f"as of {result['as_of']}: {result['users']:,} customers, {result['orders']:,} orders, "
            f"revenue {_money(result['revenue'])} -> {result['path']} ({state})"
        )
        _print_segments(result["segments"])
        clv = result["clv"]
        if clv["model"]:
            out.print(
                f"lifetime value (BG/NBD + Gamma-Gamma, next {clv['horizon_days']} days): "
                f"total {_money(clv['total'])}"
            )
        else:
            out.print("lifetime value: not fitted (fewer than 20 customers, or no finite fit)")
        tried = ", ".join(f"{k}: {value:.3f}" for k, value in result["silhouettes"].items()) or "-"
        out.print(f"clusters: k = {result['k']} (silhouette by k: {tried})")
        for cluster in result["clusters"]:
            out.print(
                f"  {cluster['cluster']}  {cluster['users']:>8,}  {cluster['share']:6.1%}  {cluster['description']}"
            )
        info(f"took {result['seconds']:.1f}s; next: shopctl segments show")

    emit(result, as_json, human)


def _print_segments(rows: list[dict[str, Any]]) -> None:
    out.print(
        f"{'segment':<19}{'users':>9}{'share':>8}{'recency':>9}{'orders':>8}{'spend':>11}"
        f"{'revenue':>9}{'rebuy':>8}"
    )
    for row in rows:
        out.print(
            f"{row['segment']:<19}{row['users']:>9,}{row['share']:>8.1%}{row['recency_days']:>8.0f}d"
            f"{row['frequency']:>8.2f}{_money(row['monetary']):>11}{row['revenue_share']:>9.1%}"
            f"{_rate(row['repurchase_rate']):>8}"
        )


@segments_app.command("show")
@guarded
def show(
    user: Annotated[str | None, typer.Option("--user", help="Show one customer's profile.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per segment of the newest build: users, share, mean recency/orders/spend, revenue share and (when the
    as-of is in the past) the share that bought again; or one customer's profile with --user.

    Example: shopctl segments show --user 00042 -w ./shop
    """
    from engine.customers.build import customer_profile, load_segments, segment_summary

    ws = workspace_from(workspace)
    if user is not None:
        profile = customer_profile(ws, user)

        def human_user() -> None:
            out.print(f"customer {profile['user_id']} as of {profile['as_of']}")
            out.print(
                f"  segment {profile['segment']}  (R {profile['r_score']} F {profile['f_score']} "
                f"M {profile['m_score']})"
            )
            out.print(
                f"  last order {profile['recency_days']} days ago · {profile['frequency']} orders · "
                f"spend {_money(profile['monetary'])} (average {_money(profile['avg_order_value'])})"
            )
            out.print(
                f"  sessions {profile['sessions']} · views/session {profile['views_per_session']:.1f} · "
                f"cart rate {profile['cart_rate']:.0%}"
            )
            if profile.get("clv") is not None:
                out.print(
                    f"  lifetime value next {profile['clv_horizon_days']} days {_money(profile['clv'])} · "
                    f"expected orders {profile['expected_orders']:.2f} · P(alive) {profile['p_alive']:.0%}"
                )
                # BG/NBD: without a repeat order there is no sign of having left (P(alive) is exactly 1)
                if profile["p_alive"] >= 1.0:
                    out.print(
                        "  (no repeat order on a later day yet: BG/NBD counts them alive; CLV falls with age)"
                    )
            else:
                out.print("  lifetime value: - (not fitted in this build)")
            out.print(f"  cluster {profile['cluster']}: {profile['cluster_description'] or '-'}")
            if profile["repurchased"] is not None:
                out.print(f"  bought again after the as-of: {'yes' if profile['repurchased'] else 'no'}")

        emit(profile, as_json, human_user)
        return
    summary = segment_summary(load_segments(ws))

    def human() -> None:
        out.print(f"as of {summary['as_of']}: {summary['users']:,} customers")
        _print_segments(summary["segments"])
        if not summary["future_known"]:
            info("rebuy: unknown (no events after the as-of); build with an earlier --as-of to measure it")

    emit(summary, as_json, human)


def register(app: typer.Typer) -> None:
    """Add the `segments` group to the root app."""
    app.add_typer(segments_app, name="segments", rich_help_panel="Models")
