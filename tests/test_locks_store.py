from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from engine.errors import WorkspaceBusy
from engine.infra.locks import workspace_lock
from engine.store import Store
from engine.workspace import init_workspace


def test_second_holder_gets_workspace_busy_naming_the_holder(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from engine.infra.locks import workspace_lock
                from engine.workspace import Workspace
                with workspace_lock(Workspace(__import__('pathlib').Path({str(tmp_path)!r})), 'registry-demo'):
                    print('held', flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkspaceBusy) as caught:
            with workspace_lock(ws, "registry-demo", wait_seconds=0.2):
                pass
        assert f"pid {holder.pid}" in str(caught.value)
        assert caught.value.exit_code == 4
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=10)
    with workspace_lock(ws, "registry-demo", wait_seconds=0.2):
        pass


def test_store_is_wal_and_migrated(tmp_path: Path) -> None:
    store = Store(tmp_path / "state" / "shopctl.db")
    assert store.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    assert store.schema_version() >= 1
    tables = {row["name"] for row in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"monitor_runs", "metrics", "alerts", "deliveries", "job_runs"} <= tables


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shopctl.db"
    Store(path).schema_version()

    def writer(worker: int) -> None:
        store = Store(path)
        for index in range(50):
            with store.transaction() as connection:
                connection.execute(
                    "INSERT INTO job_runs (job_id, started, status) VALUES (?, ?, 'ok')",
                    (f"w{worker}", f"2026-01-01T00:00:{index:02d}"),
                )

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Store(path).query("SELECT COUNT(*) AS n FROM job_runs")[0]["n"] == 200


@pytest.mark.parametrize("name", ["registry-../../etc", "../x", ".hidden", "a/b", ""])
def test_a_lock_name_that_is_a_path_is_refused_before_any_file_is_made(name: str, tmp_path: Path) -> None:
    from engine.errors import InputError

    ws, _ = init_workspace(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match="not valid"), workspace_lock(ws, name):
        pass
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
