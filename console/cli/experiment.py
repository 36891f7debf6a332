"""`shopctl experiment analyze | plan | list | stop`: A/B tests read from a variant dimension on events."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from
from console.render.intervals import interval_bar, interval_scale

experiment_app = typer.Typer(
    help="A/B experiments: lift with intervals, SRM check, sequential tests, CUPED; test sizing.",
    no_args_is_help=True,
)

MONEY = ("revenue_per_session", "revenue_per_user", "average_order_value")


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if metric in MONEY else f"{value:.2%}"


def _lift(metric: str, value: float) -> str:
    return f"{value:+,.2f}" if metric in MONEY else f"{value * 100:+.2f} pp"


def _print_analysis(payload: dict[str, Any]) -> None:
    experiment = payload["experiment"]
    metric = experiment["metric"]
    sequential = experiment["sequential"]
    out.print(
        f"experiment on {experiment['dimension']!r}: {metric} by {experiment['unit']}, control "
        f"{experiment['control']}, sessions {experiment['first_session'][:10]} .. {experiment['last_session'][:10]}"
    )
    out.print(f"{'variant':<12}{'units':>10}{'sessions':>10}{'conv.':>8}{metric:>22}")
    for row in payload["variants"]:
        name = row["variant"] + (" (ctl)" if row["control"] else "")
        out.print(
            f"{name:<12}{row['units']:>10,}{row['sessions']:>10,}{row['conversions']:>8,}"
            f"{_value(metric, row['value']):>22}"
        )
    key = "sequential" if sequential else None
    triples = []
    for row in payload["comparisons"]:
        source = row[key] if key else row
        triples.append((source["relative_lower"], row["relative_lift"], source["relative_upper"]))
    axis = interval_scale(triples)
    interval_name = "always-valid" if sequential else f"{1 - experiment['alpha']:.0%}"
    out.print(f"relative lift vs {experiment['control']} ({interval_name} interval; | or ┼ marks zero)")
    for row, (low, mid, high) in zip(payload["comparisons"], triples, strict=True):
        status = "SIGNIFICANT" if row["significant"] else "not significant"
        out.print(
            f"  {row['variant']:<8}{interval_bar(low, mid, high, axis, 28)}  {mid:+.1%} [{low:+.1%}, {high:+.1%}]"
        )
        out.print(
            f"  {'':<8}abs {_lift(metric, row['absolute_lift'])}, p = {row['p_value']:.3g} ({row['test']}), "
            f"P(beat {row['control']}) = {row['chance_to_beat_control']:.1%}, expected loss "
            f"{row['expected_loss']:.3g}; {status}"
        )
    srm = payload["srm"]
    flag = "MISMATCH" if srm["mismatch"] else "ok"
    out.print(
        f"sample ratio ({srm['unit']}): p = {srm['p_value']:.3g} -> {flag} (flagged below {srm['threshold']})"
    )
    if payload["cuped"]:
        cuped = payload["cuped"]
        out.print(
            f"CUPED ({cuped['covariate']}, {cuped['pre_period_days']} days before): variance reduced by "
            f"{cuped['variance_reduction']:.1%} (theta {cuped['theta']:.3g})"
        )
    out.print(f"verdict: {payload['verdict']}")


@experiment_app.command("analyze")
@guarded
def analyze(
    dimension: Annotated[
        str,
        typer.Option(
            "--dimension", "-d", help="The event dimension that carries the variant (e.g. variant)."
        ),
    ],
    control: Annotated[
        str | None, typer.Option("--control", help="The control variant (default: the first name in order).")
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric", help="conversion_rate, revenue_per_session, revenue_per_user or average_order_value."
        ),
    ] = "conversion_rate",
    unit: Annotated[
        str,
        typer.Option("--unit", help="What was randomised: user (delta method over users) or session."),
    ] = "session",
    since: Annotated[
        str | None, typer.Option("--since", help="First day, YYYY-MM-DD (default: the first).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last day, YYYY-MM-DD, inclusive (default: the last).")
    ] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="Always-valid confidence sequences: safe to look every day.")
    ] = False,
    cuped: Annotated[
        bool, typer.Option("--cuped", help="Adjust with each user's pre-experiment conversions or spend.")
    ] = False,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    save: Annotated[
        bool,
        typer.Option(
            "--save/--no-save", help="Keep the experiment and result in the store (the daemon re-runs it)."
        ),
    ] = True,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare each variant with the control: lift with intervals, p-value, chance to beat, SRM and a verdict.

    Example: shopctl experiment analyze --dimension variant --control A --unit user --sequential
    """
    from engine.analytics.experiment_watch import record_analysis
    from engine.analytics.experiments import ExperimentQuery, analyze_experiment, parse_day

    ws = workspace_from(workspace)
    query = ExperimentQuery(
        dimension=dimension,
        control=control,
        metric=metric,
        unit=unit,
        since=parse_day(since, "--since"),
        until=parse_day(until, "--until"),
        sequential=sequential,
        cuped=cuped,
        alpha=alpha,
    )
    payload = analyze_experiment(ws, query)
    if save:
        payload["stored"] = record_analysis(ws, query, payload)
    emit(payload, as_json, lambda: _print_analysis(payload))


