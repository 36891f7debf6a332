"""Helpers shared by the daemon, retrain and concurrency tests (no tests here).

Test tasks for daemons in another process live in a small module written to a temporary folder and put on
that process's PYTHONPATH, so the tests never depend on the engine parts other people are building.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from engine.scheduling.daemon import Daemon
from engine.store import open_store
from engine.workspace import Workspace, init_workspace

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]

TASKS_MODULE = textwrap.dedent(
    '''
    """Test tasks run by daemons started in other processes."""
    import json
    import os
    import time
    from pathlib import Path

    from engine.scheduling.tasks import JobInterrupted
    from engine.store import open_store


    def tick(context):
        return {"pid": os.getpid()}


    def polite_slow(context):
        """Run until the daemon asks to stop (or 30 s), then stop at a safe point."""
        marker = Path(context.workspace.state_dir) / "polite_started"
        marker.write_text("1")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if context.stop_requested():
                raise JobInterrupted("stopped at a safe point", {"steps": 1})
            time.sleep(0.05)
        return {"steps": 2}


    def stubborn_slow(context):
        """Ignore the stop request and finish after 1.5 s (the daemon must wait for it)."""
        marker = Path(context.workspace.state_dir) / "stubborn_started"
        marker.write_text("1")
        time.sleep(1.5)
        return {"finished": True}


    def lingering_thread(context):
        """Leave a non-daemon thread behind (as a library's worker pool can): the process outlives the lock."""
        import threading

        threading.Thread(target=time.sleep, args=(1.5,), daemon=False).start()
        return {"left": "a thread"}


    def writer(context):
        """Write one monitor run and 20 metrics in one transaction, like a monitoring job."""
        store = open_store(context.workspace)
        stamp = (context.scheduled_for.isoformat() if context.scheduled_for else str(time.time_ns()))
        with store.transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO monitor_runs (model, source, window_start, window_end, started, status) "
                "VALUES ('m', ?, ?, ?, ?, 'ok')",
                (context.trigger + ':' + stamp + ':' + str(time.time_ns()), stamp, stamp, stamp),
            )
            run_id = cursor.lastrowid
            for index in range(20):
                connection.execute(
                    "INSERT INTO metrics (run_id, model, check_name, metric, scope, window_start, window_end, value) "
                    "VALUES (?, 'm', 'kpi', ?, 'overall', ?, ?, ?)",
                    (run_id, f"metric_{index}", stamp, stamp, float(index)),
                )
        return {"monitor_run": run_id, "metrics": 20}
    '''
)


def make_workspace(root: Path, schedule_toml: str) -> Workspace:
    """A fresh workspace whose config.toml holds only the given [schedule] text."""
    workspace, _ = init_workspace(root)
    workspace.config_path.write_text(textwrap.dedent(schedule_toml))
    workspace.reload_settings()
    return workspace


def wait_for(predicate: Callable[[], T], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll predicate until it returns something truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def job_runs(workspace: Workspace, job_id: str | None = None) -> list[dict[str, Any]]:
    """Recorded runs, oldest first."""
    store = open_store(workspace)
    if job_id is None:
        return store.query("SELECT * FROM job_runs ORDER BY id")
    return store.query("SELECT * FROM job_runs WHERE job_id = ? ORDER BY id", (job_id,))


@contextmanager
def daemon_thread(workspace: Workspace, **options: Any) -> Iterator[Daemon]:
    """Run a Daemon in a thread of this process; always stopped and joined on exit."""
    daemon = Daemon(workspace, poll_seconds=0.2, **options)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            daemon.run()
        except BaseException as error:  # noqa: BLE001 - surfaced to the test below
            errors.append(error)
            daemon.ready.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert daemon.ready.wait(20), "daemon did not start"
        if errors:
            raise errors[0]
        yield daemon
    finally:
        daemon.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "daemon thread did not stop"
    if errors:
        raise errors[0]


def tasks_env(folder: Path) -> dict[str, str]:
    """Environment for a child process that can import the test tasks module as `daemon_test_tasks`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "daemon_test_tasks.py").write_text(TASKS_MODULE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env.pop("SHOPCTL_WORKSPACE", None)
    return env


def shopctl(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the shopctl CLI in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "console.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kill_quietly(pid: int | None) -> None:
    """Make sure a daemon started by a test is gone (finalizers call this)."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
