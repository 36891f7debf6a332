"""Recommendations at the issue's scale, whole commands: `shopctl ingest --preset rees46`, `shopctl train
recommendations` (every candidate) and `shopctl recommend --input` on 100 k users x 20 k items x 10 M events.

The events are REES46-shaped (event_time strings with ' UTC', event_type, product_id, category_id,
category_code with nulls, brand with nulls, price, user_id, user_session) and carry a collaborative signal:
items have a Zipf-like popularity inside 400 categories, each user keeps three favourite categories (80% of
their sessions) and a personal set of products they come back to. The file is generated once, in its own
process (so its memory is not counted in the commands' peak RSS, which comes from wait4), and reused.

    python bench/bench_recommend_scale.py                                  # 10 M events (several minutes)
    python bench/bench_recommend_scale.py --events 2000000 --users 20000 --items 5000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from subprocess_timing import timed

ROOT = Path(__file__).resolve().parents[1]
DAYS = 60


def generate(path: Path, events: int, users: int, items: int, seed: int) -> None:
    """Write the REES46-shaped Parquet file (run in its own process)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    categories = 400
    item_category = rng.integers(0, categories, items)
    item_weight = 1.0 / np.arange(1, items + 1) ** 0.9  # long tail
    rng.shuffle(item_weight)
    by_category = [np.flatnonzero(item_category == c) for c in range(categories)]
    category_cdf = [np.cumsum(item_weight[idx]) / item_weight[idx].sum() for idx in by_category]
    favourites = rng.integers(0, categories, (users, 3))
    revisit = rng.integers(0, items, (users, 5))  # products each user keeps coming back to

    session_length = 6
    sessions = events // session_length
    session_user = rng.integers(0, users, sessions)
    session_start = np.sort(rng.integers(0, DAYS * 86_400, sessions))
    user = np.repeat(session_user, session_length)
    seconds = np.repeat(session_start, session_length) + np.tile(np.arange(session_length) * 40, sessions)
    # Each session browses one category: a favourite 80% of the time, else any.
    chosen = np.where(
        rng.random(sessions) < 0.8,
        favourites[session_user, rng.integers(0, 3, sessions)],
        rng.integers(0, categories, sessions),
    )
    session_category = np.repeat(chosen, session_length)
    product = np.empty(user.size, dtype=np.int64)
    draws = rng.random(user.size)
    for category in range(categories):
        rows = np.flatnonzero(session_category == category)
        if rows.size and by_category[category].size:
            picks = np.searchsorted(category_cdf[category], draws[rows])
            product[rows] = by_category[category][np.minimum(picks, by_category[category].size - 1)]
        elif rows.size:
            product[rows] = rng.integers(0, items, rows.size)
    back = rng.random(user.size) < 0.15
    product[back] = revisit[user[back], rng.integers(0, 5, int(back.sum()))]
    kinds = np.array(["view", "cart", "remove_from_cart", "purchase"])
    event_type = kinds[rng.choice(4, user.size, p=[0.9, 0.06, 0.015, 0.025])]
    start = np.datetime64("2019-10-01T00:00:00", "s")
    codes = np.array([f"category{c}.sub{c % 7}" for c in range(categories)])
    brands = np.array([f"brand{b}" for b in range(300)])
    frame = pl.DataFrame(
        {
            "event_time": pl.Series((start + seconds.astype("timedelta64[s]")).astype(str)).str.replace(
                "T", " "
            )
            + " UTC",
            "event_type": event_type,
            "product_id": 1_000_000 + product,
            "category_id": 2_053_013_552_226_107_603 + item_category[product],
            "category_code": pl.Series(codes[item_category[product]]).set(
                pl.Series(rng.random(user.size) < 0.3), None
            ),
            "brand": pl.Series(brands[product % 300]).set(pl.Series(rng.random(user.size) < 0.15), None),
            "price": np.round(5 + (product % 997) * 1.7, 2),
            "user_id": 500_000_000 + user,
            "user_session": pl.Series(np.repeat(np.arange(sessions), session_length)).cast(pl.String),
        }
    ).sort("event_time")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    frame.write_parquet(partial)
    partial.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "shopctl-bench-recs")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate, args.events, args.users, args.items, args.seed)
        return

    events_file = args.data / f"recs-{args.events}-{args.users}-{args.items}-{args.seed}.parquet"
    if not events_file.exists():
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--generate",
                str(events_file),
                "--events",
                str(args.events),
                "--users",
                str(args.users),
                "--items",
                str(args.items),
                "--seed",
                str(args.seed),
            ],
            check=True,
        )
    shopctl = [sys.executable, "-m", "console.cli.main"]
    with tempfile.TemporaryDirectory(dir=args.data) as folder:
        root = Path(folder) / "shop"
        subprocess.run([*shopctl, "init", str(root)], check=True, capture_output=True, cwd=ROOT)
        ingest = timed(
            [*shopctl, "ingest", str(events_file), "--preset", "rees46", "-w", str(root), "--json"]
        )
        train = timed([*shopctl, "train", "recommendations", "-w", str(root), "--json"])
        payload = json.loads(train["stdout"])
        users_file = Path(folder) / "users.csv"
        import polars as pl

        users = pl.read_parquet(events_file, columns=["user_id"]).unique().sort("user_id")
        users.write_csv(users_file)
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
    print(
        f"{args.events:,} events, {payload['users']:,} users x {payload['items']:,} items in the training window; "
        f"champion {payload['model']}"
    )
    print(
        f"ingest --preset rees46 (whole command): {ingest['seconds']:.1f} s, peak RSS {ingest['peak_rss_mb']:.0f} MB"
    )
    print(
        f"train recommendations, {len(payload['candidates'])} candidates (whole command): {train['seconds']:.1f} s, "
        f"peak RSS {train['peak_rss_mb']:.0f} MB   (goal: < 120 s, < 4,096 MB)"
    )
    print(
        f"recommend --input {users.height:,} users top-10 (whole command): {batch['seconds']:.1f} s = "
        f"{users.height / batch['seconds']:,.0f} users/s, peak RSS {batch['peak_rss_mb']:.0f} MB"
    )
    print("test           hit@10   ndcg@10  coverage")
    for name, metrics in payload["candidates"].items():
        test = metrics["test"]
        print(f"{name:<12} {test['hit_rate_at_10']:.4f}   {test['ndcg_at_10']:.4f}   {test['coverage']:.4f}")
    print("command: python bench/bench_recommend_scale.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