@experiment_app.command("plan")
@guarded
def plan(
    baseline: Annotated[float, typer.Option("--baseline", help="The control's conversion rate, e.g. 0.03.")],
    mde: Annotated[
        float, typer.Option("--mde", help="Smallest relative lift worth detecting, e.g. 0.1 = +10%.")
    ],
    power: Annotated[
        float, typer.Option("--power", help="Chance of detecting a true lift of that size.")
    ] = 0.8,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level (two-sided).")] = 0.05,
    variants: Annotated[int, typer.Option("--variants", help="Variants including the control.")] = 2,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sessions per variant to detect a lift, and days at the workspace's recent traffic when it has events.

    Example: shopctl experiment plan --baseline 0.03 --mde 0.1 --power 0.8
    """
    from engine.analytics.experiments import daily_sessions, plan_experiment
    from engine.errors import WorkspaceError

    per_day = None
    try:
        per_day = daily_sessions(workspace_from(workspace))
    except WorkspaceError:
        if workspace is not None:
            raise  # a workspace that was named must exist
        info("no workspace here: sizes only (give -w DIR for days at its traffic)")
    payload = plan_experiment(
        baseline, mde, power=power, alpha=alpha, variants=variants, sessions_per_day=per_day
    )

    def human() -> None:
        out.print(
            f"{payload['sessions_per_variant']:,} sessions per variant ({payload['sessions_total']:,} in all) to "
            f"detect {baseline:.2%} -> {payload['treated_rate']:.2%} ({mde:+.0%}) with power {power:.0%} at "
            f"alpha {alpha:g}"
        )
        if payload["days"] is not None:
            out.print(f"about {payload['days']} days at {payload['sessions_per_day']:,.0f} sessions a day")

    emit(payload, as_json, human)


@experiment_app.command("list")
@guarded
def list_command(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Experiments kept in the store with their latest verdict.

    Example: shopctl experiment list --json
    """
    from engine.analytics.experiment_watch import list_experiments

    experiments = list_experiments(workspace_from(workspace))

    def human() -> None:
        if not experiments:
            out.print("no experiments yet: run `shopctl experiment analyze --dimension variant`")
        for row in experiments:
            latest = row["latest"] or {}
            out.print(
                f"{row['id']:>3}  {row['status']:<8} {row['dimension']} {row['metric']} by {row['unit']}: "
                f"{latest.get('verdict', 'not analysed yet')}"
            )

    emit(experiments, as_json, human)


@experiment_app.command("stop")
@guarded
def stop(
    experiment_id: Annotated[int, typer.Argument(help="Experiment id (see `shopctl experiment list`).")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stop the daemon from re-analysing an experiment (its results stay).

    Example: shopctl experiment stop 1
    """
    from engine.analytics.experiment_watch import stop_experiment

    payload = stop_experiment(workspace_from(workspace), experiment_id)
    emit(payload, as_json, lambda: out.print(f"experiment {experiment_id} stopped"))


def register(app: typer.Typer) -> None:
    """Add the `experiment` group to the root app."""
    app.add_typer(experiment_app, name="experiment", rich_help_panel="Analytics")
