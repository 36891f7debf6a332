"""Benchmark: `shopctl paths` and `shopctl funnel` over a simulated 10 M-event workspace, as subprocesses.

The workspace is built once (simulated periods committed one after another, each period's session ids
prefixed so no two periods share a session) and reused from --root. Each command runs as its own subprocess;
wall time and that process's peak RSS (wait4 rusage) are printed with the command line. The alternative leg
is the straightforward eager pandas version of `paths` (read everything, sort, groupby, join the names),
run in its own subprocess on the same store.

    python bench/bench_analytics.py --events 10000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from subprocess_timing import timed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHOPCTL = Path(sys.executable).with_name("shopctl")
EVENTS_PER_PERIOD = 1_000_000


def build_workspace(root: Path, events: int) -> int:
    """Simulated periods of ~1 M events, 30 days each, back to back; returns the events stored."""
    import polars as pl

    from engine.events import commit_events, new_ingest_id, scan_events
    from engine.simulator import simulate
    from engine.workspace import init_workspace, open_workspace

    if (root / "config.toml").exists():
        return int(scan_events(open_workspace(root)).select(pl.len()).collect().item())
    ws, _ = init_workspace(root)
    stored, period = 0, 0
    from datetime import date, timedelta

    while stored < events:
        start = date(2024, 1, 1) + timedelta(days=30 * period)
        simulation = simulate(30, seed=100 + period, start=start.isoformat(), sessions_per_day=6400)
        frame = simulation.events.with_columns(
            (pl.lit(f"p{period}-") + pl.col("session_id")).alias("session_id")
        )
        frame = frame.head(events - stored)
        stored += commit_events(ws, frame, new_ingest_id())["rows_stored"]
        period += 1
        print(f"  built {stored:,} events", file=sys.stderr)
    return stored


PANDAS_PATHS = """
import sys, json
import pandas as pd
sys.path.insert(0, {root!r})
from engine.events import scan_events
from engine.workspace import open_workspace
frame = scan_events(open_workspace({ws!r})).select("session_id", "event_time", "event_name").collect()
events = pd.DataFrame({{name: frame[name].to_numpy() for name in frame.columns}})
del frame
events = events.sort_values(["session_id", "event_time"], kind="stable")
keep = (events["session_id"] != events["session_id"].shift()) | (events["event_name"] != events["event_name"].shift())
steps = events[keep]
paths = steps.groupby("session_id", sort=False)["event_name"].agg(" > ".join)
top = paths.value_counts().head(20)
print(json.dumps({{"sessions": int(paths.size), "top": top.index.tolist()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=Path("/tmp/shopctl-bench-analytics"))
    args = parser.parse_args()
    root = args.root / f"ws-{args.events}"
    if args.build_only:
        stored = build_workspace(root, args.events)
        (root / "bench-events.json").write_text(json.dumps({"events": stored}))
        return
    started = time.perf_counter()
    # built in a child process: a forked leg's ru_maxrss starts at its parent's peak, so the parent stays small
    subprocess.run(
        [sys.executable, __file__, "--build-only", "--events", str(args.events), "--root", str(args.root)],
        check=True,
    )
    stored = int(json.loads((root / "bench-events.json").read_text())["events"])
    print(f"workspace {root}: {stored:,} events (built/read in {time.perf_counter() - started:.0f}s)")
    legs = {
        "paths": [str(SHOPCTL), "paths", "--top", "20", "--json", "-w", str(root)],
        "paths --to purchase": [str(SHOPCTL), "paths", "--to", "purchase", "--json", "-w", str(root)],
        "funnel --by device --compare-to previous": [
            str(SHOPCTL),
            "funnel",
            "--by",
            "device",
            "--compare-to",
            "previous",
            "--json",
            "-w",
            str(root),
        ],
        "funnel (whole store)": [str(SHOPCTL), "funnel", "--json", "-w", str(root)],
        "pandas paths (eager alternative)": [
            sys.executable,
            "-c",
            PANDAS_PATHS.format(root=str(ROOT), ws=str(root)),
        ],
    }
    results = {}
    for name, command in legs.items():
        result = timed(command)
        results[name] = result
        rate = stored / result["seconds"] / 1e6
        print(
            f"{name:<42} {result['seconds']:6.2f}s  {rate:5.2f} M events/s  peak RSS {result['peak_rss_mb']:6.0f} MB"
        )
    ours = json.loads(results["paths"]["stdout"])
    theirs = json.loads(results["pandas paths (eager alternative)"]["stdout"])
    assert ours["sessions"] == theirs["sessions"], (ours["sessions"], theirs["sessions"])
    assert [row["path"] for row in ours["top_paths"]][:5] == theirs["top"][:5]
    ratio = results["pandas paths (eager alternative)"]["seconds"] / results["paths"]["seconds"]
    print(f"paths: same sessions and top paths as pandas; {ratio:.1f}x faster")
    print("command: python bench/bench_analytics.py --events", args.events)


if __name__ == "__main__":
    main()
