"""kill -9 between the two writes of a pair (issue 17 §13): each window is reached with SHOPCTL_FAULT (a named
engine.infra.faults point that SIGKILLs the process there), and the next command must see and keep one consistent
state: a version with its "register" line, a champion with its history line, stored events with their ingest
log line and quarantine file. A crash-leftover test (§12) sits here too: temp files of killed writers and a
registry staging folder are cleaned by the next write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from engine.ingest.history import log_path, read_ingests
from engine.registry import Registry
from engine.workspace import init_workspace, open_workspace


def shopctl(*args: str, fault: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPCTL_FAULT": fault}
    env.pop("SHOPCTL_WORKSPACE", None)
    return subprocess.run(
        [sys.executable, "-m", "console.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def killed(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == -signal.SIGKILL


@pytest.fixture
def table(tmp_path: Path) -> Path:
    rows = 300
    path = tmp_path / "table.csv"
    pl.DataFrame(
        {
            "pages": [float(i % 17) for i in range(rows)],
            "minutes": [float((i * 7) % 23) for i in range(rows)],
            "bought": [int((i % 17) + (i * 7) % 23 > 20) for i in range(rows)],
        }
    ).write_csv(path)
    return path


def train(ws: Path, table: Path, fault: str = "", *extra: str) -> subprocess.CompletedProcess[str]:
    return shopctl(
        "train",
        "shop",
        "--table",
        str(table),
        "--target",
        "bought",
        "--candidates",
        "logistic",
        "-w",
        str(ws),
        *extra,
        fault=fault,
    )


def history_lines(ws: Path) -> list[dict]:
    path = ws / "registry" / "shop" / "history.jsonl"
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def test_kill_after_the_version_rename_keeps_the_version_and_its_register_line(
    tmp_path: Path, table: Path
) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    assert killed(train(ws.root, table, "registry.after_version_rename"))
    registry = Registry(open_workspace(ws.root))
    assert registry.versions("shop") == [1] and registry.champion("shop") is None
    assert history_lines(ws.root) == []  # the window: the version is stored, its line is not
    shown = registry.history("shop")
    assert [(e["action"], e["to"], e.get("recovered")) for e in shown] == [("register", 1, True)]

    promoted = shopctl("models", "promote", "shop", "1", "-w", str(ws.root))
    assert promoted.returncode == 0, promoted.stderr
    assert [(e["action"], e["from"], e["to"]) for e in history_lines(ws.root)] == [
        ("register", None, 1),
        ("promote", None, 1),
    ]
    assert history_lines(ws.root)[0]["recovered"] is True


def test_kill_after_the_champion_switch_keeps_the_switch_in_the_history(tmp_path: Path, table: Path) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    assert train(ws.root, table).returncode == 0
    assert train(ws.root, table, "", "--no-promote").returncode == 0
    assert killed(
        shopctl("models", "promote", "shop", "2", "-w", str(ws.root), fault="registry.after_champion")
    )
    registry = Registry(open_workspace(ws.root))
    assert registry.champion("shop") == 2
    assert [e["action"] for e in history_lines(ws.root)] == ["register", "promote", "register"]  # the window
    derived = registry.history("shop")[-1]
    assert (derived["action"], derived["from"], derived["to"], derived["recovered"]) == (
        "promote",
        1,
        2,
        True,
    )

    rolled = shopctl("models", "rollback", "shop", "-w", str(ws.root), "--why", "test")
    assert rolled.returncode == 0, rolled.stderr
    assert [(e["action"], e["from"], e["to"]) for e in history_lines(ws.root)] == [
        ("register", None, 1),
        ("promote", None, 1),
        ("register", None, 2),
        ("promote", 1, 2),  # what the audit saw missing: the rollback 2 -> 1 now follows a recorded 1 -> 2
        ("rollback", 2, 1),
    ]
    assert Registry(open_workspace(ws.root)).champion("shop") == 1


def _events(path: Path, day: str, bad: int) -> Path:
    lines = ["event_time,event_type,user_id,session_id,product_id,price"]
    lines += [
        f"{day}T10:{minute:02d}:00Z,view,u{minute % 3},s{minute % 4},p{minute},{minute}"
        for minute in range(30)
    ]
    lines += [f"not a time,view,u1,s1,p{index},1" for index in range(bad)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_kill_after_the_manifest_keeps_the_ingest_log_line_and_its_quarantine(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    first = _events(tmp_path / "a.csv", "2026-03-01", bad=4)
    assert killed(shopctl("ingest", str(first), "-w", str(ws.root), fault="ingest.after_manifest"))
    workspace = open_workspace(ws.root)
    logged = log_path(workspace).read_text().splitlines() if log_path(workspace).exists() else []
    assert logged == []  # the window: events committed, log line not renamed into place
    (record,) = read_ingests(workspace)  # readers already see the ingest, from the manifest's copy
    assert record["rows_stored"] == 30 and record["rows_quarantined"] == 4
    quarantine = Path(record["quarantine_file"])
    assert quarantine.exists()

    second = shopctl(
        "ingest", str(_events(tmp_path / "b.csv", "2026-03-02", bad=1)), "-w", str(ws.root), "--json"
    )
    assert second.returncode == 0, second.stderr
    assert quarantine.exists(), "the next ingest deleted the crashed ingest's quarantine file"
    lines = [json.loads(line) for line in log_path(workspace).read_text().splitlines()]
    assert [line["id"] for line in lines] == [record["id"], json.loads(second.stdout)["ingest_id"]]
    assert lines[0]["recovered"] is True and pl.read_parquet(quarantine).height == 4
    again = shopctl("ingest", str(first), "-w", str(ws.root), "--json")  # and the data was stored once
    assert json.loads(again.stdout)["rows_stored"] == 0


def test_temp_files_of_killed_writers_and_staging_folders_are_cleaned(tmp_path: Path, table: Path) -> None:
    ws, _ = init_workspace(tmp_path / "shop")
    assert train(ws.root, table).returncode == 0
    scored = tmp_path / "scores.parquet"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)  # a pid that no longer runs
    leftovers = [
        tmp_path / f".scores.parquet.{dead_pid}-abc.parquet.tmp",  # a killed score
        tmp_path / ".scores.parquet.oldformat.parquet.tmp",  # from before pids were in the name, an hour old
    ]
    for path in leftovers:
        path.write_bytes(b"x" * 1000)
    os.utime(leftovers[1], (1, 1))
    alive = tmp_path / f".scores.parquet.{os.getpid()}-live.parquet.tmp"  # a writer that still runs
    alive.write_bytes(b"y")
    staging = ws.root / "registry" / "shop" / ".staging-deadbeef"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(b"half")

    scored_run = shopctl("score", "shop", "--input", str(table), "--output", str(scored), "-w", str(ws.root))
    assert scored_run.returncode == 0, scored_run.stderr
    assert not any(path.exists() for path in leftovers) and alive.exists() and scored.exists()
    assert train(ws.root, table).returncode == 0
    assert not staging.exists()
