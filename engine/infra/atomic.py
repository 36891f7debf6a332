"""Atomic writes: temp file in the same folder, fsync, rename, so a crash leaves the last good state."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# How libraries that do not set errno (polars raises ComputeError or a bare OSError) word a full disk.
_DISK_FULL_TEXTS = ("no space left on device", "os error 28", "disk quota exceeded", "os error 122")


def is_disk_full(error: BaseException) -> bool:
    """Whether error means the disk (or the user's quota) is full, however the library that hit it said so."""
    if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
        return True
    text = str(error).lower()
    return any(marker in text for marker in _DISK_FULL_TEXTS)


def disk_full_error(target: Path | str, cause: BaseException) -> OSError:
    """An OSError(ENOSPC) naming the file being written, so every layer reports "disk full" and where."""
    if isinstance(cause, OSError) and cause.errno in _DISK_FULL_ERRNOS and cause.filename:
        return cause
    code = cause.errno if isinstance(cause, OSError) and cause.errno in _DISK_FULL_ERRNOS else errno.ENOSPC
    return OSError(code, os.strerror(code), str(target))


# A temp file without a writer's pid in its name (written before pids were recorded) is a leftover after this long.
UNOWNED_TEMP_SECONDS = 3600


def _new_temp(target: Path, suffix: str = "") -> Path:
    """A new temp file beside target, named `.NAME.PID-RANDOM.tmp` so a later writer can tell a leftover."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_temps(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.{os.getpid()}-", suffix=suffix + ".tmp", dir=target.parent
    )
    os.close(fd)
    return Path(tmp_name)


def pid_alive(pid: object) -> bool:
    """True while pid names a running process on this host (signal 0; a pid we may not signal counts as alive)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temps(target: Path | str) -> list[Path]:
    """Delete the temp files of target left by writers that no longer run (a kill -9 mid-write).

    The writer's pid is in the name, so a temp of a writer still running (another `score` to the same output)
    is never touched; returns what was removed.
    """
    target = Path(target)
    prefix = f".{target.name}."
    removed = []
    for path in target.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        owner = path.name[len(prefix) :].split("-", 1)[0]
        try:
            if owner.isdigit():
                stale = not pid_alive(int(owner))
            else:
                stale = time.time() - path.stat().st_mtime > UNOWNED_TEMP_SECONDS
            if stale:
                path.unlink()
                removed.append(path)
        except OSError:  # best effort: a file we cannot judge or remove stays, as it was
            continue
    return removed


def remove_temps(folder: Path, name: str = "*") -> list[Path]:
    """Delete the temp files an interrupted atomic write of `folder/name` left (the names _new_temp gives);
    `name` may be a glob. Returns what was removed. Callers hold the lock of whatever writes there."""
    removed = []
    for path in Path(folder).glob(f".{name}.*.tmp"):
        with contextlib.suppress(OSError):  # best effort: a file we cannot remove stays, as it was
            path.unlink()
            removed.append(path)
    return removed


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside target; on clean exit fsync it and rename it over target, else remove it.

    A full disk, however the writer reported it, is raised as OSError(ENOSPC) naming target.
    """
    target = Path(target)
    tmp = _new_temp(target, suffix)
    try:
        try:
            yield tmp
            _fsync_file(tmp)
        except Exception as error:
            if is_disk_full(error):
                raise disk_full_error(target, error) from error
            raise
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def stage_bytes(target: Path | str, payload: bytes) -> Path:
    """Write payload to a fsynced temp file beside target without replacing target; returns the temp path.

    For a commit that must touch two files: stage the second, commit the first, then commit_staged the
    second, so the step that needs disk space happens before anything becomes visible.
    """
    target = Path(target)
    tmp = _new_temp(target)
    try:
        tmp.write_bytes(payload)
        _fsync_file(tmp)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, Exception) and is_disk_full(error):
            raise disk_full_error(target, error) from error
        raise
    return tmp


def commit_staged(tmp: Path | str, target: Path | str) -> Path:
    """Rename a file stage_bytes wrote over target (a rename needs no new space)."""
    target = Path(target)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    return target


def atomic_write_bytes(target: Path | str, payload: bytes) -> Path:
    """Write bytes to target atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(payload)
    return Path(target)


def atomic_write_text(target: Path | str, text: str) -> Path:
    """Write UTF-8 text to target atomically."""
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_json(target: Path | str, payload: Any) -> Path:
    """Write JSON (indented, sorted keys, trailing newline) to target atomically."""
    return atomic_write_text(target, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_with(target: Path | str, writer: Callable[[Path], None], suffix: str = "") -> Path:
    """Call writer(temp_path) and rename the result over target; used for Parquet and ONNX files."""
    with atomic_path(target, suffix=suffix) as tmp:
        writer(tmp)
    return Path(target)
