"""`shopctl train`: train the candidates for a task or a table, export the best to ONNX and register it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from console.cli.common import (
    JsonOption,
    WorkspaceOption,
    emit,
    err,
    guarded,
    info,
    out,
    progress,
    workspace_from,
)
from engine.infra.durations import parse_days


@guarded
def train_command(
    task: Annotated[
        str,
        typer.Argument(
            metavar="TASK|NAME",
            help=(
                "Task (conversion, repurchase, churn, spend, order_risk, recommendations), "
                "or the model name when --table is given."
            ),
            show_default=False,
        ),
    ],
    table: Annotated[
        Path | None,
        typer.Option("--table", help="Pre-built table (CSV or Parquet) to train on instead of a task."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Label column of --table (true/false, yes/no, 1/0, or a number)."),
    ] = None,
    candidates: Annotated[
        str | None,
        typer.Option(
            "--candidates", help="Comma-separated subset of logistic,hgb,mlp,stack (default: config)."
        ),
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option("--cutoff", help="User-table cutoff date YYYY-MM-DD (repurchase, churn, spend)."),
    ] = None,
    horizon: Annotated[
        str | None,
        typer.Option(
            "--horizon",
            help="Label horizon after --cutoff: 30, 30d or 4w (a bare number is days; default: config).",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Register under this name (default: the task name).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="recommendations: train on events before this date, YYYY-MM-DD (default: all)."
        ),
    ] = None,
    no_promote: Annotated[
        bool, typer.Option("--no-promote", help="Register the version without making it the champion.")
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train logistic, HGB, MLP and stacked candidates, choose one (CV on small tables), register its ONNX file.

    Example: shopctl train shoppers --table online_shoppers_intention.csv --target Revenue
    """
    from engine.clock import operator
    from engine.train.run import train_and_register  # polars, numpy: loaded when it runs

    ws = workspace_from(workspace)
    model_name = name or task
    what = f"table {table} (target {target})" if table is not None else f"task {task}"
    if err.is_terminal:  # scripts and tests get exactly one stderr line when something fails
        info(f"training {model_name} on {what} ...")
    with progress(f"training {model_name}") as advance:
        state = {"done": 0}

        def report(_message: str, done: int, total: int) -> None:  # the engine counts the steps
            advance(max(0, done - state["done"]), total=total)
            state["done"] = done

        if task == "recommendations" and table is None:  # its own trainer: interactions, not a table
            from engine.train.recommendations import train_recommendations

            payload = train_recommendations(
                ws, model_name, as_of=as_of, promote=not no_promote, who=operator("cli"), progress=report
            )
            emit(payload, as_json, lambda: _print_recommendations(payload))
            return
        if task == "order_risk":  # its own trainer: detectors, and classifiers when --target labels the table
            from engine.train.order_risk import train_order_risk

            payload = train_order_risk(
                ws,
                model_name,
                table=table,
                target=target,
                promote=not no_promote,
                who=operator("cli"),
                progress=report,
            )
            emit(payload, as_json, lambda: _print_order_risk(payload))
            return
        payload = train_and_register(
            ws,
            model_name,
            task=None if table is not None else task,
            table=table,
            target=target,
            candidates=candidates,
            cutoff=cutoff,
            horizon_days=None if horizon is None else parse_days(horizon, source="--horizon"),
            promote=not no_promote,
            who=operator("cli"),
            progress=report,
        )
    emit(payload, as_json, lambda: _print_summary(payload))


