"""Train/validation/test splits: by time when the table has a time column, stratified by the label otherwise.

A time split trains on the past and tests on the future, which is how the model will be used; a random split on
time-ordered data would leak the future into training and flatter the scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from engine.errors import InputError
from engine.spec import TableSpec

MIN_ROWS_PER_PART = 5


@dataclass(frozen=True)
class Split:
    """Row positions of each part and how they were chosen ("time", "stratified" or "random")."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    method: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def split_rows(
    frame: pl.DataFrame, spec: TableSpec, fractions: tuple[float, float, float], seed: int
) -> Split:
    """Split the rows of frame into train/validation/test positions following the module's rule."""
    from sklearn.model_selection import (
        train_test_split,  # lazily: scikit-learn loads rich (see models/metrics.py)
    )

    rows = frame.height
    if rows < 3 * MIN_ROWS_PER_PART:
        raise InputError(
            f"only {rows} labelled rows; training needs at least {3 * MIN_ROWS_PER_PART} (more data, or a longer window)"
        )
    train_end = int(round(rows * fractions[0]))
    validation_end = int(round(rows * (fractions[0] + fractions[1])))
    if spec.time_column and spec.time_column in frame.columns and frame[spec.time_column].null_count() < rows:
        order = np.asarray(
            frame.with_row_index("_row").sort(spec.time_column, nulls_last=False, maintain_order=True)["_row"]
        )
        split = Split(order[:train_end], order[train_end:validation_end], order[validation_end:], "time")
    else:
        positions = np.arange(rows)
        labels = frame[spec.target].to_numpy() if spec.task == "binary" and spec.target else None
        stratify = labels if labels is not None and np.bincount(labels.astype(int)).min() >= 3 else None
        rest_size = 1.0 - fractions[0]
        train, rest = train_test_split(
            positions, test_size=rest_size, random_state=seed, stratify=stratify, shuffle=True
        )
        rest_stratify = stratify[rest] if stratify is not None else None
        validation, test = train_test_split(
            rest,
            test_size=fractions[2] / rest_size,
            random_state=seed + 1,
            stratify=rest_stratify,
            shuffle=True,
        )
        split = Split(
            np.sort(train),
            np.sort(validation),
            np.sort(test),
            "stratified" if stratify is not None else "random",
        )
    _check_parts(frame, spec, split)
    return split


def _check_parts(frame: pl.DataFrame, spec: TableSpec, split: Split) -> None:
    for part, positions in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        if len(positions) < MIN_ROWS_PER_PART:
            raise InputError(
                f"the {part} part has {len(positions)} rows; add data or change [training] split"
            )
        if spec.task == "binary" and spec.target:
            labels = frame[spec.target].to_numpy()[positions]
            if labels.min() == labels.max():
                raise InputError(
                    f"the {part} part ({split.method} split) has only label {int(labels[0])} in '{spec.target}'; "
                    "both classes are needed: add data or widen the time window"
                )
