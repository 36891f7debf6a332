"""`shopctl models list|show|promote|rollback`: read and switch the model registry."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out, workspace_from

models_app = typer.Typer(help="List, inspect, promote and roll back registered models.", no_args_is_help=True)

WhyOption = Annotated[str, typer.Option("--why", help="Why the change is made (kept in the history).")]


def _who() -> str:
    from engine.clock import operator

    return operator("cli")


def _metric_text(metrics: dict[str, Any]) -> str:
    from engine.registry import HEADLINE_METRICS

    test = metrics.get("test") or metrics.get("validation") or {}
    shown = [f"{key} {test[key]:.3f}" for key in HEADLINE_METRICS if isinstance(test.get(key), int | float)]
    return " ".join(shown[:2]) or "-"


def _input_label(item: dict[str, Any]) -> str:
    """An input as `models show` lists it: its raw column, and the ONNX name when that differs."""
    column = item.get("column", item["name"])
    shown = column if column == item["name"] else f"{column} (ONNX {item['name']})"
    return f"{shown}:{item['dtype']}"


@models_app.command("list")
@guarded
def models_list(workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List every model with its champion and latest version.

    Example: shopctl models list -w ./shopctl-demo
    """
    from engine.registry import Registry

    registry = Registry(workspace_from(workspace))
    rows = []
    for name in registry.names():
        versions = registry.versions(name)
        champion = registry.champion(name)
        shown = registry.get(name, champion if champion is not None else versions[-1]).summary()
        rows.append({**shown, "champion": champion, "latest": versions[-1], "versions": versions})

    def human() -> None:
        from rich.table import Table

        if not rows:
            info("no models registered yet; train one with `shopctl train conversion` or run `shopctl demo`")
            return
        table = Table("model", "champion", "latest", "chosen", "test metrics", "created (UTC)")
        for row in rows:
            champion = f"v{row['champion']}" if row["champion"] is not None else "none"
            table.add_row(
                row["name"],
                champion,
                f"v{row['latest']}",
                str(row["chosen"] or "-"),
                _metric_text(row["metrics"]),
                str(row["created"] or "-")[:16].replace("T", " "),
            )
        out.print(table)

    emit({"models": rows}, as_json, human)


@models_app.command("show")
@guarded
def models_show(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Argument(help="Version (default: the champion).")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one version's metadata (metrics of every candidate, parity, inputs) and the model's history.

    Example: shopctl models show conversion 2
    """
    from engine.registry import Registry

    registry = Registry(workspace_from(workspace))
    model_version = registry.get(name, version)
    metadata = model_version.metadata
    payload = {
        **model_version.summary(),
        "champion": registry.champion(name),
        "versions": registry.versions(name),
        "metadata": metadata,
        "history": registry.history(name),
    }

    def human() -> None:
        from rich.table import Table

        champion = payload["champion"]
        marker = " (champion)" if champion == model_version.version else ""
        out.print(f"[bold]{name} v{model_version.version}[/bold]{marker}  {model_version.folder}")
        out.print(
            f"task {metadata.get('task')} · target {metadata.get('target')} · rows {metadata.get('rows')} · "
            f"chosen {metadata.get('chosen')} · parity max |diff| {metadata.get('parity_max_abs_diff')}"
        )
        out.print(
            f"created {metadata.get('created')} by {metadata.get('created_by')} · sha256 {metadata.get('sha256')}"
        )
        candidates = metadata.get("candidates") or {}
        if candidates:
            metric_names = sorted({key for c in candidates.values() for key in (c.get("test") or {})})[:5]
            table = Table("candidate", *[f"test {m}" for m in metric_names], title="candidates")
            for candidate, metrics in candidates.items():
                test = metrics.get("test") or {}
                table.add_row(
                    candidate + (" ✓" if candidate == metadata.get("chosen") else ""),
                    *[
                        f"{test[m]:.4f}" if isinstance(test.get(m), int | float) else "-"
                        for m in metric_names
                    ],
                )
            out.print(table)
        inputs = ", ".join(_input_label(item) for item in metadata.get("inputs", []))
        out.print(f"inputs: {inputs}")
        history = Table("at", "action", "from", "to", "who", "why", title="history")
        for entry in payload["history"][-10:]:
            history.add_row(
                *[
                    str(entry.get(key) if entry.get(key) is not None else "-")
                    for key in ("at", "action", "from", "to", "who", "why")
                ]
            )
        out.print(history)

    emit(payload, as_json, human)


@models_app.command("promote")
@guarded
def models_promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to make the champion.")],
    why: WhyOption = "",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a version the champion (atomic switch, recorded in the history).

    Example: shopctl models promote conversion 3 --why "better on last week's data"
    """
    from engine.registry import Registry

    entry = Registry(workspace_from(workspace)).promote(name, version, who=_who(), why=why)
    emit(entry, as_json, lambda: out.print(f"{name}: champion v{entry['from']} → v{entry['to']}"))


@models_app.command("rollback")
@guarded
def models_rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    why: WhyOption = "",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Return to the previous champion in one step.

    Example: shopctl models rollback conversion --why "v3 over-predicts on mobile"
    """
    from engine.registry import Registry

    entry = Registry(workspace_from(workspace)).rollback(name, who=_who(), why=why)
    emit(entry, as_json, lambda: out.print(f"{name}: rolled back v{entry['from']} → v{entry['to']}"))


def register(app: typer.Typer) -> None:
    """Add the models command group to the root app."""
    app.add_typer(models_app, name="models", rich_help_panel="Models")
