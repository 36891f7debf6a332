"""A SparkSession from `[engine]` settings, with one clear error for each thing that can be missing.

The master comes from --master, else $SHOPCTL_SPARK_MASTER, else `[engine] master`. Spark missing, Java missing,
a master that does not answer within `[engine] connect_timeout_seconds`: each is an `EngineError` (one line,
exit 2), never a traceback or a hang.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.errors import ShopctlError
from engine.workspace import Workspace

MASTER_ENV = "SHOPCTL_SPARK_MASTER"


class EngineError(ShopctlError):
    """The Spark engine cannot start: pyspark or Java missing, or the master does not answer."""


def resolve_master(ws: Workspace | None, master: str | None = None) -> str:
    """--master, else $SHOPCTL_SPARK_MASTER, else `[engine] master` (local[2] by default)."""
    if master:
        return master
    if os.environ.get(MASTER_ENV):
        return os.environ[MASTER_ENV]
    return ws.settings.engine.master if ws is not None else "local[2]"


def check_pyspark() -> None:
    """Raise EngineError in one line when pyspark (or the pyarrow it needs for Arrow batches) is not installed."""
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as error:
        raise EngineError(
            f"--engine spark needs pyspark, pyarrow and pandas ({error.name} is not installed); "
            "run: pip install 'shopctl[spark]'"
        ) from None


def check_java() -> str:
    """The `java -version` line, or EngineError when Java is not found or does not run."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise EngineError(
            "--engine spark needs Java 17 and `java` is not on PATH (nor $JAVA_HOME); "
            "install it, e.g. apt-get install openjdk-17-jre-headless"
        )
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EngineError(
            f"--engine spark: `{java} -version` failed ({error}); check the Java install"
        ) from None
    if done.returncode != 0:
        raise EngineError(
            f"--engine spark: `{java} -version` exited {done.returncode}; check the Java install (Java 17)"
        )
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else "java"


def _probe(master: str, timeout: float) -> None:
    """A spark:// or k8s:// master must accept a TCP connection within the timeout (Spark itself retries for
    minutes); local, yarn and others are checked by the session start's own timeout."""
    if not master.startswith(("spark://", "k8s://")):
        return
    url = master.removeprefix("k8s://")
    hosts = url.removeprefix("spark://").split(",") if master.startswith("spark://") else [url]
    errors = []
    for host in hosts:
        parts = urlsplit(host if "//" in host else f"//{host}")
        port = parts.port or (7077 if master.startswith("spark://") else 443)
        try:
            with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
                return
        except OSError as error:
            errors.append(f"{parts.hostname}:{port}: {error.strerror or error}")
    raise EngineError(
        f"Spark master {master} does not answer within {timeout:g}s ({'; '.join(errors)}); "
        f"check --master, ${MASTER_ENV} or [engine] master in config.toml"
    )


def spark_session(
    ws: Workspace | None = None,
    master: str | None = None,
    *,
    conf: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Any:
    """A SparkSession on the resolved master (getOrCreate: a running session in this process is reused).

    The executors' Python is this interpreter (PYSPARK_PYTHON), so they import the same shopctl and packages.
    """
    check_pyspark()
    check_java()
    resolved = resolve_master(ws, master)
    settings = ws.settings.engine if ws is not None else None
    timeout = float(timeout or (settings.connect_timeout_seconds if settings else 60))
    _probe(resolved, timeout)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(resolved).appName(settings.app_name if settings else "shopctl")
    defaults = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
    }
    for key, value in {**defaults, **dict(conf or {})}.items():
        builder = builder.config(key, value)
    started: dict[str, Any] = {}

    def start() -> None:
        try:
            started["session"] = builder.getOrCreate()
        except Exception as error:  # noqa: BLE001 - reported on the caller's thread
            started["error"] = error

    worker = threading.Thread(target=start, name="shopctl-spark-start", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise EngineError(
            f"Spark master {resolved} did not start a session within {timeout:g}s; check the master "
            "(--master, $SHOPCTL_SPARK_MASTER, [engine] master) or raise [engine] connect_timeout_seconds"
        )
    if "error" in started:
        first = str(started["error"]).strip().splitlines()
        raise EngineError(
            f"Spark session on {resolved} failed to start: {first[0] if first else type(started['error']).__name__}"
        ) from None
    return started["session"]
