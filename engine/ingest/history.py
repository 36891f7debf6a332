"""The ingest log, `data/ingests.jsonl`: one JSON line per committed ingest (monitoring reads quarantine
rates from it, `data summary` the last ingest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.infra.atomic import atomic_write_text, commit_staged, remove_temps, stage_bytes
from engine.workspace import Workspace


def log_path(ws: Workspace) -> Path:
    """Where the ingest log lives."""
    return ws.data_dir / "ingests.jsonl"


LAST_INGEST_KEY = "last_ingest"  # the event manifest's copy of the log line of the ingest that wrote it


def _logged(ws: Workspace) -> list[dict[str, Any]]:
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


def _unlogged_commit(ws: Workspace, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The committed manifest's ingest record when the log lacks it (a crash between the two renames)."""
    from engine.events import manifest_path

    try:
        manifest = json.loads(manifest_path(ws).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    record = manifest.get(LAST_INGEST_KEY) if isinstance(manifest, dict) else None
    if not isinstance(record, dict) or not record.get("id"):
        return None
    return None if any(logged.get("id") == record["id"] for logged in records) else record


def read_ingests(ws: Workspace) -> list[dict[str, Any]]:
    """Every recorded ingest, oldest first (a damaged line is skipped rather than failing every reader).

    An ingest whose manifest committed but whose log line was not yet renamed into place (kill -9 between the
    two) is included from the manifest's copy, so readers never see stored events without their ingest.
    """
    records = _logged(ws)
    missing = _unlogged_commit(ws, records)
    return [*records, missing] if missing else records


def recover_log(ws: Workspace) -> dict[str, Any] | None:
    """Append the committed ingest's line the log lacks, if any (the caller holds the ingest lock)."""
    missing = _unlogged_commit(ws, _logged(ws))
    if missing:
        append_ingest(ws, {**missing, "recovered": True})
    return missing


def _with_record(ws: Workspace, record: dict[str, Any]) -> str:
    path = log_path(ws)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    return existing + json.dumps(record, sort_keys=True, default=str) + "\n"


def append_ingest(ws: Workspace, record: dict[str, Any]) -> None:
    """Add one record; the file is rewritten atomically (the caller holds the ingest lock)."""
    atomic_write_text(log_path(ws), _with_record(ws, record))


def stage_ingest(ws: Workspace, record: dict[str, Any]) -> Path:
    """Write the log with record added to a fsynced temp file (not yet visible); commit_ingest publishes it.

    Ingest stages the log before it commits the event manifest, so a full disk fails before anything is
    visible and never leaves stored events without their log line.
    """
    return stage_bytes(log_path(ws), _with_record(ws, record).encode("utf-8"))


def commit_ingest(ws: Workspace, staged: Path) -> None:
    """Rename a log staged by stage_ingest into place (the caller holds the ingest lock)."""
    commit_staged(staged, log_path(ws))


def clean_staged(ws: Workspace) -> list[Path]:
    """Remove log temp files a crash left behind (the caller holds the ingest lock)."""
    return remove_temps(ws.data_dir, log_path(ws).name)
