"""The feeds of a rewritten graph: category codes, numeric blocks and encoded matrices, and the plan that builds them.

ScoringModel (engine/scoring/model.py) builds every feed from the caller's per-column values through a FeedPlan;
the probe (probe.py) uses FeedPlan.adapt to feed the rewritten graph what the original one got.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

UNKNOWN_CODE = -1
# Integer types whose every value an Int64 holds (the codes of an integer column are looked up as Int64).
INT64_SAFE = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
NAN = float("nan")


class StringEncoder:
    """Maps category strings to their code in a fixed vocabulary (UNKNOWN_CODE for anything else)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = list(vocabulary)
        self._index = {value: code for code, value in enumerate(self.vocabulary)}
        self._codes = pl.Series(range(len(self.vocabulary)), dtype=pl.Int64)
        self._keys = pl.Series(self.vocabulary, dtype=pl.String)

    def encode(self, series: pl.Series) -> np.ndarray:
        """Codes of a String series without nulls (the caller fills them first)."""
        codes = series.replace_strict(self._keys, self._codes, default=UNKNOWN_CODE, return_dtype=pl.Int64)
        return codes.to_numpy()

    def encode_list(self, texts: list[str]) -> np.ndarray:
        """Codes of a short list of strings (the single-row path)."""
        index = self._index
        return np.array([index.get(text, UNKNOWN_CODE) for text in texts], dtype=np.int64)


