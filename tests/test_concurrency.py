"""The daemon, another writing process, the CLI and a store reader on one workspace for a sustained period:
no run and no metric is lost, and nobody sees "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from test_daemon_support import job_runs, kill_quietly, make_workspace, shopctl, tasks_env, wait_for

from engine.scheduling import daemon_running, stop_daemon
from engine.store import Store
from engine.store.jobs import parse_iso

WRITER_RUNS = 25  # run-now jobs the other process writes
STATUS_CALLS = 8  # `daemon status` processes started meanwhile
MIN_READS = 20
DAEMON_RUNS = 3  # runs of the daemon's own job before it is stopped

SCHEDULE = """
[schedule]
retry_attempts = 0
[schedule.jobs.writer]
task = "daemon_test_tasks:writer"
seconds = 1
[schedule.jobs.cli_writer]
task = "daemon_test_tasks:writer"
hours = 24
"""

OTHER_WRITER = textwrap.dedent(
    """
    import sys, time
    from engine.scheduling.runner import execute_job
    from engine.workspace import open_workspace
    ws = open_workspace(sys.argv[1])
    for count in range(int(sys.argv[2])):
        outcome = execute_job(ws, "cli_writer", trigger="run-now")
        assert outcome.run.status == "ok", outcome.run
    print(count + 1)
    """
)


def test_daemon_cli_and_reader_together_lose_nothing(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", SCHEDULE)
    env = tasks_env(tmp_path / "pymodules")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "engine.scheduling", "-w", str(ws.root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = None
    try:
        wait_for(lambda: daemon_running(ws), what="daemon ready")
        writer = subprocess.Popen(
            [sys.executable, "-c", OTHER_WRITER, str(ws.root), str(WRITER_RUNS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        reader_errors: list[BaseException] = []
        reads: list[int] = []
        stop_reading = threading.Event()

        def reader() -> None:
            store = Store(ws.store_path)
            while not stop_reading.is_set() or len(reads) < MIN_READS:
                try:
                    count = store.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"]
                    store.query("SELECT * FROM job_runs ORDER BY id DESC LIMIT 20")
                except BaseException as error:  # noqa: BLE001 - collected and asserted below
                    reader_errors.append(error)
                    return
                reads.append(count)
                time.sleep(0.02)

        thread = threading.Thread(target=reader)
        thread.start()
        statuses = []
        for _ in range(STATUS_CALLS):
            result = shopctl(["daemon", "status", "-w", str(ws.root), "--json"], env)
            assert result.returncode == 0, result.stderr
            statuses.append(json.loads(result.stdout)["running"])
        stdout, stderr = writer.communicate(timeout=60)
        assert writer.returncode == 0, stderr
        other_runs = int(stdout.strip())
        stop_reading.set()
        thread.join(timeout=30)
        # the daemon's own 1-second job ran alongside (a condition, not a duration)
        wait_for(
            lambda: sum(r["job_id"] == "writer" and r["status"] == "ok" for r in job_runs(ws)) >= DAEMON_RUNS,
            what=f"{DAEMON_RUNS} daemon runs",
        )
        stop_daemon(ws, timeout=60)
        assert daemon.wait(timeout=30) == 0
    finally:
        for process in (daemon, writer):
            if process is not None and process.poll() is None:
                kill_quietly(process.pid)
                process.wait(timeout=30)

    assert not reader_errors, reader_errors
    assert reads == sorted(reads) and len(reads) >= MIN_READS  # the reader never saw metrics disappear
    assert len(statuses) == STATUS_CALLS and all(statuses)
    assert other_runs == WRITER_RUNS

    all_runs = job_runs(ws)
    # A fire time that finds the previous run still going is skipped by policy (one instance at a time) and
    # says so; anything else that is not ok (failed, interrupted, "database is locked") is a loss.
    lost = [
        r
        for r in all_runs
        if r["status"] != "ok" and not (r["status"] == "skipped" and "still running" in r["error"])
    ]
    assert not lost, lost
    runs = [r for r in all_runs if r["status"] == "ok"]
    daemon_runs = [r for r in runs if r["job_id"] == "writer"]
    cli_runs = [r for r in runs if r["job_id"] == "cli_writer"]
    assert len(cli_runs) == other_runs
    assert len(daemon_runs) >= DAEMON_RUNS
    fire_times = [parse_iso(r["scheduled_for"]) for r in daemon_runs]
    assert len(set(fire_times)) == len(fire_times)  # no fire time ran twice
    store = Store(ws.store_path)
    for run in runs:
        produced = json.loads(run["produced_json"])
        stored = store.query("SELECT COUNT(*) AS n FROM metrics WHERE run_id = ?", (produced["monitor_run"],))
        assert stored[0]["n"] == produced["metrics"] == 20
    assert store.query("SELECT COUNT(*) AS n FROM metrics")[0]["n"] == 20 * len(runs)
