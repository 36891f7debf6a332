"""`shopctl score`: batch-score a file or stdin with a registered model (onnxruntime only)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, progress, workspace_from
from engine.errors import InputError
from engine.scoring import FORMATS


@guarded
def score(
    name: Annotated[str, typer.Argument(help="Model name (its champion unless --version).")],
    input_path: Annotated[
        str, typer.Option("--input", "-i", help="Parquet, CSV or JSON Lines file, or - for stdin.")
    ],
    output_path: Annotated[str, typer.Option("--output", "-o", help="Where scores go, or - for stdout.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"Output format ({'|'.join(FORMATS)}); default from --output, "
            "else the input's. With stdin it also names the input format.",
        ),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="Score with this version, not the champion.")
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep", help="Input column to copy to the output (repeatable; default: the model's ids)."
        ),
    ] = None,
    on_invalid: Annotated[
        str | None,
        typer.Option(
            "--on-invalid",
            help="A numeric input of +-inf or beyond float32's range: null (null score for the row), "
            "missing (score it as a missing value) or fail (exit 2). Default: [scoring] on_invalid (null). "
            "NaN and empty cells are missing values.",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="local (this machine, streaming) or spark (Parquet file/folder in, Parquet folder out; "
            "docs/spark.md). Default: [engine] engine (local).",
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            help="Spark master (local[2], spark://host:7077, yarn, k8s://...); with --engine spark.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a batch: keeps the id columns, adds score, model and model_version; streams in chunks.

    Invalid numeric inputs and NaN scores are counted and reported (never written silently).

    Example: shopctl score conversion --input sessions.parquet --output scores.parquet
    """
    from engine.scoring import score_file  # onnxruntime, polars: loaded when the command runs

    ws = workspace_from(workspace)
    chosen = engine or ws.settings.engine.engine
    if chosen not in ("local", "spark"):
        raise InputError(f"--engine {chosen!r}: use local or spark")
    if chosen == "spark":
        from engine.spark.scoring import spark_score  # pyspark: only when asked for

        if input_path == "-" or output_path == "-":
            raise InputError(
                "--engine spark reads and writes Parquet paths, not stdin/stdout; name the files"
            )
        if fmt not in (None, "parquet"):
            raise InputError(f"--engine spark writes a Parquet folder; drop --format {fmt}")
        with progress(f"scoring with {name} on Spark"):
            result = spark_score(
                ws,
                name,
                input_path,
                output_path,
                version,
                master=master,
                keep=keep or None,
                on_invalid=on_invalid,
            )
    elif master:
        raise InputError("--master applies to --engine spark only; add --engine spark")
    else:
        with progress(f"scoring with {name}") as advance:
            result = score_file(
                ws,
                name,
                input_path,
                output_path,
                fmt,
                version,
                keep=keep or None,
                progress=advance,
                on_invalid=on_invalid,
            )
    if result["invalid_rows"]:
        columns = ", ".join(f"{column} ({count:,})" for column, count in result["invalid_by_column"].items())
        outcome = "null scores" if result["on_invalid"] == "null" else "scored as missing values"
        info(
            f"warning: {result['invalid_rows']:,} row(s) with +-inf or out-of-float32-range inputs: {columns}; {outcome}"
        )
    if result["nan_scores"]:
        info(f"warning: {result['nan_scores']:,} score(s) came out NaN and were written as null")
    summary = (
        f"scored {result['rows']:,} rows with {result['model']} v{result['version']} in {result['seconds']:.2f}s "
        f"({result['rows_per_second']:,} rows/s) → {result['output']}"
    )
    if as_json and output_path == "-":
        sys.stderr.write(json.dumps(result) + "\n")  # stdout carries the scores themselves
    elif as_json:
        emit(result, True)
    elif output_path == "-":
        info(summary)  # stdout carries the scores themselves
    else:
        emit(result, False, lambda: typer.echo(summary))


def register(app: typer.Typer) -> None:
    """Add the score command to the root app."""
    app.command("score", rich_help_panel="Models")(score)
