"""Inter-process locks for writers that must not overlap (ingest, retrain, registry promotion).

flock-based, so a crashed holder never leaves a stale lock; the holder's description is written beside the
lock so the second process can say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from engine.errors import InputError, WorkspaceBusy
from engine.workspace import Workspace

DEFAULT_WAIT_SECONDS = 5.0
# A lock name becomes a file name under state/locks: no separators, no leading dot, nothing to climb out with.
LOCK_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _holder_description() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200] if sys.argv else "",
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def read_holder(workspace: Workspace, name: str) -> dict[str, object] | None:
    """Who holds (or last held) the named lock, if recorded."""
    path = workspace.locks_dir / f"{name}.holder"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def workspace_lock(
    workspace: Workspace, name: str, *, wait_seconds: float = DEFAULT_WAIT_SECONDS, purpose: str = ""
) -> Iterator[None]:
    """Hold the named lock; wait up to wait_seconds, then raise WorkspaceBusy naming the holder."""
    if not LOCK_NAME_PATTERN.match(name) or ".." in name:
        raise InputError(f"lock name {name!r} is not valid (letters, digits, '_', '-', '.'; no path)")
    workspace.locks_dir.mkdir(parents=True, exist_ok=True)
    lock_path = workspace.locks_dir / f"{name}.lock"
    handle = open(lock_path, "a+")  # noqa: SIM115 - closed in finally
    try:
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = read_holder(workspace, name) or {}
                    who = (
                        f"pid {holder.get('pid')} ({holder.get('command') or 'unknown command'}) "
                        f"since {holder.get('since')}"
                        if holder
                        else "another process"
                    )
                    raise WorkspaceBusy(
                        f"workspace busy: lock '{name}' in {workspace.locks_dir} is held by {who}; "
                        "try again when it finishes"
                    ) from None
                time.sleep(0.05)
        description = _holder_description()
        if purpose:
            description["purpose"] = purpose
        holder_path = workspace.locks_dir / f"{name}.holder"
        holder_path.write_text(json.dumps(description))
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                holder_path.unlink()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
