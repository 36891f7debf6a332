"""The built-in ingest task: settled inbox files are ingested and moved to processed/ or failed/."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from test_daemon_support import make_workspace

from engine.scheduling import run_job_now


def _settle(path: Path) -> None:
    old = time.time() - 60
    os.utime(path, (old, old))


def test_ingest_job_moves_each_inbox_file_by_outcome(tmp_path: Path) -> None:
    pytest.importorskip("engine.simulator")
    from engine.events import scan_events
    from engine.simulator import simulate, write_simulation

    ws = make_workspace(tmp_path / "ws", "[schedule.jobs.ingest]\nminutes = 5\n")
    written = write_simulation(
        simulate(2, seed=5, start="2026-03-01", sessions_per_day=40), tmp_path / "events.csv"
    )
    inbox = ws.inbox_dir
    good = inbox / "events.csv"
    shutil.copy(written["events"], good)
    bad = inbox / "broken.csv"
    bad.write_text("this is not,an event log\n1,2\n")
    partial = inbox / "arriving.csv.part"
    partial.write_text("still copying")
    fresh = inbox / "fresh.csv"
    shutil.copy(written["events"], fresh)  # just written: waits for the next run
    for path in (good, bad, partial):
        _settle(path)

    run = run_job_now(ws, "ingest")

    assert run["status"] == "failed" and "broken.csv" in run["error"]
    files = {item["file"]: item for item in run["produced"]["files"]}
    assert set(files) == {"events.csv", "broken.csv"}
    assert files["events.csv"]["status"] == "ok" and files["events.csv"]["rows_stored"] > 0
    assert (inbox / "processed" / "events.csv").exists() and not good.exists()
    assert (inbox / "failed" / "broken.csv").exists() and not bad.exists()
    assert (inbox / "failed" / "broken.csv.error.txt").read_text().strip() == files["broken.csv"]["error"]
    assert partial.exists() and fresh.exists()
    assert scan_events(ws).collect().height == files["events.csv"]["rows_stored"]

    # The next run takes the settled file; a second copy of the same name never overwrites the first.
    _settle(fresh)
    shutil.move(fresh, inbox / "events.csv")
    again = run_job_now(ws, "ingest")
    assert again["status"] == "ok" and again["produced"]["files"][0]["rows_duplicate"] > 0
    assert len(list((inbox / "processed").glob("events*.csv"))) == 2


def test_ingest_job_leaves_files_in_the_inbox_while_another_ingest_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("engine.ingest")
    import engine.ingest
    from engine.errors import WorkspaceBusy

    def busy(ws, paths, options=None, **kwargs):
        raise WorkspaceBusy("workspace busy: lock 'ingest' is held by pid 4242 (shopctl ingest big.csv)")

    monkeypatch.setattr(engine.ingest, "ingest_files", busy)
    ws = make_workspace(tmp_path / "ws", "[schedule.jobs.ingest]\nminutes = 5\n")
    waiting = ws.inbox_dir / "events.csv"
    waiting.write_text("event_time,event_type\n")
    _settle(waiting)
    run = run_job_now(ws, "ingest")
    assert run["status"] == "failed" and "left in the inbox" in run["error"] and "pid 4242" in run["error"]
    assert waiting.exists() and not (ws.inbox_dir / "failed").exists()


def test_a_file_dropped_in_the_inbox_twice_is_stored_once(tmp_path: Path) -> None:
    """Issue 11 §1: the second copy of a file (here with no session column, so sessions are derived) adds nothing."""
    from engine.events import scan_events

    ws = make_workspace(tmp_path / "ws", "[schedule.jobs.ingest]\nminutes = 5\n")
    lines = ["event_time,event_type,user_id,product_id,price"]
    for minute in range(0, 120, 7):
        lines.append(f"2026-03-01T10:{minute % 60:02d}:00Z,view,u{minute % 3},p{minute % 5},{minute / 10}")
        lines.append(f"2026-03-01T{11 + minute // 60}:{minute % 60:02d}:30Z,cart,,p{minute % 4},")
    body = "\n".join(lines) + "\n"
    stored = []
    for name in ("drop.csv", "drop.csv"):
        path = ws.inbox_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        _settle(path)
        run = run_job_now(ws, "ingest")
        assert run["status"] == "ok", run
        stored.append(run["produced"]["files"][0]["rows_stored"])
    assert stored[0] == len(lines) - 1 and stored[1] == 0, stored
    assert scan_events(ws).collect().height == stored[0]


def test_inbox_files_whose_names_are_not_utf8_are_ingested_or_failed_never_left_running(
    tmp_path: Path,
) -> None:
    """Issue 17 §7: a name with a byte that is not UTF-8 made polars fail and the job row stay 'running'."""
    from engine.events import scan_events
    from engine.store import open_store

    ws = make_workspace(tmp_path / "ws", "[schedule.jobs.ingest]\nminutes = 5\n")
    inbox = ws.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    good = Path(os.fsdecode(bytes(inbox) + b"/caf\xe9-events.csv"))
    good.write_text(
        "event_time,event_type,user_id,session_id,product_id\n2026-03-01T10:00:00Z,view,u1,s1,p1\n"
    )
    bad = Path(os.fsdecode(bytes(inbox) + b"/bad\xff.csv"))
    bad.write_bytes(b"\x00\x01 not an event log \xff\x00")
    for path in (good, bad):
        _settle(path)

    run = run_job_now(ws, "ingest")

    assert run["status"] == "failed" and "bad\\xff.csv" in run["error"], run
    files = {item["file"]: item for item in run["produced"]["files"]}
    assert len(files) == 2 and sorted(item["status"] for item in files.values()) == ["failed", "ok"], files
    assert scan_events(ws).collect().height == 1
    assert not good.exists() and not bad.exists()
    assert len(os.listdir(bytes(inbox / "processed"))) == 1
    rows = open_store(ws).query("SELECT status FROM job_runs")
    assert [row["status"] for row in rows] == ["failed"]
