"""The ingest log, `data/ingests.jsonl`: one JSON line per committed ingest (monitoring reads quarantine
rates from it, `data summary` the last ingest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.workspace import Workspace


def log_path(ws: Workspace) -> Path:
    """Where the ingest log lives."""
    return ws.data_dir / "ingests.jsonl"


def read_ingests(ws: Workspace) -> list[dict[str, Any]]:
    """Every recorded ingest, oldest first (a damaged line is skipped rather than failing every reader)."""
    path = log_path(ws)
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def append_ingest(ws: Workspace, record: dict[str, Any]) -> None:
    """Add one record; the file is rewritten atomically (the caller holds the ingest lock)."""
    path = log_path(ws)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    atomic_write_text(path, existing + json.dumps(record, sort_keys=True, default=str) + "\n")
