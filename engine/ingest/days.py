"""Valid rows on their way to the store, held by event date and staged as soon as the input has moved past
their date, so a time-sorted file (the usual export) never goes to disk twice; when more than HOLD_ROWS are
held (shuffled input), they are spilled to scratch Parquet and staged with the rest of their date later.

A date staged early and met again later is simply staged again: EventStager dedupes the new rows against the
parts it already wrote for that date as well as against the store, so the stored rows are the same.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from engine.events import EventStager
from engine.infra.faults import fault_point
from engine.ingest.spill import Spill

HOLD_ROWS = 500_000  # rows held in memory across dates before they are spilled


def _by_day(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    parts = frame.with_columns(__day=pl.col("event_time").dt.date()).partition_by(
        "__day", as_dict=True, include_key=False
    )
    return {value.isoformat(): part for (value,), part in parts.items()}


class DayRows:
    """Rows by event date, in memory or spilled, until they are staged."""

    def __init__(self, stager: EventStager, spill: Spill, progress: Callable[[str], None]) -> None:
        self.stager = stager
        self.spill = spill
        self.progress = progress
        self.held: dict[str, list[pl.DataFrame]] = {}
        self.held_rows = 0
        self.spilled: set[str] = set()

    def add(self, frame: pl.DataFrame) -> set[str]:
        """Hold frame's rows by date; returns the dates it has rows of."""
        days = _by_day(frame)
        for day, part in days.items():
            self.held.setdefault(day, []).append(part)
            self.held_rows += part.height
        return set(days)

    def spill_all(self, frame: pl.DataFrame) -> None:
        """Put frame's rows straight on disk by date (rows that arrive out of order, e.g. after sessions)."""
        for day, part in _by_day(frame).items():
            self.spill.add("days", day, part)
            self.spilled.add(day)

    def settle(self, current: set[str]) -> None:
        """After a batch: stage the dates it did not touch, and spill the rest when too many rows are held."""
        for day in sorted((set(self.held) | self.spilled) - current):
            self.stage(day)
        if self.held_rows > HOLD_ROWS:
            for day, frames in self.held.items():
                self.spill.add("days", day, pl.concat(frames, how="vertical"))
                self.spilled.add(day)
            self.held.clear()
            self.held_rows = 0

    def stage(self, day: str) -> None:
        """Dedupe and stage every row of day held or spilled so far."""
        frames = self.held.pop(day, [])
        rows = sum(frame.height for frame in frames)
        self.held_rows -= rows
        sources = [frame.lazy() for frame in frames]
        del frames  # the lazy frames are the only references left: what add_day collects is not held twice
        if day in self.spilled:
            sources.insert(0, self.spill.scan("days", day))
            rows += self.spill.rows("days", day)
        self.progress(f"storing {day}")
        self.stager.add_day(day, pl.concat(sources, how="vertical"), rows)
        self.spill.remove("days", day)
        self.spilled.discard(day)
        fault_point("ingest.after_day")

    def stage_all(self) -> None:
        """Stage every date still open."""
        for day in sorted(set(self.held) | self.spilled):
            self.stage(day)
