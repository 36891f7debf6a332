"""Write a stream of polars frames to one file, atomically, holding one frame at a time.

Scoring (engine/scoring/stream.py) and the windowed feature build (engine/features/windows.py) both produce frames
one chunk or time window at a time. polars sinks them through `register_io_source`; the file appears only when
the whole stream was written (engine.infra.atomic.atomic_path), and an error in the stream is raised once the sink has
finished: raised inside the sink, it let the writer create the temp file after our cleanup had run (a race that
left a stray file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

from engine.infra.atomic import atomic_path

SINKS = {"parquet": "sink_parquet", "csv": "sink_csv", "jsonl": "sink_ndjson"}


def sink_frames(
    frames: Iterable[pl.DataFrame], schema: pl.Schema | dict, target: Path, fmt: str = "parquet"
) -> None:
    """Write frames, in order, to target as Parquet, CSV or JSON Lines; nothing at target unless all were written."""
    failure: list[Exception] = []

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        left = n_rows
        try:
            for frame in frames:
                if predicate is not None:
                    frame = frame.filter(predicate)
                if with_columns is not None:
                    frame = frame.select(with_columns)
                if left is not None:
                    frame, left = frame.head(left), left - min(left, frame.height)
                yield frame
                if left == 0:
                    return
        except Exception as error:  # noqa: BLE001 - raised below, once the sink has finished
            failure.append(error)

    lazy = register_io_source(source, schema=schema)
    with atomic_path(target, suffix=f".{fmt}") as temp:
        try:
            getattr(lazy, SINKS[fmt])(temp)
        except Exception:
            if failure:
                raise failure[0] from None
            raise
        if failure:
            raise failure[0]
