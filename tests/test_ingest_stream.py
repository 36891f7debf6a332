"""Streaming ingest (issue 11 §2): a file read in many small batches, spilled by date and user bucket and
deduped date slice by date slice stores exactly what one batch would; counts are conserved; a kill -9 at any
step of the run leaves the last committed state, and the next run cleans up and stores the file."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from test_crash_pairs import shopctl

import engine.events
import engine.ingest.days
import engine.ingest.readers
import engine.ingest.run
from engine.events import committed_files, scan_events
from engine.ingest import ingest_files
from engine.ingest.history import read_ingests
from engine.ingest.spill import SPILL_FOLDER
from engine.workspace import init_workspace, open_workspace

BASE = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)


def _write(path: Path, rows: int, offset: int = 0) -> Path:
    """Rows over two days (sessions cross midnight), half without a session id, some repeated, some bad."""
    lines = ["event_time,event_type,user_id,session_id,product_id,price"]
    for index in range(offset, offset + rows):
        when = (BASE + timedelta(minutes=2 * (index % 300))).isoformat()  # a user every 22 min
        session = f"s{index % 5}" if index % 2 else ""
        user = f"u{index % 11}" if index % 13 else ""
        lines.append(f"{when},{'view' if index % 3 else 'cart'},{user},{session},p{index % 17},{index % 40}")
        if index % 9 == 0:
            lines.append(lines[-1])  # an exact duplicate row
        if index % 50 == 0:
            lines.append(f"not a time,view,u1,s1,p{index},1")
    path.write_text("\n".join(lines) + "\n")
    return path


def _stored(ws) -> pl.DataFrame:
    frame = scan_events(ws).collect()
    return frame.sort(frame.columns, nulls_last=True)


def _spilled(ws) -> list[Path]:
    folder = ws.state_dir / SPILL_FOLDER
    return sorted(folder.rglob("*.parquet")) if folder.exists() else []


def _conserved(result: dict) -> None:
    assert (
        result["rows_read"] == result["rows_stored"] + result["rows_quarantined"] + result["rows_duplicate"]
    )


@pytest.fixture
def tiny_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.ingest.readers, "BATCH_ROWS", 37)
    monkeypatch.setattr(engine.events, "DAY_SLICE_ROWS", 50)  # every date is split into identity slices
    monkeypatch.setattr(engine.ingest.run, "BUCKET_ROWS", 1)  # many user buckets
    monkeypatch.setattr(engine.ingest.days, "HOLD_ROWS", 60)  # dates held, spilled and staged again


def _ingest_twice(tmp_path: Path, name: str) -> tuple[object, list[dict]]:
    ws, _ = init_workspace(tmp_path / name)
    first = _write(tmp_path / "a.csv", 600)
    second = _write(tmp_path / "b.csv", 400, offset=300)  # overlaps the second half of a.csv
    lines = first.read_text().splitlines()
    twice = tmp_path / "aa.csv"  # a.csv's rows again, far apart: a date staged early is met again
    twice.write_text("\n".join(lines + lines[1:]) + "\n")
    results = [ingest_files(ws, [path]).to_dict() for path in (twice, second, first)]
    return ws, results


def test_many_small_batches_store_what_one_batch_stores(tmp_path: Path, tiny_batches: None) -> None:
    streamed, streamed_results = _ingest_twice(tmp_path, "streamed")
    with pytest.MonkeyPatch.context() as defaults:
        defaults.setattr(engine.ingest.readers, "BATCH_ROWS", 1_000_000)
        defaults.setattr(engine.events, "DAY_SLICE_ROWS", 2_000_000)
        defaults.setattr(engine.ingest.run, "BUCKET_ROWS", 1_000_000)
        defaults.setattr(engine.ingest.days, "HOLD_ROWS", 1_000_000)
        whole, whole_results = _ingest_twice(tmp_path, "whole")
    assert len(committed_files(streamed)) > len(committed_files(whole))  # the slices were really used
    keys = (
        "rows_read",
        "rows_stored",
        "rows_quarantined",
        "rows_duplicate",
        "quarantine_reasons",
        "partitions",
    )
    for streamed_result, whole_result in zip(streamed_results, whole_results, strict=True):
        _conserved(streamed_result)
        assert {key: streamed_result[key] for key in keys} == {key: whole_result[key] for key in keys}
    assert streamed_results[2]["rows_stored"] == 0
    assert _stored(streamed).equals(_stored(whole))  # session ids derived across batches included
    assert _stored(streamed)["session_id"].null_count() == 0
    quarantined = [
        pl.read_parquet(result["quarantine_file"]) for result in (streamed_results[0], whole_results[0])
    ]
    assert quarantined[0].sort("_line").equals(quarantined[1].sort("_line"))
    assert _spilled(streamed) == []


@pytest.mark.parametrize("point", ["ingest.after_batch", "ingest.after_day"])
def test_a_kill_mid_ingest_keeps_the_last_good_state_and_the_rerun_stores_the_file(
    tmp_path: Path, point: str
) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    first = _write(tmp_path / "a.csv", 300)
    second = _write(tmp_path / "b.csv", 400, offset=200)
    assert shopctl("ingest", str(first), "-w", str(ws.root)).returncode == 0
    workspace = open_workspace(ws.root)
    before, before_log = _stored(workspace), read_ingests(workspace)

    crashed = shopctl("ingest", str(second), "-w", str(ws.root), fault=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert _stored(workspace).equals(before)  # nothing of the killed ingest is visible
    assert read_ingests(workspace) == before_log
    assert _spilled(ws)  # it did die mid-run, with rows spilled

    rerun = shopctl("ingest", str(second), "-w", str(ws.root), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert _spilled(ws) == []  # the killed run's scratch is gone
    on_disk = {path for path in ws.events_dir.glob("date=*/*.parquet")}
    assert on_disk == set(committed_files(workspace))  # and so are its unlisted parts
    union = init_workspace(tmp_path / "union")[0]
    for path in (first, second):
        ingest_files(union, [path])
    assert _stored(workspace).equals(_stored(union))
