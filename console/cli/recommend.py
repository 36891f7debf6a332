"""`shopctl recommend`: top-K products for a user, a batch of users, or the products similar to one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, fail, guarded, info, out, workspace_from

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@guarded
def recommend_command(
    user: Annotated[str | None, typer.Option("--user", help="Recommend for this user id.")] = None,
    similar_to: Annotated[
        str | None, typer.Option("--similar-to", help="List the products most similar to this product id.")
    ] = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", help="Batch: a .csv, .parquet or .jsonl file with a user_id column."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", help="Batch output file (.csv, .parquet, .jsonl) or - for CSV on stdout."),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many products per user.", min=1)] = 10,
    model: Annotated[str, typer.Option("--model", help="Registered recommender to use.")] = "recommendations",
    version: Annotated[
        int | None, typer.Option("--version", help="Model version (default: the champion).")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recommend products from the champion recommender (unknown users get the popular fallback).

    Example: shopctl recommend --input users.csv --output recs.parquet --k 10
    """
    chosen = [
        name
        for name, value in (("--user", user), ("--similar-to", similar_to), ("--input", input_path))
        if value
    ]
    if len(chosen) != 1:
        raise fail("give exactly one of --user, --similar-to or --input (see `shopctl recommend --help`)")
    output_format = None
    if input_path is not None:
        if output is None:
            raise fail("--input needs --output FILE (.csv, .parquet, .jsonl) or --output -")
        if output != "-":
            output_format = FORMATS.get(Path(output).suffix.lower())
            if output_format is None:
                raise fail(f"--output {output}: use a .csv, .parquet or .jsonl file, or - for stdout")
    from engine.recommend.serve import Recommender, read_users, require_model

    ws = workspace_from(workspace)
    require_model(ws, model)
    users = read_users(input_path) if input_path is not None else None
    recommender = Recommender(ws, model, version)
    if similar_to is not None:
        table = recommender.similar(similar_to, k)
        rows = table.to_dicts()
        emit({"product_id": similar_to, "similar": rows}, as_json, lambda: _print_rows(rows, "similar_id"))
        return
    if user is not None:
        table = recommender.recommend([user], k)
        rows = table.to_dicts()
        emit({"user_id": user, "recommendations": rows}, as_json, lambda: _print_rows(rows, "product_id"))
        return
    assert users is not None and output is not None
    table = recommender.recommend(users, k)
    if output == "-":
        sys.stdout.write(table.write_csv())
    else:
        from engine.infra.atomic import atomic_write_with

        writers = {
            "csv": lambda tmp: table.write_csv(tmp),
            "parquet": lambda tmp: table.write_parquet(tmp),
            "jsonl": lambda tmp: table.write_ndjson(tmp),
        }
        atomic_write_with(Path(output), writers[str(output_format)])
    personal = int((table.get_column("source") == "personal").sum())
    summary = {"users": len(users), "rows": table.height, "personal_rows": personal, "output": output}
    if output != "-":
        emit(
            summary,
            as_json,
            lambda: info(f"wrote {table.height:,} rows for {len(users):,} users to {output}"),
        )


def _print_rows(rows: list[dict[str, Any]], column: str) -> None:
    for row in rows:
        source = f"  {row['source']}" if "source" in row else ""
        out.print(f"{row['rank']:>3}  {row[column]:<16} {row['score']:.4f}{source}")


def register(app: typer.Typer) -> None:
    """Add `recommend` to the root app."""
    app.command("recommend", rich_help_panel="Models")(recommend_command)
