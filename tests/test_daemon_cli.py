"""The daemon as users run it: `shopctl daemon start` in the background, status and run-now from other
processes, stop, SIGTERM during a job, and a second daemon refused with exit 4."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_daemon_support import job_runs, kill_quietly, make_workspace, shopctl, tasks_env, wait_for
from typer.testing import CliRunner

from console.cli.main import app
from engine.scheduling import daemon_running, daemon_status, run_job_now
from engine.scheduling.control import process_alive
from engine.scheduling.paths import log_path, pid_path, state_path

SCHEDULE = """
[schedule]
retry_attempts = 0
[schedule.jobs.tick]
task = "daemon_test_tasks:tick"
seconds = 1
[schedule.jobs.polite]
task = "daemon_test_tasks:polite_slow"
hours = 24
[schedule.jobs.stubborn]
task = "daemon_test_tasks:stubborn_slow"
hours = 24
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return tasks_env(tmp_path / "pymodules")


@pytest.fixture
def workspace(tmp_path: Path):
    ws = make_workspace(tmp_path / "ws", SCHEDULE)
    yield ws
    # Whatever a test did, no daemon outlives it.
    try:
        pid = int(pid_path(ws).read_text())
    except (OSError, ValueError):
        pid = None
    if daemon_running(ws):
        kill_quietly(pid)


@pytest.fixture
def foreground(workspace, env):
    """Start a foreground daemon as a child process; killed in the finalizer."""
    processes: list[subprocess.Popen] = []

    def start(cli: bool = False) -> subprocess.Popen:
        # The CLI's --foreground and `python -m engine.scheduling` run the same daemon; the latter starts faster.
        command = ["console.cli.main", "daemon", "start", "--foreground"] if cli else ["engine.scheduling"]
        process = subprocess.Popen(
            [sys.executable, "-m", *command, "-w", str(workspace.root)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        wait_for(lambda: daemon_running(workspace) and state_path(workspace).exists(), what="daemon ready")
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_background_daemon_status_run_now_and_stop(workspace, env) -> None:
    root = str(workspace.root)
    started = shopctl(["daemon", "start", "-w", root, "--json"], env)  # a real CLI process that exits
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    # The rest talks to the detached daemon from this process (another one) through the same CLI app.
    runner = CliRunner()
    try:
        again = runner.invoke(app, ["daemon", "start", "-w", root])
        assert again.exit_code == 4 and "already runs" in again.stderr

        wait_for(
            lambda: [r for r in job_runs(workspace, "tick") if r["status"] == "ok"], what="a scheduled run"
        )
        status = runner.invoke(app, ["daemon", "status", "-w", root, "--json"])
        assert status.exit_code == 0, status.output
        payload = json.loads(status.stdout)
        assert payload["running"] is True and payload["pid"] == pid and payload["started"]
        tick = next(job for job in payload["jobs"] if job["id"] == "tick")
        assert tick["trigger"] == "interval 1s" and tick["next_run"]
        assert set(tick["last_run"]) >= {"status", "start", "end", "error"}

        ran = runner.invoke(app, ["daemon", "run-now", "stubborn", "-w", root, "--json"])
        assert ran.exit_code == 0, ran.output
        run = json.loads(ran.stdout)
        assert run["via"] == "daemon" and run["status"] == "ok" and run["trigger"] == "run-now"
        assert run["pid"] == pid  # the daemon ran it, not the CLI

        human = runner.invoke(app, ["daemon", "status", "-w", root])
        assert "RUNNING" in human.stdout and "stubborn" in human.stdout
    finally:
        stopped = runner.invoke(app, ["daemon", "stop", "-w", root, "--json"])
    assert stopped.exit_code == 0, stopped.output
    assert json.loads(stopped.stdout) == {"stopped": True, "running": False, "pid": pid}
    assert not process_alive(pid), "daemon stop returned while the daemon process still ran"
    assert not daemon_running(workspace)
    assert not state_path(workspace).exists() and not pid_path(workspace).exists()
    assert "daemon stopped" in log_path(workspace).read_text()
    after = json.loads(runner.invoke(app, ["daemon", "status", "-w", root, "--json"]).stdout)
    assert after["running"] is False and after["pid"] is None
    assert all(r["status"] != "running" for r in job_runs(workspace))
    assert runner.invoke(app, ["daemon", "stop", "-w", root]).stdout.strip() == "daemon not running"


def test_sigterm_during_a_job_stops_at_a_safe_point(workspace, env, foreground) -> None:
    process = foreground(cli=True)
    request = subprocess.Popen(
        [sys.executable, "-m", "console.cli.main", "daemon", "run-now", "polite", "-w", str(workspace.root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (workspace.state_dir / "polite_started").exists(), what="the slow job to start")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, stderr = request.communicate(timeout=30)
    finally:
        if request.poll() is None:
            request.kill()
    assert request.returncode == 1 and "stopped at a safe point" in stderr
    (run,) = job_runs(workspace, "polite")
    assert run["status"] == "interrupted" and run["finished"]
    assert not state_path(workspace).exists() and not pid_path(workspace).exists()


def test_sigterm_waits_for_a_job_that_finishes(workspace, env, foreground) -> None:
    process = foreground()
    assert run_job_now(workspace, "stubborn", wait=False)["via"] == "daemon"
    wait_for(lambda: (workspace.state_dir / "stubborn_started").exists(), what="the slow job to start")
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    (run,) = job_runs(workspace, "stubborn")
    assert run["status"] == "ok" and run["produced_json"] == '{"finished": true}'


def test_second_foreground_daemon_exits_4_naming_the_holder(workspace, env, foreground) -> None:
    process = foreground()
    second = shopctl(["daemon", "start", "--foreground", "-w", str(workspace.root)], env, timeout=60)
    assert second.returncode == 4
    assert "lock 'daemon'" in second.stderr and f"pid {process.pid}" in second.stderr


def test_runs_left_running_by_a_killed_daemon_are_marked_interrupted(workspace, env, foreground) -> None:
    process = foreground()
    run_job_now(workspace, "polite", wait=False)
    wait_for(lambda: (workspace.state_dir / "polite_started").exists(), what="the slow job to start")
    process.kill()
    process.wait(timeout=30)
    assert [r["status"] for r in job_runs(workspace, "polite")] == ["running"]
    status = daemon_status(workspace)
    assert (
        status["running"] is False and status["pid"] is None
    )  # daemon.json is stale: its pid is gone and the lock is free
    foreground()
    wait_for(lambda: job_runs(workspace, "polite")[0]["status"] == "interrupted", what="the stale run closed")


def test_daemon_stop_returns_only_when_the_process_has_exited(tmp_path: Path, env) -> None:
    ws = make_workspace(
        tmp_path / "lingering",
        '[schedule]\nretry_attempts = 0\n[schedule.jobs.linger]\ntask = "daemon_test_tasks:lingering_thread"\n'
        "hours = 24\n",
    )
    root = str(ws.root)
    started = shopctl(["daemon", "start", "-w", root, "--json"], env)
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    try:
        ran = shopctl(["daemon", "run-now", "linger", "-w", root, "--json"], env)
        assert ran.returncode == 0 and json.loads(ran.stdout)["via"] == "daemon", ran.stderr
        stopped = shopctl(["daemon", "stop", "-w", root, "--json"], env)
        assert stopped.returncode == 0, stopped.stderr
        assert not process_alive(pid), "daemon stop said stopped while the daemon process still ran"
    finally:
        kill_quietly(pid)
