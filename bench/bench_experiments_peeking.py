"""Peeking at A/A experiments: the fixed-horizon z-test looked at daily versus the always-valid sequence.

1,000 A/A experiments (no true difference), each looked at once a day for 30 days; an experiment is a false
positive when any look calls it significant. Seeded, vectorised numpy (in-process figures).

    python bench/bench_experiments_peeking.py [--experiments 1000] [--days 30] [--per-day 1000] [--rate 0.03]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy import stats

from engine.analytics.sequential import DEFAULT_TUNING, half_width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=1000, help="sessions per variant per day")
    parser.add_argument("--rate", type=float, default=0.03, help="conversion rate of both arms")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    shape = (args.experiments, args.days)
    conversions_a = rng.binomial(args.per_day, args.rate, shape).cumsum(axis=1)
    conversions_b = rng.binomial(args.per_day, args.rate, shape).cumsum(axis=1)
    n = args.per_day * np.arange(1, args.days + 1)
    rate_a, rate_b = conversions_a / n, conversions_b / n
    error = np.sqrt(rate_a * (1 - rate_a) / n + rate_b * (1 - rate_b) / n)
    difference = np.abs(rate_b - rate_a)
    # Fixed horizon: the pooled two-proportion z-test, as `experiment analyze` runs it, at every daily look.
    pooled = (conversions_a + conversions_b) / (2 * n)
    z = difference / np.sqrt(pooled * (1 - pooled) * 2 / n)
    fixed_daily = (2 * stats.norm.sf(z) < args.alpha).any(axis=1).mean()
    fixed_once = (2 * stats.norm.sf(z[:, -1]) < args.alpha).mean()
    sequential = (difference > half_width(error, 2 * n, args.alpha, DEFAULT_TUNING)).any(axis=1).mean()
    seconds = time.perf_counter() - started

    print("command: " + " ".join(["python", *sys.argv]))
    print(
        f"{args.experiments:,} A/A experiments, {args.days} daily looks, {args.per_day:,} sessions per arm a day, "
        f"rate {args.rate:g}, alpha {args.alpha:g}, seed {args.seed}"
    )
    print(f"fixed-horizon z-test, looked at once at the end:  {fixed_once:6.1%} false positives")
    print(f"fixed-horizon z-test, peeked daily:               {fixed_daily:6.1%} false positives")
    print(f"always-valid confidence sequence, peeked daily:   {sequential:6.1%} false positives")
    print(f"({seconds:.2f} s in-process)")


if __name__ == "__main__":
    main()