def _format(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "-"


def _print_summary(payload: dict[str, Any]) -> None:
    binary = payload["task"] == "binary"
    columns = (
        ("roc_auc", "pr_auc", "f1", "log_loss", "brier") if binary else ("mae", "rmse", "r2", "spearman")
    )
    out.print(
        f"registered {payload['name']} v{payload['version']} ({payload['model']}"
        f"{', champion' if payload['promoted'] else ''}); ONNX parity max |diff| "
        f"{payload['parity_max_abs_diff']:.2e}"
    )
    if binary:
        out.print(f"decision threshold (F1-optimal on validation): {payload['threshold']:.4f}")
    cross_validated = payload.get("selection") == "cv"
    cv_header = f"  cv {payload.get('selection_metric')} mean ± sd" if cross_validated else ""
    out.print(f"{'candidate':<10} {'part':<10} " + " ".join(f"{column:>9}" for column in columns) + cv_header)
    for candidate, scores in payload["candidates"].items():
        marker = "*" if candidate == payload["model"] else " "
        for part in ("validation", "test"):
            row = " ".join(f"{_format(scores[part].get(column)):>9}" for column in columns)
            cv = ""
            if cross_validated and part == "validation":
                cv = f" {_format(scores.get('cv_mean')):>7} ± {_format(scores.get('cv_sd'))}"
            out.print(f"{marker}{candidate:<9} {part:<10} {row}{cv}")
    for baseline, scores in (payload.get("baselines") or {}).items():
        for part in ("validation", "test"):
            if scores.get(part) is None:
                out.print(f" {baseline:<9} {part:<10} (not fitted: too few customers)")
                continue
            row = " ".join(f"{_format(scores[part].get(column)):>9}" for column in columns)
            out.print(f" {baseline:<9} {part:<10} {row}  (baseline, not registered)")
    if payload.get("selection_reason"):
        out.print(f"chosen: {payload['selection_reason']}")
    info(f"next: shopctl models show {payload['name']}   or   shopctl score {payload['name']} FILE")


def _print_order_risk(payload: dict[str, Any]) -> None:
    out.print(
        f"registered {payload['name']} v{payload['version']} ({payload['model']}"
        f"{', champion' if payload['promoted'] else ''}); ONNX parity max |diff| "
        f"{payload['parity_max_abs_diff']:.2e}"
    )
    out.print(
        f"review threshold {payload['threshold']:.4f} (flags about {payload['review_rate']:.1%} of orders); "
        "score: higher = riskier"
    )
    out.print(f"{'candidate':<17} {'part':<10} {'roc_auc':>9} {'pr_auc':>9}")
    for candidate, scores in payload["candidates"].items():
        marker = "*" if candidate == payload["model"] else " "
        for part in ("validation", "test"):
            row = " ".join(f"{_format(scores[part].get(column)):>9}" for column in ("roc_auc", "pr_auc"))
            out.print(f"{marker}{candidate:<16} {part:<10} {row}")
    out.print(f"chosen: {payload['selection_reason']}")
    info(f"next: shopctl score {payload['name']} --input data/features/orders.parquet --output risk.parquet")


def _print_recommendations(payload: dict[str, Any]) -> None:
    columns = (
        "hit_rate_at_10",
        "ndcg_at_10",
        "recall_at_20",
        "map_at_10",
        "coverage",
        "gini",
        "fallback_share",
    )
    out.print(
        f"registered {payload['name']} v{payload['version']} ({payload['model']}"
        f"{', champion' if payload['promoted'] else ''}); {payload['users']:,} users x {payload['items']:,} items; "
        f"ONNX parity max |diff| {payload['parity_max_abs_diff']:.2e}"
    )
    out.print(f"{'candidate':<11} {'part':<10} " + " ".join(f"{column[:10]:>10}" for column in columns))
    for candidate, scores in payload["candidates"].items():
        marker = "*" if candidate == payload["model"] else " "
        for part in ("validation", "test"):
            row = " ".join(f"{_format(scores[part].get(column)):>10}" for column in columns)
            out.print(f"{marker}{candidate:<10} {part:<10} {row}")
    if payload.get("blend"):
        out.print(
            "fused blend (fitted on validation): "
            + ", ".join(f"{k} {v:g}" for k, v in payload["blend"].items())
        )
    info(f"next: shopctl recommend --user USER_ID --model {payload['name']}")


def register(app: typer.Typer) -> None:
    """Add `train` to the root app."""
    app.command("train", rich_help_panel="Models")(train_command)
