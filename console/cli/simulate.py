"""`shopctl simulate`: write a seeded, realistic shop event log (with an optional scenario) to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.cli.common import JsonOption, WorkspaceOption, emit, guarded, info, out
from engine.infra.durations import parse_days
from engine.simulator import FORMATS, SCENARIOS


@guarded
def simulate_command(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Events file to write (.csv, .tsv, .parquet, .jsonl, optionally .gz)."
        ),
    ],
    days: Annotated[
        str, typer.Option("--days", "-d", help="How long to simulate: 30, 30d or 8w (a bare number is days).")
    ] = "30",
    scenario: Annotated[
        str, typer.Option("--scenario", help=f"What happens on the change day: {', '.join(SCENARIOS)}.")
    ] = "stable",
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same events.")
    ] = 7,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"File format ({', '.join(FORMATS)}); default: from the suffix."),
    ] = None,
    sessions_per_day: Annotated[
        float, typer.Option("--sessions-per-day", help="Average sessions per day (weekends busier).")
    ] = 1500,
    scenario_day: Annotated[
        str | None, typer.Option("--scenario-day", help="Change day YYYY-MM-DD (default: two thirds in).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First day YYYY-MM-DD (default: the data ends yesterday).")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Simulate a shop's event log and write it with its ground truth (<out>.truth.json) beside it.

    Example: shopctl simulate --days 60 --scenario checkout_outage --out events.parquet
    """
    from engine.simulator import simulate, write_simulation  # numpy, polars: loaded when the command runs

    days = parse_days(days, source="--days")
    info(f"simulating {days} days, about {sessions_per_day:g} sessions a day, scenario {scenario} ...")
    simulation = simulate(
        days,
        seed=seed,
        scenario=scenario,
        start=start,
        sessions_per_day=sessions_per_day,
        scenario_day=scenario_day,
    )
    written = write_simulation(simulation, out_path, fmt)
    payload = written | {"ground_truth": simulation.ground_truth}

    def human() -> None:
        truth = simulation.ground_truth
        out.print(
            f"wrote {written['rows']:,} events ({truth['start']} .. {truth['end']}) to {written['events']}"
        )
        out.print(f"ground truth: {written['truth']}")
        if truth.get("change_day"):
            out.print(f"scenario {truth['scenario']} from {truth['change_day']}: {truth['what']}")
        info(f"next: shopctl ingest {written['events']}")

    emit(payload, as_json, human)


def register(app: typer.Typer) -> None:
    """Add `simulate` to the root app."""
    app.command("simulate", rich_help_panel="Data")(simulate_command)
