"""Mixed-type scoring benchmark: `shopctl score` on tables with ints, floats, strings and booleans vs the I/O floor.

The float bench (bench_scoring.py) feeds 25 floats and 4 string columns; real tables carry integer codes, booleans
and more categories, which reach the model through other feed paths. Two tables, each repeated to about --rows:
- uci: the UCI online-shoppers table (../shared/datasets; 17 columns: ints, floats, two strings, a boolean),
  trained with `--table` as a user would (skipped when the file is absent);
- demo: the session feature table `shopctl demo` builds (simulate, ingest, features), trained on its conversion task.
One model per candidate type per table, trained and registered through engine.train.run.train_and_register; each
`shopctl score` run is timed as a subprocess against a polars read + write of the same file, in the same run.

Usage: python bench/bench_scoring_mixed.py [--rows 2000000] [--tables uci,demo] [--candidates logistic,hgb,mlp,stack]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scoring import against_io_floor, score_command, tile  # noqa: E402

from engine.demo import run_demo  # noqa: E402
from engine.registry import Registry  # noqa: E402
from engine.train.run import train_and_register  # noqa: E402
from engine.workspace import Workspace, init_workspace  # noqa: E402
from models.tables import read_table  # noqa: E402

UCI_FILE = ROOT.parent / "shared" / "datasets" / "online_shoppers_intention.csv"
UCI_TARGET = "Revenue"
CANDIDATES = ("logistic", "hgb", "mlp", "stack")
ROW_GROUP = 262_144


def repeated(base: pl.DataFrame, folder: Path, stem: str, rows: int) -> Path:
    """base written once as Parquet, then repeated to about `rows` rows (same bytes per copy)."""
    base_file = folder / f"{stem}-base.parquet"
    base.write_parquet(base_file, row_group_size=ROW_GROUP)
    copies = max(1, round(rows / base.height))
    target = folder / f"{stem}-{copies * base.height}.parquet"
    if not target.exists():
        tile(base_file, target, copies)
    return target


def train_each(workspace: Workspace, prefix: str, candidates: list[str], **source: Any) -> dict[str, str]:
    """One registered model per candidate type (reused when a kept folder already has it): leg -> model name."""
    registry = Registry(workspace)
    names = {}
    for candidate in candidates:
        name = f"{prefix}-{candidate}"
        if not registry.versions(name):
            started = time.perf_counter()
            train_and_register(workspace, name, candidates=candidate, who="bench", **source)
            print(f"  trained {name} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        names[candidate] = name
    return names


def uci_leg(
    folder: Path, workspace: Workspace, rows: int, candidates: list[str]
) -> tuple[Path, dict[str, str]]:
    """The UCI table repeated to about `rows` rows (features and label, as a user's export would hold them)."""
    table = read_table(UCI_FILE)
    names = train_each(workspace, "uci", candidates, table=UCI_FILE, target=UCI_TARGET)
    return repeated(table, folder, "uci", rows), names


def demo_leg(folder: Path, rows: int, candidates: list[str]) -> tuple[Path, Workspace, dict[str, str]]:
    """The demo shop's session feature table repeated to about `rows` rows, and its conversion models."""
    root = folder / "demo"
    if not (root / "registry").is_dir() or not any((root / "registry").iterdir()):
        started = time.perf_counter()
        run_demo(root)
        print(f"  built the demo shop in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    workspace = Workspace(root)
    names = train_each(workspace, "demo", candidates, task="conversion")
    sessions = pl.read_parquet(workspace.features_dir / "sessions.parquet")
    return repeated(sessions, folder, "demo-sessions", rows), workspace, names


def _compare_scores(folder: Path, names: dict[str, str]) -> None:
    """Print the largest score difference between this tree's output and the --before tree's, per model."""
    for name in names.values():
        now = pl.read_parquet(folder / f"scores-{name}.parquet")["score"].to_numpy()
        before = pl.read_parquet(folder / f"scores-{name}-before.parquet")["score"].to_numpy()
        print(f"{name}: max |score - before| = {float(abs(now - before).max()):.3g}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of each scored file (about)")
    parser.add_argument("--tables", default="uci,demo")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (best round reported)")
    parser.add_argument("--keep", type=Path, help="keep the bench files (and trained models) in this folder")
    parser.add_argument(
        "--before",
        type=Path,
        help="also time the scoring code of this source tree (e.g. `git archive main | tar -x -C DIR`), "
        "interleaved with this one's: legs named CANDIDATE@before",
    )
    args = parser.parse_args()
    command = "python bench/bench_scoring_mixed.py " + " ".join(sys.argv[1:])
    folder = args.keep or Path(tempfile.mkdtemp(prefix="shopctl-bench-mixed-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"bench folder {folder} · {os.cpu_count()} cores", file=sys.stderr)
    candidates = [name for name in args.candidates.split(",") if name in CANDIDATES]
    tables = args.tables.split(",")
    results: dict[str, Any] = {"command": command, "cores": os.cpu_count(), "tables": {}}
    try:
        for table in tables:
            if table == "uci":
                if not UCI_FILE.exists():
                    print(f"uci: skipped, {UCI_FILE} is absent", file=sys.stderr)
                    results["tables"]["uci"] = {"skipped": f"{UCI_FILE} is absent"}
                    continue
                workspace, _ = init_workspace(folder / "uci-ws")
                source, names = uci_leg(folder, workspace, args.rows, candidates)
            elif table == "demo":
                source, workspace, names = demo_leg(folder, args.rows, candidates)
            else:
                raise SystemExit(f"unknown table {table!r}: use uci, demo")
            schema = pl.read_parquet_schema(source)
            print(f"{table}: {source.name}, {len(schema)} columns", file=sys.stderr)
            commands = {}
            for candidate, name in names.items():
                commands[candidate] = score_command(
                    name, source, folder / f"scores-{name}.parquet", workspace.root
                )
                if args.before:  # PYTHONPATH comes before the editable install's path entry
                    commands[f"{candidate}@before"] = [
                        "env",
                        f"PYTHONPATH={args.before.resolve()}",
                        *score_command(
                            name, source, folder / f"scores-{name}-before.parquet", workspace.root
                        ),
                    ]
            floor, legs = against_io_floor(commands, source, folder / f"copy-{table}.parquet", args.repeats)
            if args.before:
                _compare_scores(folder, names)
            results["tables"][table] = {
                "file": str(source),
                "columns": {name: str(dtype) for name, dtype in schema.items()},
                "io_floor": floor,
                "end_to_end": legs,
            }
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2))
    for table, figures in results["tables"].items():
        for candidate, leg in figures.get("end_to_end", {}).items():
            print(
                f"{table:5s} {candidate:9s} {leg['seconds']:6.2f}s vs floor {figures['io_floor']['seconds']:5.2f}s"
                f" = {leg['vs_io_floor']:4.2f}x · {leg['rows_per_second']:>9,} rows/s · model {leg['model_seconds']}s"
                f" · cpu {leg['cpu_seconds']:.2f}s vs {figures['io_floor']['cpu_seconds']:.2f}s"
                f" = {leg['cpu_vs_io_floor']:.2f}x"
            )
    print(f"command: {command}")


if __name__ == "__main__":
    main()
