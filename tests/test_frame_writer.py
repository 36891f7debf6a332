"""engine.infra.frame_writer.sink_frames: a frame stream written whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from engine.infra.frame_writer import sink_frames

SCHEMA = pl.Schema({"a": pl.Int64, "b": pl.String})


def _frames(count: int, fail_at: int | None = None) -> Iterator[pl.DataFrame]:
    for index in range(count):
        if index == fail_at:
            raise ValueError(f"window {index} could not be read")
        yield pl.DataFrame({"a": [index, index + 10], "b": ["x", "y"]}, schema=SCHEMA)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_frames_are_written_in_order(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"out.{fmt}"
    sink_frames(_frames(3), SCHEMA, target, fmt)
    read = {"parquet": pl.read_parquet, "csv": pl.read_csv, "jsonl": pl.read_ndjson}[fmt]
    assert read(target)["a"].to_list() == [0, 10, 1, 11, 2, 12]
    assert [path.name for path in tmp_path.iterdir()] == [target.name]


def test_an_error_in_the_stream_is_raised_and_leaves_the_last_good_file(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    sink_frames(_frames(1), SCHEMA, target)
    with pytest.raises(ValueError, match="window 2 could not be read"):
        sink_frames(_frames(4, fail_at=2), SCHEMA, target)
    assert pl.read_parquet(target)["a"].to_list() == [0, 10]  # the previous file, untouched
    assert [path.name for path in tmp_path.iterdir()] == [target.name]  # no temp file left behind
