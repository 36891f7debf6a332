"""Benchmark: session features on simulated events, as shopctl builds them against a plain eager version.

Legs: `read` (the reference: only loading the events into memory), `windowed` (what `shopctl features build` runs: one
time window of events at a time, history carried between windows; `windowed-1m` the same with
`[features] window_events = 1000000` instead of the default 700,000),
`lazy` (`session_features` as one lazy plan, what monitoring and training call), `eager` (the straightforward
way: read everything, string keys, filters inside the aggregation). Each leg runs in its own subprocess so its
peak memory (ru_maxrss) is its own. Prints the figures and the command.

    python bench/bench_features.py --events 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIMENSIONS = ["channel", "device", "country"]
EVENTS_PER_SESSION = 5.27  # the simulator's average, to size the run


def eager_session_features(events: pl.DataFrame) -> pl.DataFrame:
    """The straightforward way: eager frames, string keys, a window for the first purchase, filters inside agg."""
    before = pl.col("_fp").is_null() | (pl.col("event_time") < pl.col("_fp"))
    tagged = events.with_columns(
        pl.col("event_time").filter(pl.col("event_type") == "purchase").min().over("session_id").alias("_fp")
    )
    value = pl.col("price").fill_null(0.0) * pl.col("quantity").fill_null(1).cast(pl.Float64)
    kind = pl.col("event_type")
    table = tagged.group_by("session_id").agg(
        pl.col("user_id").drop_nulls().first(),
        pl.col("event_time").min().alias("session_start"),
        pl.col("_fp").first(),
        pl.col("event_time").filter(before).max().alias("_last"),
        before.sum().alias("n_events"),
        *(
            (before & (kind == name)).sum().alias(f"n_{name}")
            for name in ("view", "cart", "remove_from_cart", "checkout", "other")
        ),
        pl.col("product_id").filter(before).drop_nulls().n_unique().alias("n_products"),
        pl.col("category").filter(before).drop_nulls().n_unique().alias("n_categories"),
        pl.col("price").filter(before & (kind == "view")).mean().alias("view_price_mean"),
        pl.col("price").filter(before & (kind == "view")).max().alias("view_price_max"),
        pl.col("price").filter(before & (kind == "cart")).mean().alias("cart_price_mean"),
        value.filter(before & (kind == "cart")).sum().alias("cart_value"),
        value.filter(kind == "purchase").sum().alias("revenue"),
        (kind == "purchase").sum().alias("n_purchase"),
        *(pl.col(name).sort_by("event_time").first() for name in DIMENSIONS),
    )
    table = table.with_columns(
        pl.col("_fp").is_not_null().cast(pl.Int8).alias("converted"),
        ((pl.col("_last") - pl.col("session_start")).dt.total_milliseconds() / 1000).alias(
            "duration_seconds"
        ),
        pl.col("session_start").dt.hour().alias("hour"),
        pl.col("session_start").dt.weekday().alias("weekday"),
    ).sort("session_start")
    purchases = (
        events.filter((kind == "purchase") & pl.col("user_id").is_not_null())
        .sort("event_time")
        .with_columns(
            (pl.int_range(pl.len()).over("session_id") == 0)
            .cast(pl.Int32)
            .cum_sum()
            .over("user_id")
            .alias("prior_purchases"),
            value.cum_sum().over("user_id").alias("prior_spend"),
            pl.col("event_time").alias("_last_purchase"),
        )
        .select("user_id", "event_time", "_last_purchase", "prior_purchases", "prior_spend")
    )
    table = table.join_asof(
        purchases, left_on="session_start", right_on="event_time", by="user_id", strategy="backward",
        allow_exact_matches=False,
    )  # fmt: skip
    return table.with_columns(
        (pl.col("session_start").rank("min").over("user_id") - 1).fill_null(0).alias("prior_sessions"),
        ((pl.col("session_start") - pl.col("_last_purchase")).dt.total_seconds() / 86400).alias(
            "days_since_last_purchase"
        ),
    )


def run_leg(leg: str, source: Path, output: Path, days: int, seed: int, target_events: int) -> dict:
    """Run one leg in this process and report its time, CPU time, rows and peak memory."""
    from engine.features import session_features

    started, cpu = time.perf_counter(), time.process_time()
    if leg == "simulate":
        from engine.simulator import simulate

        sessions_per_day = target_events / EVENTS_PER_SESSION / days
        events = simulate(days, seed=seed, start="2026-01-05", sessions_per_day=sessions_per_day).events
        simulated = time.perf_counter() - started
        events.write_parquet(source, compression="zstd")
        sample = events.head(200_000)  # the size the same events take as a CSV file, from a sample
        csv_bytes = len(sample.write_csv().encode()) * events.height / max(sample.height, 1)
        return {
            "csv_mb": csv_bytes / 2**20,
            "leg": leg,
            "seconds": simulated,
            "cpu_seconds": time.process_time() - cpu,
            "rows": events.height,
            "in_memory_mb": events.estimated_size() / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    if leg.startswith("windowed"):
        from engine.features.windows import EVENTS_PER_WINDOW, write_session_table

        span = pl.scan_parquet(source).select(
            pl.col("event_time").min().alias("first"), pl.col("event_time").max().alias("last")
        )
        first, last = span.collect().row(0)
        total = pl.scan_parquet(source).select(pl.len()).collect().item()
        write_session_table(
            pl.scan_parquet(source),
            DIMENSIONS,
            first,
            last + timedelta(microseconds=1),
            output,
            total_events=total,
            events_per_window=1_000_000 if leg == "windowed-1m" else EVENTS_PER_WINDOW,
        )
        rows = pl.scan_parquet(output).select(pl.len()).collect().item()
    elif leg == "lazy":
        session_features(pl.scan_parquet(source), DIMENSIONS).sink_parquet(output)
        rows = pl.scan_parquet(output).select(pl.len()).collect().item()
    elif leg == "read":
        rows = pl.read_parquet(source).height  # the reference: just holding the raw events in memory
    elif leg == "eager":
        table = eager_session_features(pl.read_parquet(source))
        table.write_parquet(output)
        rows = table.height
    else:
        raise SystemExit(f"unknown leg {leg}")
    return {
        "leg": leg,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "rows": rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="about this many simulated events")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-eager", action="store_true", help="skip the eager leg")
    parser.add_argument("--leg", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.leg:
        print(json.dumps(run_leg(args.leg, args.input, args.output, args.days, args.seed, args.events)))
        return

    # Every leg, the simulation too, runs in a child: a forked child starts with its parent's peak RSS.
    with tempfile.TemporaryDirectory(prefix="bench-features-") as folder:
        source = Path(folder) / "events.parquet"

        def run(leg: str, output: Path) -> dict | None:
            command = [
                sys.executable,
                __file__,
                "--leg",
                leg,
                "--input",
                str(source),
                "--output",
                str(output),
                *("--days", str(args.days), "--seed", str(args.seed), "--events", str(args.events)),
            ]
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                print(f"{leg}: failed: {completed.stderr.strip().splitlines()[-1:]}")
                return None
            return json.loads(completed.stdout.strip().splitlines()[-1])

        simulated = run("simulate", source)
        if simulated is None:
            return
        n_events = simulated["rows"]
        file_mb = source.stat().st_size / 2**20
        print(
            f"events: {n_events:,} simulated in {simulated['seconds']:.1f}s ({simulated['cpu_seconds']:.1f} CPU s, "
            f"peak {simulated['peak_rss_mb']:,.0f} MB)"
        )
        print(
            f"raw data: {simulated['csv_mb']:,.0f} MB as CSV, {simulated['in_memory_mb']:,.0f} MB in memory "
            f"(polars' estimate), {file_mb:,.0f} MB as zstd Parquet"
        )
        print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads, {os.cpu_count()} cores")
        legs = ["read", "windowed", "windowed-1m", "lazy"] + ([] if args.skip_eager else ["eager"])
        results = []
        for leg in legs:
            result = run(leg, Path(folder) / f"{leg}.parquet")
            if result is not None:
                results.append(result)
    cores = os.cpu_count() or 1
    print(
        f"{'leg':<11} {'seconds':>8} {'M ev/s':>7} {'cpu s':>7} {'M ev/cpu-s':>10} {'peak MB':>8} {'rows':>10}"
    )
    for result in results:
        rate = n_events / result["seconds"] / 1e6
        cpu_rate = n_events / result["cpu_seconds"] / 1e6
        print(
            f"{result['leg']:<11} {result['seconds']:>8.2f} {rate:>7.2f} {result['cpu_seconds']:>7.2f} {cpu_rate:>10.2f} "
            f"{result['peak_rss_mb']:>8.0f} {result['rows']:>10,}"
        )
    print(
        f"M ev/cpu-s x {cores} cores is the rate on an otherwise idle machine (the legs keep all cores busy)"
    )
    load = os.getloadavg()[0]
    print(f"load average at the end: {load:.1f} (other work on the machine slows every leg alike)")
    print("command: python bench/bench_features.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
