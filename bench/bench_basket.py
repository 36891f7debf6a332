"""Benchmark: `shopctl basket rules` against mlxtend's FP-growth + association_rules on the same 1 M baskets.

Both legs run as subprocesses on the same workspace (built once under --root: synthetic orders with a
Zipf-like product popularity and planted complements) and read the same baskets (engine.analytics.basket's
basket_items over scan_events). Ours is the whole command; mlxtend's leg one-hot encodes the baskets (a dense
bool DataFrame, what its docs show) and mines itemsets up to length 2. The pair rules must be identical (same
antecedent/consequent pairs; support, confidence, lift and conviction equal to 1e-9, asserted); wall time and each
process's peak RSS (wait4) are printed with the command line.

    python bench/bench_basket.py --baskets 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from subprocess_timing import timed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHOPCTL = Path(sys.executable).with_name("shopctl")
PRODUCTS = 400


def build_workspace(root: Path, baskets: int, seed: int = 7) -> int:
    """Orders as purchase events: sizes 1 + Poisson(1.5), products by a Zipf-like law, planted pairs."""
    import numpy as np
    import polars as pl

    from engine.events import commit_events, conform
    from engine.workspace import init_workspace

    if (root / "config.toml").exists():
        return baskets
    ws, _ = init_workspace(root)
    rng = np.random.default_rng(seed)
    sizes = 1 + np.minimum(rng.poisson(1.5, baskets), 9)
    weights = 1 / np.arange(1, PRODUCTS + 1) ** 0.9
    basket_of = np.repeat(np.arange(baskets), sizes)
    items = rng.choice(PRODUCTS, size=basket_of.size, p=weights / weights.sum())
    planted = (items < 60) & (
        rng.random(items.size) < 0.35
    )  # complements: product k often comes with k + 200
    basket_of = np.concatenate([basket_of, basket_of[planted]])
    items = np.concatenate([items, items[planted] + 200])
    start = np.datetime64("2026-01-01T00:00:00", "us")
    frame = pl.DataFrame(
        {
            "event_time": start + (basket_of * (60 * 86400 / baskets) * 1e6).astype("timedelta64[us]"),
            "event_type": "purchase",
            "event_name": "purchase",
            "session_id": pl.Series(basket_of).cast(pl.String),
            "order_id": pl.Series(basket_of).cast(pl.String),
            "product_id": pl.Series(items).cast(pl.String),
            "price": 10.0,
            "quantity": 1,
        }
    ).with_columns(
        pl.col("event_time").dt.replace_time_zone("UTC"),
        (pl.lit("o") + pl.col("order_id")).alias("order_id"),
        (pl.lit("s") + pl.col("session_id")).alias("session_id"),
        (pl.lit("p") + pl.col("product_id").str.zfill(3)).alias("product_id"),
    )
    frame = frame.unique(["order_id", "product_id"])
    # one event per (order, product) with distinct seconds, so none is a duplicate of another
    frame = frame.with_columns(
        pl.col("event_time") + pl.duration(microseconds=pl.int_range(pl.len()).over("order_id"))
    )
    stored = commit_events(ws, conform(frame, list(ws.settings.schema.dimensions)).collect(), "bench")
    print(f"  stored {stored['rows_stored']:,} purchase events", file=sys.stderr)
    return baskets


def mlxtend_worker(workspace: Path, min_support: float, min_confidence: float) -> None:
    """The alternative leg: the same baskets, one-hot, FP-growth (max_len 2), association_rules; JSON out."""
    import numpy as np
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    from engine.analytics.basket import basket_items
    from engine.events import scan_events
    from engine.workspace import open_workspace

    items = basket_items(scan_events(open_workspace(workspace))).collect()
    basket_codes = items["basket"].cast(pl_categorical()).to_physical().to_numpy()
    names = sorted(items["item"].unique().to_list())
    index = {name: code for code, name in enumerate(names)}
    item_codes = np.array([index[name] for name in items["item"].to_list()])
    onehot = np.zeros((int(basket_codes.max()) + 1, len(names)), dtype=bool)
    onehot[basket_codes, item_codes] = True
    frame = pd.DataFrame(onehot, columns=names)
    itemsets = fpgrowth(frame, min_support=min_support, use_colnames=True, max_len=2)
    rules = association_rules(itemsets, metric="confidence", min_threshold=min_confidence)
    out = [
        {
            "antecedent": sorted(row.antecedents),
            "consequent": sorted(row.consequents),
            "support": row.support,
            "confidence": row.confidence,
            "lift": row.lift,
            "conviction": None if math.isinf(row.conviction) else row.conviction,
        }
        for row in rules.itertuples()
    ]
    sys.stdout.write(json.dumps({"rules": out}))


def pl_categorical():  # noqa: ANN201 - polars is imported inside the worker only
    import polars as pl

    return pl.Categorical


def keyed(rules: list[dict]) -> dict[tuple, dict]:
    return {(tuple(rule["antecedent"]), tuple(rule["consequent"])): rule for rule in rules}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baskets", type=int, default=1_000_000)
    parser.add_argument("--min-support", type=float, default=0.001)
    parser.add_argument("--min-confidence", type=float, default=0.05)
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=Path("/tmp/shopctl-bench-basket"))
    parser.add_argument("--mlxtend-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_workspace(args.root / f"ws-{args.baskets}", args.baskets)
        return
    if args.mlxtend_worker:
        mlxtend_worker(args.mlxtend_worker, args.min_support, args.min_confidence)
        return
    root = args.root / f"ws-{args.baskets}"
    # built in a child process: a forked leg's ru_maxrss starts at its parent's peak, so the parent stays small
    subprocess.run(
        [sys.executable, __file__, "--build-only", "--baskets", str(args.baskets), "--root", str(args.root)],
        check=True,
    )
    thresholds = ["--min-support", str(args.min_support), "--min-confidence", str(args.min_confidence)]
    ours_command = [
        str(SHOPCTL),
        "basket",
        "rules",
        *thresholds,
        "--top",
        "100000000",
        "--json",
        "-w",
        str(root),
    ]
    theirs_command = [sys.executable, __file__, "--mlxtend-worker", str(root), *thresholds]
    ours = timed(ours_command)
    theirs = timed(theirs_command)
    for leg in (ours, theirs):
        leg["rules"] = json.loads(leg.pop("stdout"))["rules"]
    mine, reference = keyed(ours["rules"]), keyed(theirs["rules"])
    assert mine.keys() == reference.keys(), (
        len(mine),
        len(reference),
        list(mine.keys() ^ reference.keys())[:5],
    )
    for key, rule in reference.items():
        for metric in ("support", "confidence", "lift", "conviction"):
            a, b = mine[key][metric], rule[metric]
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-9), (key, metric, a, b)
    print(
        f"{args.baskets:,} baskets, {len(mine):,} pair rules, identical to mlxtend's (support, confidence, lift, conviction)"
    )
    for name, result, command in (
        ("shopctl basket rules", ours, ours_command),
        ("mlxtend fpgrowth + association_rules", theirs, theirs_command),
    ):
        print(
            f"{name:<38} {result['seconds']:7.2f}s  peak RSS {result['peak_rss_mb']:7.0f} MB   {' '.join(command)}"
        )
    print(
        f"ratio: {theirs['seconds'] / ours['seconds']:.1f}x faster, "
        f"{theirs['peak_rss_mb'] / ours['peak_rss_mb']:.1f}x less peak memory"
    )
    print(f"command: python bench/bench_basket.py --baskets {args.baskets}")


if __name__ == "__main__":
    main()
