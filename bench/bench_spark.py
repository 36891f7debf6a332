"""Spark engine benchmark: `shopctl score` local vs `--engine spark --master local[2]`, and drift counts.

Builds a small simulated shop, trains an HGB champion, tiles its session table to N rows (5 M and 20 M by
default), then runs the whole command as a subprocess for each engine (wall, rows/s, peak RSS of the driver's
Python process from wait4; the Spark JVM is a separate process, reported from psutil when available) and,
in-process (labelled so), drift_report vs spark_drift_report on the same rows.

Usage: python bench/bench_spark.py [--rows 5000000 20000000] [--skip-drift]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import commit_events, scan_events  # noqa: E402
from engine.features import session_features  # noqa: E402
from engine.simulator import simulate  # noqa: E402
from engine.train.run import train_and_register  # noqa: E402
from engine.workspace import init_workspace  # noqa: E402


def run(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB of the process, peak RSS MB of its descendants, e.g. the JVM)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_children = [0.0]
    stop = threading.Event()

    def watch() -> None:
        try:
            import psutil
        except ImportError:
            return
        parent = psutil.Process(process.pid)
        while not stop.is_set():
            try:
                total = sum(child.memory_info().rss for child in parent.children(recursive=True))
                peak_children[0] = max(peak_children[0], total / 2**20)
            except psutil.Error:
                pass
            stop.wait(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    stop.set()
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024, peak_children[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000_000, 20_000_000])
    parser.add_argument("--skip-drift", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        ws, _ = init_workspace(work / "ws")
        commit_events(ws, simulate(7, seed=5, start=date(2026, 1, 5), sessions_per_day=1000).events, "sim")
        train_and_register(ws, "conv", task="conversion", candidates="hgb", who="bench")
        table = session_features(scan_events(ws), ws.settings.schema.dimensions).collect()
        shopctl = str(Path(sys.executable).with_name("shopctl"))
        for rows in args.rows:
            copies = -(-rows // table.height)
            big = pl.concat(
                [table.with_columns(pl.col("session_id") + f"-{copy}") for copy in range(copies)]
            ).head(rows)
            single = work / f"in-{rows}.parquet"
            big.write_parquet(single, row_group_size=262_144)
            folder = work / f"in-{rows}"
            folder.mkdir()
            for index, part in enumerate(big.iter_slices(1_000_000)):
                part.write_parquet(folder / f"part-{index:04d}.parquet")
            del big
            local_cmd = [
                shopctl,
                "score",
                "conv",
                "-i",
                str(single),
                "-o",
                str(work / "out.parquet"),
                "-w",
                str(ws.root),
            ]
            spark_cmd = [
                shopctl,
                "score",
                "conv",
                "-i",
                str(folder),
                "-o",
                str(work / "out"),
                "-w",
                str(ws.root),
                "--engine",
                "spark",
                "--master",
                "local[2]",
            ]
            for label, command in (("local", local_cmd), ("spark local[2]", spark_cmd)):
                wall, rss, children = run(command)
                print(
                    f"score {rows:>11,} rows  {label:<15} wall {wall:7.1f} s  {rows / wall:>11,.0f} rows/s  "
                    f"driver python peak RSS {rss:6.0f} MB  children (JVM, workers) peak {children:6.0f} MB"
                )
                print(f"    $ {' '.join(command)}")
            if not args.skip_drift:
                from engine.monitoring.drift import drift_report
                from engine.registry import Registry
                from engine.spark.drift import spark_drift_report
                from engine.spark.session import spark_session

                profile = Registry(ws).get("conv").profile
                started = time.perf_counter()
                frame = pl.read_parquet(single)
                from engine.scoring import load_model

                scores = load_model(ws, "conv").predict(frame)
                local = drift_report(profile, frame, ws.settings.monitor, scores)
                local_wall = time.perf_counter() - started
                del frame, scores
                spark = spark_session(ws, "local[2]", conf={"spark.driver.memory": "1g"})
                started = time.perf_counter()
                remote = spark_drift_report(ws, "conv", str(folder), spark=spark)
                spark_wall = time.perf_counter() - started
                same = [f.drifted for f in local.features] == [f.drifted for f in remote.features]
                print(
                    f"drift {rows:>11,} rows  in-process: local {local_wall:6.1f} s ({rows / local_wall:,.0f} rows/s, "
                    f"incl. read + score + domain classifier)  spark local[2] {spark_wall:6.1f} s "
                    f"({rows / spark_wall:,.0f} rows/s, session already up)  verdicts equal: {same}"
                )
            shutil.rmtree(folder)
            single.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
