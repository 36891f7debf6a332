"""Recommendations side by side with `implicit`: batch users/s, single-user p50, and hit@10 of the champion
vs popularity vs implicit's own ALS (its user factors, not our fold-in) on the same time split.

Whole commands (subprocess, wall incl. start-up): `shopctl train recommendations`, `shopctl recommend --input`.
In-process figures (labelled so): our Recommender (ONNX, batched) vs implicit's `recommend` on the same users.

    python bench/bench_recommend.py --days 40 --sessions-per-day 800          # ~2 min here
    python bench/bench_recommend.py --days 60 --sessions-per-day 20000        # the issue's scale (not run here)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from subprocess_timing import timed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--sessions-per-day", type=float, default=800)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=200, help="single-user calls for the p50")
    args = parser.parse_args()

    import numpy as np
    import polars as pl
    from threadpoolctl import threadpool_limits

    from engine.recommend.interactions import build_split
    from engine.recommend.serve import Recommender
    from engine.workspace import Workspace
    from models.recommend.candidates import ALS
    from models.recommend.metrics import ranking_metrics

    shopctl = [sys.executable, "-m", "console.cli.main"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "shop"
        events_path = Path(folder) / "events.parquet"
        subprocess.run([*shopctl, "init", str(root)], check=True, capture_output=True)
        subprocess.run(
            [
                *shopctl,
                "simulate",
                "--days",
                str(args.days),
                "--sessions-per-day",
                str(args.sessions_per_day),
                "--seed",
                str(args.seed),
                "--out",
                str(events_path),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*shopctl, "ingest", str(events_path), "-w", str(root)], check=True, capture_output=True
        )
        train = timed([*shopctl, "train", "recommendations", "-w", str(root), "--json"])
        payload = json.loads(train["stdout"])
        ws = Workspace(root)
        recommender = Recommender(ws)
        users = recommender.users
        users_file = Path(folder) / "users.csv"
        pl.DataFrame({"user_id": users}).write_csv(users_file)
        batch = timed(
            [
                *shopctl,
                "recommend",
                "--input",
                str(users_file),
                "--output",
                str(Path(folder) / "r.parquet"),
                "-w",
                str(root),
            ]
        )

        # In-process, same users, top 10: our batched ONNX path vs implicit's recommend on its own factors.
        start = time.perf_counter()
        recommender.recommend(users, 10)
        ours_batch = len(users) / (time.perf_counter() - start)
        single = []
        for user in users[: args.repeats]:
            start = time.perf_counter()
            recommender.recommend([user], 10)
            single.append(time.perf_counter() - start)

        from engine.events import scan_events

        config = ws.settings.recommend
        last = scan_events(ws).select(pl.col("event_time").max()).collect().item()
        from datetime import timedelta

        split = build_split(scan_events(ws), config, last + timedelta(microseconds=1))
        history = split.test.history
        als = ALS(config.als_factors, config.als_iterations, config.als_regularization, config.seed).fit(
            history.weights
        )
        model = als.model_
        rows = np.arange(history.weights.shape[0])
        with threadpool_limits(limits=1, user_api="blas"):
            start = time.perf_counter()
            model.recommend(rows, history.weights[rows], N=10, filter_already_liked_items=False)
            theirs_batch = len(rows) / (time.perf_counter() - start)
            theirs_single = []
            for row in rows[: args.repeats]:
                start = time.perf_counter()
                model.recommend(int(row), history.weights[int(row)], N=10, filter_already_liked_items=False)
                theirs_single.append(time.perf_counter() - start)
        # implicit's own ALS quality: its user factors, purchased items masked as for our candidates.
        targets = split.test.targets
        test_rows = list(targets)
        scores = np.asarray(model.user_factors)[test_rows] @ np.asarray(model.item_factors).T
        if config.exclude_purchased:
            scores[history.purchased[test_rows].toarray()] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :20]
        lists = [[history.items[index] for index in row] for row in top]
        implicit_metrics = ranking_metrics(
            lists, [targets[row] for row in test_rows], [False] * len(lists), len(history.items)
        )

    champion = payload["metrics"]["test"]
    popularity = payload["candidates"]["popularity"]["test"]
    print(
        f"simulated {args.days} days x {args.sessions_per_day:g} sessions/day; {payload['users']:,} users x "
        f"{payload['items']:,} items; champion {payload['model']} v{payload['version']}"
    )
    print(
        f"train recommendations (whole command): {train['seconds']:.1f} s, peak RSS {train['peak_rss_mb']:.0f} MB"
    )
    print(
        f"recommend --input, {len(users):,} users top-10 (whole command): {batch['seconds']:.2f} s = "
        f"{len(users) / batch['seconds']:,.0f} users/s"
    )
    print(
        f"in-process batch users/s  ours (ONNX) {ours_batch:,.0f}   implicit recommend {theirs_batch:,.0f}   "
        f"ratio {ours_batch / theirs_batch:.2f}"
    )
    print(
        f"in-process single p50 ms  ours {1e3 * float(np.median(single)):.2f}   implicit "
        f"{1e3 * float(np.median(theirs_single)):.2f}"
    )
    print(
        "test hit@10            champion {:.4f}   popularity {:.4f}   implicit ALS {:.4f}   (ndcg@10 {:.4f} / {:.4f} / {:.4f})".format(
            champion["hit_rate_at_10"],
            popularity["hit_rate_at_10"],
            implicit_metrics["hit_rate_at_10"],
            champion["ndcg_at_10"],
            popularity["ndcg_at_10"],
            implicit_metrics["ndcg_at_10"],
        )
    )
    print("command: python bench/bench_recommend.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
