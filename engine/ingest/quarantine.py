"""The quarantine file of one ingest: `data/quarantine/<ingest_id>.parquet`, every rejected row with its
original values (as text), `_file`, `_line` and `_reason`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.atomic import atomic_write_with, remove_temps
from engine.ingest.mapping import QUARANTINE_META
from engine.workspace import Workspace


def combine(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame from per-file quarantine frames (different files may have different columns)."""
    frames = [frame for frame in frames if frame.height]
    if not frames:
        return pl.DataFrame(schema={"_file": pl.String, "_line": pl.Int64, "_reason": pl.String})
    combined = pl.concat(frames, how="diagonal_relaxed")
    originals = [name for name in combined.columns if name not in QUARANTINE_META]
    return combined.select([*QUARANTINE_META, *originals])


def write_quarantine(ws: Workspace, frame: pl.DataFrame, ingest_id: str) -> Path | None:
    """Write the quarantined rows atomically; None when there are none."""
    if frame.height == 0:
        return None
    path = ws.quarantine_dir / f"{ingest_id}.parquet"
    atomic_write_with(path, lambda tmp: frame.write_parquet(tmp, compression="zstd"))
    return path


def clean_orphans(ws: Workspace, recorded_ids: set[str]) -> list[Path]:
    """Remove quarantine files of ingests that never committed (a crash between writing them and the log);
    matched by ingest id, so a moved workspace keeps its files."""
    removed = []
    for path in ws.quarantine_dir.glob("*.parquet"):
        if path.stem not in recorded_ids:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed + remove_temps(ws.quarantine_dir, "*.parquet")


def reason_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Quarantined rows per reason, most frequent first."""
    if frame.height == 0:
        return {}
    counts = frame.group_by("_reason").len().sort(["len", "_reason"], descending=[True, False])
    return {row["_reason"]: int(row["len"]) for row in counts.iter_rows(named=True)}