def category_text(value: Any, missing_category: str) -> str:
    """A row value as the category text polars' String cast gives a frame's value (True -> "true", not "True")."""
    if value is None:
        return missing_category
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical_integer(text: str) -> int | None:
    """The integer whose polars String cast is exactly text ("3" -> 3, "-12" -> -12; "03", "3.0", "+3" -> None)."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if str(value) == text else None


def category_codes(
    column: str,
    dtype: pl.DataType,
    vocabulary: list[str],
    missing_category: str,
    *,
    offset: int = 0,
    unknown: int = UNKNOWN_CODE,
    nulls: bool = True,
) -> pl.Expr:
    """Int32 offset + code of each value of column in vocabulary (`unknown` when absent), as its String cast
    matches: null counts as missing_category (nulls=False: the caller knows the column has none). Integer and
    boolean columns are looked up as themselves (the vocabulary entries that are their String cast, "3" or
    "true"), without making a string per row."""
    source = pl.col(column)
    if dtype in INT64_SAFE:
        keys = {canonical_integer(text): code for code, text in enumerate(vocabulary)}
        keys.pop(None, None)
        source = source.cast(pl.Int64)
    elif dtype == pl.Boolean:
        keys = {text == "true": code for code, text in enumerate(vocabulary) if text in ("true", "false")}
    else:
        # Strings through an Enum of the vocabulary (a non-strict cast leaves unknown values null): a third faster
        # than replace_strict's hash lookup.
        text = source if dtype == pl.String else source.cast(pl.String)
        if nulls and missing_category in vocabulary:
            text = text.fill_null(missing_category)
        codes = text.cast(pl.Enum(vocabulary), strict=False).to_physical().cast(pl.Int32)
        return (codes + offset).fill_null(unknown) if offset else codes.fill_null(unknown)
    mapped = source.replace_strict(
        list(keys), [offset + code for code in keys.values()], default=unknown, return_dtype=pl.Int32
    )
    if not nulls or missing_category not in vocabulary:
        return mapped  # replace_strict gives a null its default, `unknown`, which is right here
    null_code = offset + vocabulary.index(missing_category)
    return pl.when(source.is_null()).then(pl.lit(null_code, dtype=pl.Int32)).otherwise(mapped)


@dataclass(frozen=True)
class NumericBlock:
    """Numeric columns fed together as one C-ordered [N, k] input named `name`."""

    name: str
    columns: tuple[str, ...]
    dtype: str


@dataclass(frozen=True, eq=False)
class MatrixFeed:
    """An encoded feature matrix fed whole as one C-ordered float32 [N, width] input named `name`: per segment,
    (column, None) is a numeric column as it is (null = NaN) and (column, category) the 0/1 column a one-hot encoder
    gives that category (null = the missing category; unknown = 0 everywhere)."""

    name: str
    segments: tuple[tuple[str, str | None], ...]

    @property
    def columns(self) -> set[str]:
        return {column for column, _ in self.segments}

    def expressions(self, schema: Mapping[str, pl.DataType], missing_category: str) -> list[pl.Expr]:
        """polars expressions for the matrix columns of a frame with this schema."""
        texts = {
            column: pl.col(column).cast(pl.String).fill_null(missing_category)
            if schema[column] != pl.String
            else pl.col(column).fill_null(missing_category)
            for column, category in self.segments
            if category is not None
        }
        return [
            pl.col(column).cast(pl.Float32).alias(f"c{index}")
            if category is None
            else (texts[column] == category).cast(pl.Float32).alias(f"c{index}")
            for index, (column, category) in enumerate(self.segments)
        ]

    def build(self, frame: pl.DataFrame, missing_category: str) -> np.ndarray:
        """The matrix of a frame, the same values as `expressions` gives: numeric columns cast to float32 in one
        select; every categorical column mapped in one select to an index into a table of (position, value)
        (category_codes: the category's position and 1, or for an unknown value one of the column's own positions
        and 0, a cell that is 0 anyway in that row), then one scatter into a zeroed matrix. One write per row and
        categorical column, not one comparison per category."""
        height, width = frame.height, len(self.segments)
        matrix = np.zeros((height, width), dtype=np.float32)
        numeric_positions, numeric_columns = self._numeric_layout
        if numeric_columns:
            values = frame.select(pl.col(column).cast(pl.Float32) for column in numeric_columns).to_numpy()
            matrix[:, numeric_positions] = values
        layers = self._category_layers
        if not layers or not height:
            return matrix
        schema = frame.schema
        expressions = []
        offset = 0
        for column, vocabulary, _ in layers:
            expressions.append(
                category_codes(
                    column,
                    schema[column],
                    vocabulary,
                    missing_category,
                    offset=offset,
                    unknown=offset + len(vocabulary),
                    nulls=frame.get_column(column).null_count() > 0,
                )
            )
            offset += len(vocabulary) + 1
        codes = frame.select(expression.alias(f"k{index}") for index, expression in enumerate(expressions))
        indices = codes.to_numpy(order="c")  # [N, layers]: rows into the (position, value) table
        positions, ones = self._scatter_table
        cells = positions[indices]
        cells += np.arange(0, height * width, width, dtype=np.int64)[:, None]
        matrix.reshape(-1)[cells] = ones[indices]
        return matrix

    @cached_property
    def _scatter_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Per layer, the position of each category then that of an unknown value (the layer's first position),
        and the value written there (1 for a category, 0 for unknown)."""
        positions: list[int] = []
        ones: list[float] = []
        for _, vocabulary, layer_positions in self._category_layers:
            positions += [*layer_positions.tolist(), int(layer_positions[0])]
            ones += [1.0] * len(vocabulary) + [0.0]
        return np.asarray(positions, dtype=np.int64), np.asarray(ones, dtype=np.float32)

    @cached_property
    def _numeric_layout(self) -> tuple[np.ndarray | slice, list[str]]:
        positions = [position for position, _ in self._numeric_positions]
        columns = [column for _, column in self._numeric_positions]
        if positions and positions == list(range(positions[0], positions[0] + len(positions))):
            return slice(positions[0], positions[0] + len(positions)), columns  # a plain slice: no gather
        return np.asarray(positions, dtype=np.intp), columns

    @cached_property
    def _category_layers(self) -> list[tuple[str, list[str], np.ndarray]]:
        """(column, vocabulary, position per code) per categorical column; a category listed twice for one column
        (two encoders of it in one matrix) goes to a second layer, so every one of its positions gets its 1."""
        layers: list[tuple[str, list[str], list[int]]] = []
        for position, (column, category) in enumerate(self.segments):
            if category is None:
                continue
            layer = next((item for item in layers if item[0] == column and category not in item[1]), None)
            if layer is None:
                layer = (column, [], [])
                layers.append(layer)
            layer[1].append(category)
            layer[2].append(position)
        return [
            (column, vocabulary, np.asarray(positions, dtype=np.int64))
            for column, vocabulary, positions in layers
        ]

    def from_rows(self, rows: Sequence[Mapping[str, Any]], missing_category: str) -> np.ndarray:
        """The matrix from row dicts (the single-row API, the probe): plain Python per row, then one float32 array;
        a value numpy cannot read as a number raises TypeError or ValueError."""
        width = len(self.segments)
        numeric, categories = self._numeric_positions, self._category_positions
        matrix = []
        for row in rows:
            values = [0.0] * width
            for position, column in numeric:
                value = row[column]
                values[position] = NAN if value is None else value
            for column, lookup in categories.items():
                value = row[column]
                hit = lookup.get(category_text(value, missing_category))
                if hit is not None:
                    values[hit] = 1.0
            matrix.append(values)
        return np.array(matrix, dtype=np.float32).reshape(len(rows), width)

    @cached_property
    def _numeric_positions(self) -> list[tuple[int, str]]:
        return [
            (position, column)
            for position, (column, category) in enumerate(self.segments)
            if category is None
        ]

    @cached_property
    def _category_positions(self) -> dict[str, dict[str, int]]:
        lookups: dict[str, dict[str, int]] = {}
        for position, (column, category) in enumerate(self.segments):
            if category is not None:
                lookups.setdefault(column, {}).setdefault(category, position)
        return lookups


