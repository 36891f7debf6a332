"""Atomic writes: temp file in the same folder, fsync, rename, so a crash leaves the last good state."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
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


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path beside target; on clean exit fsync it and rename it over target, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


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
