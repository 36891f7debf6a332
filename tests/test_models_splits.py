"""Splits: by time when the table has a time column, stratified by the label otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from engine.errors import InputError
from engine.spec import TableSpec
from models.splits import split_rows

SPEC = TableSpec(numeric=("x",), categorical=(), target="y")


def _frame(rows: int, positive_every: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    start = datetime(2024, 1, 1)
    # Times shuffled so the split has to sort them.
    offsets = rng.permutation(rows)
    return pl.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": [int(i % positive_every == 0) for i in range(rows)],
            "at": [start + timedelta(minutes=int(offset)) for offset in offsets],
        }
    )


def test_time_split_trains_on_the_past_and_tests_on_the_future() -> None:
    frame = _frame(1000)
    split = split_rows(
        frame, TableSpec(numeric=("x",), categorical=(), target="y", time_column="at"), (0.7, 0.15, 0.15), 0
    )
    assert split.method == "time"
    assert split.sizes() == {"train": 700, "validation": 150, "test": 150}
    times = frame["at"]
    assert times[split.train].max() < times[split.validation].min()
    assert times[split.validation].max() < times[split.test].min()
    assert len(set(split.train) | set(split.validation) | set(split.test)) == 1000


def test_stratified_split_keeps_the_positive_rate_and_is_seeded() -> None:
    frame = _frame(1000)
    split = split_rows(frame, SPEC, (0.7, 0.15, 0.15), 42)
    assert split.method == "stratified"
    labels = frame["y"].to_numpy()
    for part in (split.train, split.validation, split.test):
        assert labels[part].mean() == pytest.approx(0.2, abs=0.01)
    again = split_rows(frame, SPEC, (0.7, 0.15, 0.15), 42)
    assert np.array_equal(split.test, again.test)
    other = split_rows(frame, SPEC, (0.7, 0.15, 0.15), 43)
    assert not np.array_equal(split.test, other.test)


def test_regression_split_is_random() -> None:
    frame = _frame(200).with_columns(pl.col("x").alias("y"))
    split = split_rows(
        frame, TableSpec(numeric=("x",), categorical=(), target="y", task="regression"), (0.6, 0.2, 0.2), 0
    )
    assert split.method == "random"
    assert split.sizes() == {"train": 120, "validation": 40, "test": 40}


def test_a_part_without_positives_is_an_error() -> None:
    spec = TableSpec(numeric=("x",), categorical=(), target="y", time_column="at")
    # Positives only in the oldest rows: the later parts have none.
    frame = _frame(100).sort("at").with_columns(pl.Series("y", [1] * 3 + [0] * 97))
    with pytest.raises(InputError, match="validation part .*only label 0"):
        split_rows(frame, spec, (0.7, 0.15, 0.15), 0)


def test_too_few_rows_is_an_error() -> None:
    with pytest.raises(InputError, match="only 6 labelled rows"):
        split_rows(_frame(6), SPEC, (0.7, 0.15, 0.15), 0)
