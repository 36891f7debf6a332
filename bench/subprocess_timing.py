"""Timing a whole command as the user meets it: a subprocess, its wall time and its own peak RSS (wait4)."""

from __future__ import annotations

import os
import subprocess
import time


def timed(command: list[str]) -> dict:
    """Run a command; wall seconds, peak RSS in MB (its own process tree's largest) and its stdout bytes.

    A child's ru_maxrss starts at its parent's peak on Linux: build large inputs in a separate process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {stderr}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "stdout": stdout}
