"""Where the daemon keeps its files inside a workspace's state/ folder."""

from __future__ import annotations

from pathlib import Path

from engine.workspace import Workspace

DAEMON_LOCK = "daemon"


def pid_path(workspace: Workspace) -> Path:
    """state/daemon.pid: the running daemon's process id."""
    return workspace.state_dir / "daemon.pid"


def state_path(workspace: Workspace) -> Path:
    """state/daemon.json: pid, start, heartbeat and next runs, rewritten atomically by the daemon."""
    return workspace.state_dir / "daemon.json"


def log_path(workspace: Workspace) -> Path:
    """state/logs/daemon.log: where a background daemon writes its log."""
    return workspace.logs_dir / "daemon.log"


def requests_dir(workspace: Workspace) -> Path:
    """state/requests/: run-now requests the daemon picks up every second."""
    return workspace.state_dir / "requests"


def request_path(workspace: Workspace, request_id: str) -> Path:
    """One run-now request file."""
    return requests_dir(workspace) / f"{request_id}.json"


def done_path(workspace: Workspace, request_id: str) -> Path:
    """The daemon's answer to a run-now request: the id of the run it recorded."""
    return requests_dir(workspace) / "done" / f"{request_id}.json"
