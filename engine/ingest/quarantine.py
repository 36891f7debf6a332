"""The quarantine file of one ingest: `data/quarantine/<ingest_id>.parquet`, every rejected row with its
original values (as text), `_file`, `_line` and `_reason`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from engine.infra.atomic import atomic_write_with, remove_temps
from engine.ingest.mapping import QUARANTINE_META
from engine.workspace import Workspace


def write_quarantine(ws: Workspace, parts: list[Path], ingest_id: str) -> Path | None:
    """Write the quarantined rows (batches spilled to parts; files may differ in columns) atomically as one
    file, streaming; None when there are none."""
    if not parts:
        return None
    combined = pl.concat([pl.scan_parquet(part) for part in parts], how="diagonal_relaxed")
    originals = [name for name in combined.collect_schema().names() if name not in QUARANTINE_META]
    ordered = combined.select([*QUARANTINE_META, *originals])
    path = ws.quarantine_dir / f"{ingest_id}.parquet"
    atomic_write_with(path, lambda tmp: ordered.sink_parquet(tmp, compression="zstd"))
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
