"""The mixed-type table the monitor benchmark trains on and checks: 25 columns of floats, integers, strings,
booleans and nulls (not only floats, which flatter every engine)."""

from __future__ import annotations

import numpy as np
import polars as pl

FLOATS = [f"amount_{i:02d}" for i in range(12)]
INTEGERS = ["page_views", "items_viewed", "minutes_on_site"]
STRINGS = {"device": 3, "channel": 8, "country": 40, "landing_page": 400}
BOOLEANS = ["is_returning", "has_coupon"]
ID_COLUMN = "session_id"
TARGET = "converted"
TIME_COLUMN = "session_start"
FEATURES = [*FLOATS, *INTEGERS, *STRINGS, *BOOLEANS]
NULL_SHARE = 0.03


def make_table(rows: int, seed: int, *, drifted: bool) -> pl.DataFrame:
    """An id, a time, 12 floats (some with nulls), 3 counts, 4 strings (3 to 400 values, nulls), 2 booleans
    and a boolean label: 23 features, 25 columns. `drifted` shifts a third of the floats, one count, one
    string column and a boolean."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {
        ID_COLUMN: [f"s{seed}-{position}" for position in range(rows)],
    }
    start = np.datetime64("2026-11-01T00:00:00", "us")
    offsets = np.sort(rng.integers(0, 86_400_000_000, rows))
    columns[TIME_COLUMN] = start + offsets.astype("timedelta64[us]")
    signal = np.zeros(rows)
    for position, name in enumerate(FLOATS):
        shift = 0.3 if drifted and position % 3 == 0 else 0.0
        shape = position % 4
        if shape == 0:
            values = rng.normal(10 + position + shift * (1 + position), 1 + position, rows)
        elif shape == 1:
            values = rng.lognormal(2 + shift, 0.6, rows)
        elif shape == 2:
            values = rng.exponential(5 * (1 + shift), rows)
        else:
            values = rng.uniform(0, 1 + shift, rows)
        signal += (values - values.mean()) / (values.std() + 1e-9) * (0.3 if position < 4 else 0.05)
        if position % 2 == 0:
            values = np.where(rng.random(rows) < NULL_SHARE, np.nan, values)
        columns[name] = values
    for position, name in enumerate(INTEGERS):
        rate = (3, 12, 25)[position] * (1.4 if drifted and position == 0 else 1.0)
        values = rng.poisson(rate, rows)
        signal += (values - rate) / np.sqrt(rate) * 0.2
        columns[name] = values.astype(np.int64)
    for name, cardinality in STRINGS.items():
        skew = 1.3 if drifted and name == "channel" else 1.0
        weights = 1.0 / np.arange(1, cardinality + 1) ** skew
        codes = rng.choice(cardinality, rows, p=weights / weights.sum())
        signal += (codes % 3 - 1) * 0.15
        labels = pl.Series(name, [f"{name}_{code}" for code in range(cardinality)], dtype=pl.String)
        missing = pl.Series(rng.random(rows) < NULL_SHARE)
        columns[name] = pl.select(
            pl.when(missing).then(None).otherwise(labels.gather(codes)).alias(name)
        ).to_series()
    for position, name in enumerate(BOOLEANS):
        share = (0.4, 0.1)[position] + (0.1 if drifted and position == 1 else 0.0)
        values = rng.random(rows) < share
        signal += values * 0.4
        columns[name] = values
    probability = 1.0 / (1.0 + np.exp(-(signal - 2.0)))
    columns[TARGET] = rng.random(rows) < probability
    return pl.DataFrame(columns)
