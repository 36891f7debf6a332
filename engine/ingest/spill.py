"""Scratch space of one running ingest: batches of rows spilled to Parquet under `state/ingest-spill/<id>/`,
grouped by a key (an event date, a user bucket), so the ingest never holds a whole file's rows at once.

Nothing here is ever read by anyone but the ingest that wrote it: it is removed when that ingest ends, and a
folder left by a killed ingest is removed by the next one (under the ingest lock, so none is in use).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from engine.workspace import Workspace

SPILL_FOLDER = "ingest-spill"


def clean_spills(ws: Workspace) -> None:
    """Remove the scratch folders of ingests that were killed (the caller holds the ingest lock)."""
    shutil.rmtree(ws.state_dir / SPILL_FOLDER, ignore_errors=True)


class Spill:
    """Row batches on disk, by kind ("days", "users", "quarantine") and key; close() removes them all."""

    def __init__(self, ws: Workspace, ingest_id: str) -> None:
        self.folder = ws.state_dir / SPILL_FOLDER / ingest_id
        self._files: dict[tuple[str, str], list[Path]] = {}
        self._rows: dict[tuple[str, str], int] = {}

    def add(self, kind: str, key: str, frame: pl.DataFrame) -> None:
        """Write one batch under (kind, key); lz4 because it is read back once, soon."""
        files = self._files.setdefault((kind, key), [])
        path = self.folder / kind / key / f"{len(files):06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path, compression="lz4", statistics=False)
        files.append(path)
        self._rows[(kind, key)] = self._rows.get((kind, key), 0) + frame.height

    def add_by(self, kind: str, frame: pl.DataFrame, column: str) -> None:
        """Write frame split by the value of column (dropped), one batch per value; dates key as ISO text."""
        for (value,), part in frame.partition_by(column, as_dict=True, include_key=False).items():
            key = value.isoformat() if hasattr(value, "isoformat") else str(value)
            self.add(kind, key, part)

    def keys(self, kind: str) -> list[str]:
        """The keys written under kind, sorted."""
        return sorted(key for found, key in self._files if found == kind)

    def files(self, kind: str, key: str) -> list[Path]:
        """The batch files of (kind, key), in the order written."""
        return list(self._files.get((kind, key), []))

    def rows(self, kind: str, key: str) -> int:
        """How many rows were written under (kind, key)."""
        return self._rows.get((kind, key), 0)

    def scan(self, kind: str, key: str) -> pl.LazyFrame:
        """The rows of (kind, key), in the order written (every batch of one kind shares its schema)."""
        return pl.scan_parquet(self.files(kind, key))

    def remove(self, kind: str, key: str) -> None:
        """Delete the batches of (kind, key) once they are used (disk is freed as the ingest goes)."""
        for path in self._files.pop((kind, key), []):
            path.unlink(missing_ok=True)
        self._rows.pop((kind, key), None)

    def close(self) -> None:
        """Remove everything this ingest spilled."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._files.clear()
        self._rows.clear()
