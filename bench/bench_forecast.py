"""Benchmark: `shopctl forecast` backtest errors on CDNOW daily revenue and on the simulator's per-category series.

Each case runs the whole command as a subprocess (`shopctl forecast ... --json`) and prints, per series, the
rolling-origin backtest MAE (4 windows of 28 days) of seasonal naive, ETS, Theta and the chosen model, the chosen
model's MAE as a share of seasonal naive's (the issue's goal: <= 0.8), and the wall time of the command.

CDNOW: the master file is in the `lifetimes` wheel (not a dependency; fetch it outside the repo):

    pip download lifetimes --no-deps -d /tmp/lt && unzip -o -q /tmp/lt/Lifetimes-*.whl -d /tmp/lt/x
    python bench/bench_forecast.py --cdnow /tmp/lt/x/lifetimes/datasets/CDNOW_master.txt

It is ingested as it is, whitespace-separated, with the `transactions` preset:

    shopctl ingest CDNOW_master.txt --preset transactions

Without --cdnow only the simulator cases run (200 days, seed 7, 1,500 sessions a day).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOPCTL = [sys.executable, "-m", "console.cli.main"]
MODELS = ("seasonal_naive", "ets", "theta", "ets_theta")


def _run(args: list[str]) -> tuple[dict | None, float]:
    started = time.perf_counter()
    result = subprocess.run([*SHOPCTL, *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"`shopctl {' '.join(args)}` failed ({result.returncode}): {result.stderr.strip()}")
    return (json.loads(result.stdout) if "--json" in args else None), seconds


def _table(title: str, args: list[str]) -> None:
    payload, seconds = _run(args)
    assert payload is not None
    print(f"\n## {title}\n$ shopctl {' '.join(args)}   ({seconds:.1f} s wall, whole command)")
    print(
        f"{'series':<14} {'naive MAE':>10} {'ETS MAE':>10} {'Theta MAE':>10} {'Combo MAE':>10}  {'chosen':<15} {'ratio':>6} {'MASE':>5}"
    )
    totals = {"naive": 0.0, "chosen": 0.0}
    met = 0
    for series in payload["series"]:
        rows = {row["model"]: row for row in payload["backtest"] if row["series"] == series}
        chosen = next(row for row in rows.values() if row["chosen"])
        naive = rows["seasonal_naive"]["mae"]
        ratio = chosen["mae"] / naive
        met += ratio <= 0.8
        totals["naive"] += naive
        totals["chosen"] += chosen["mae"]
        figures = " ".join(f"{rows[name]['mae']:>10.2f}" if name in rows else f"{'-':>10}" for name in MODELS)
        print(f"{series:<14} {figures}  {chosen['model']:<15} {ratio:>6.3f} {chosen['mase']:>5.2f}")
    if len(payload["series"]) > 1:
        print(
            f"{'all series':<14} {totals['naive']:>10.2f} {'':>10} {'':>10} {'':>10}  {'(sum of MAE)':<15} "
            f"{totals['chosen'] / totals['naive']:>6.3f}"
        )
    print(f"series at or below 0.8 x seasonal naive: {met} of {len(payload['series'])}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cdnow", type=Path, help="CDNOW_master.txt from the lifetimes wheel")
    parser.add_argument("--days", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-forecast-"))
    os.environ.setdefault("SHOPCTL_USER", "bench")
    try:
        if args.cdnow:
            shop = work / "cdnow"
            _run(["init", str(shop)])
            _run(["ingest", "-w", str(shop), str(args.cdnow), "--preset", "transactions"])
            _table("CDNOW daily revenue", ["forecast", "-w", str(shop), "--metric", "revenue", "--json"])
        shop = work / "sim"
        events = work / "events.parquet"
        _run(["init", str(shop)])
        _run(["simulate", "--days", str(args.days), "--seed", "7", "--out", str(events)])
        _run(["ingest", "-w", str(shop), str(events)])
        for metric in ("orders", "revenue"):
            _table(
                f"simulator, daily {metric} per category ({args.days} days, seed 7)",
                ["forecast", "-w", str(shop), "--metric", metric, "--by", "category", "--json"],
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