@dataclass
class FeedPlan:
    """How feeds for the (rewritten) graph are built from per-column values."""

    encoders: dict[str, StringEncoder] = field(default_factory=dict)
    blocks: list[NumericBlock] = field(default_factory=list)
    matrices: list[MatrixFeed] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # inputs now read only through a matrix
    scalers: int = 0  # Scaler nodes rewritten as Sub + Mul (no effect on the feeds)
    folded: int = 0  # Scaler nodes folded into the linear operators that read them
    merged: int = 0  # nodes dropped as exact duplicates of another (same op, inputs and attributes)
    pruned: int = 0  # nodes dropped because they only fed outputs the caller never fetches
    trees: int = 0  # binary tree classifiers rewritten as a tree regressor and a Sigmoid

    @property
    def changed(self) -> bool:
        return bool(
            self.encoders
            or self.blocks
            or self.matrices
            or self.scalers
            or self.folded
            or self.merged
            or self.pruned
            or self.trees
        )

    @property
    def absent(self) -> set[str]:
        """Model inputs the rewritten graph does not take as themselves (fed inside a block or a matrix)."""
        return {column for block in self.blocks for column in block.columns} | self.dropped

    def adapt(self, column_feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-column feeds of the original graph turned into feeds of the rewritten one (used by the probe)."""
        absent = self.absent
        feeds = {name: values for name, values in column_feeds.items() if name not in absent}
        for name, encoder in self.encoders.items():
            if name not in absent:
                feeds[name] = encoder.encode_list([str(v) for v in column_feeds[name].ravel()]).reshape(-1, 1)
        for block in self.blocks:
            feeds[block.name] = np.ascontiguousarray(np.hstack([column_feeds[c] for c in block.columns]))
        if self.matrices:
            columns = {name: values.ravel().tolist() for name, values in column_feeds.items()}
            rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
            for matrix in self.matrices:  # the probe's texts are the filled categories already
                feeds[matrix.name] = matrix.from_rows(rows, missing_category="")
        return feeds
