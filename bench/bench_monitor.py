"""Benchmark: `shopctl monitor run --input` as a whole command against Evidently's data-drift preset as a script.

Both legs are subprocesses timed from outside (interpreter start-up, imports, reading the files, the checks, the
JSON written), each with its own peak RSS (os.wait4). The table is 25 columns of floats, counts, strings,
booleans and nulls (bench/monitor_data.py). shopctl checks the current file against the champion trained on the
reference file (HGB by default; its profile, not the raw reference, is what monitoring compares with); Evidently
gets the same reference and current files, read with pandas, and writes its snapshot as JSON. Legs alternate,
`--repeats` rounds each; the median is reported, all rounds listed.

Needs Evidently (pip install -e '.[bench]'):

    python bench/bench_monitor.py --rows 100000 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from monitor_data import BOOLEANS, FEATURES, FLOATS, INTEGERS, STRINGS, TARGET, make_table  # noqa: E402

SHOPCTL = str(Path(sys.executable).with_name("shopctl"))


def timed(command: list[str], stdout_path: Path | None = None) -> dict:
    """Wall seconds, CPU seconds and peak RSS of one subprocess (its own, from wait4)."""
    with open(stdout_path or os.devnull, "w") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stderr = process.stderr.read()
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):  # 3: an alert at or above --fail-on is open; not used here, but not a failure
        raise SystemExit(f"{' '.join(command)} failed with {code}:\n{stderr}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024.0,
    }


def leg_evidently(reference_path: Path, current_path: Path, output: Path) -> None:
    """Evidently 0.7's DataDriftPreset on the same files, as a script a user would write."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = [*FEATURES]
    reference = pd.read_parquet(reference_path, columns=columns)
    current = pd.read_parquet(current_path, columns=columns)
    definition = DataDefinition(
        numerical_columns=[*FLOATS, *INTEGERS], categorical_columns=[*STRINGS, *BOOLEANS]
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    output.write_text(snapshot.json())


def prepare(folder: Path, rows: list[int], reference_rows: int, candidates: str) -> Path:
    """A workspace with model M trained on the reference table, and one current table per size."""
    workspace = folder / "ws"
    subprocess.run([SHOPCTL, "init", str(workspace)], check=True, capture_output=True)
    make_table(reference_rows, 1, drifted=False).write_parquet(folder / "reference.parquet")
    for count in rows:
        make_table(count, 2, drifted=True).write_parquet(folder / f"current-{count}.parquet")
    started = time.perf_counter()
    subprocess.run(
        [
            SHOPCTL,
            "-w",
            str(workspace),
            "train",
            "M",
            "--table",
            str(folder / "reference.parquet"),
            "--target",
            TARGET,
            "--candidates",
            candidates,
            "--json",
        ],
        check=True,
        capture_output=True,
    )
    print(
        f"trained M ({candidates}) on {reference_rows:,} rows in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return workspace


def median_run(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def bench(folder: Path, workspace: Path, rows: int, repeats: int) -> dict:
    current = folder / f"current-{rows}.parquet"
    shopctl_command = [
        SHOPCTL,
        "-w",
        str(workspace),
        "monitor",
        "run",
        "--model",
        "M",
        "--input",
        str(current),
        "--json",
    ]
    evidently_command = [
        sys.executable,
        __file__,
        "--leg",
        "evidently",
        "--reference",
        str(folder / "reference.parquet"),
        "--current",
        str(current),
        "--output",
        str(folder / "evidently.json"),
    ]
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(timed(shopctl_command, folder / "monitor.json"))
        theirs.append(timed(evidently_command))
    payload = json.loads((folder / "monitor.json").read_text())
    drift = next(check for check in payload["checks"] if check["name"] == "drift")
    drifted = sorted(
        row["scope"][8:]
        for row in drift["metrics"]
        if row["metric"] == "drift_score" and row["status"] == "warning"
    )
    ours_median, theirs_median = median_run(ours), median_run(theirs)
    return {
        "rows": rows,
        "shopctl": ours_median,
        "evidently": theirs_median,
        "shopctl_rounds": [round(run["wall"], 2) for run in ours],
        "evidently_rounds": [round(run["wall"], 2) for run in theirs],
        "speedup_wall": theirs_median["wall"] / ours_median["wall"],
        "speedup_cpu": theirs_median["cpu"] / ours_median["cpu"],
        "memory_ratio": theirs_median["peak_mb"] / ours_median["peak_mb"],
        "drifted": drifted,
        "commands": {"shopctl": " ".join(shopctl_command), "evidently": " ".join(evidently_command)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument(
        "--candidates", default="hgb", help="candidates to train M with (the champion is checked)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="use (and keep) this folder instead of a temporary one")
    parser.add_argument("--leg", choices=["evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--current", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.leg:
        leg_evidently(arguments.reference, arguments.current, arguments.output)
        return
    print("command: " + " ".join([Path(sys.executable).as_posix(), *sys.argv]))
    folder = arguments.keep or Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        workspace = folder / "ws"
        if not (workspace / "registry" / "M").exists():
            shutil.rmtree(workspace, ignore_errors=True)
            workspace = prepare(folder, arguments.rows, arguments.reference_rows, arguments.candidates)
        for rows in arguments.rows:
            if not (folder / f"current-{rows}.parquet").exists():
                make_table(rows, 2, drifted=True).write_parquet(folder / f"current-{rows}.parquet")
            result = bench(folder, workspace, rows, arguments.repeats)
            ours, theirs = result["shopctl"], result["evidently"]
            print(
                f"\n## {rows:,} rows × 25 columns (12 floats, 3 counts, 4 strings, 2 booleans, nulls; "
                f"+ id, time, label), reference {arguments.reference_rows:,} rows, median of {arguments.repeats}"
            )
            print(
                f"shopctl monitor run : {ours['wall']:.2f} s wall {result['shopctl_rounds']}, "
                f"{ours['cpu']:.2f} s CPU, peak RSS {ours['peak_mb']:.0f} MB"
            )
            print(
                f"evidently preset    : {theirs['wall']:.2f} s wall {result['evidently_rounds']}, "
                f"{theirs['cpu']:.2f} s CPU, peak RSS {theirs['peak_mb']:.0f} MB"
            )
            print(
                f"ratio               : {result['speedup_wall']:.1f}× wall, {result['speedup_cpu']:.1f}× CPU, "
                f"peak RSS {result['memory_ratio']:.2f}× lower"
            )
            print(f"drifted (shopctl)   : {', '.join(result['drifted'])}")
            print(f"  {result['commands']['shopctl']}")
            print(f"  {result['commands']['evidently']}")
            sys.stdout.flush()
    finally:
        if arguments.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
