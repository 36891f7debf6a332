"""Fault-injection points for the crash tests: ``SHOPCTL_FAULT=<point>`` kills the process at that point.

A write that spans two files (a version folder and its history line, a manifest and the ingest log) names the
window between them with ``fault_point("...")``; the kill -9 tests set the variable and check that the next
command recovers. Unset (always, outside tests), a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "SHOPCTL_FAULT"


def fault_point(name: str) -> None:
    """Die at once, as ``kill -9`` would (no cleanup, no atexit), when ``SHOPCTL_FAULT`` names this point."""
    wanted = os.environ.get(ENV_VAR)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
