"""Reading Parquet inputs and writing Parquet folders from Spark, with the local path's errors and atomicity."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from engine.errors import InputError

REMOTE_SCHEMES = ("s3://", "s3a://", "s3n://", "hdfs://", "gs://", "abfs://", "abfss://", "dbfs:/", "file:/")


def is_remote(path: str) -> bool:
    """Whether the path is a URL Spark resolves (object store, HDFS), not a path on this machine."""
    return "://" in path or path.startswith("dbfs:/")


def read_parquet(spark: Any, path: str) -> Any:
    """A DataFrame over a Parquet file or folder (hive-partitioned folders included); InputError if absent."""
    if not is_remote(path):
        local = Path(path)
        if not local.exists():
            raise InputError(f"{local}: no such file or folder; check the path passed to --input")
        if local.is_dir() and not any(local.rglob("*.parquet")):
            raise InputError(f"{local}: the folder holds no .parquet file; nothing to read")
    try:
        return spark.read.parquet(path)
    except Exception as error:  # noqa: BLE001 - Spark's AnalysisException names the path
        raise InputError(f"{path}: Spark cannot read it as Parquet: {first_line(error)}") from None


def write_parquet(frame: Any, path: str) -> None:
    """Write a Parquet folder: locally into a temp folder renamed into place (a failed run leaves the old output),
    remotely with Spark's overwrite (object stores have no rename; their committers make the write whole)."""
    if is_remote(path):
        frame.write.mode("overwrite").parquet(path)
        return
    target = Path(path).absolute()
    if not target.parent.exists():
        raise InputError(f"{target.parent}: no such folder for --output; create it first")
    if target.exists() and not target.is_dir():
        raise InputError(f"{target}: exists and is a file; the Spark engine writes a Parquet folder there")
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        frame.write.mode("overwrite").parquet(str(temp))
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    for checksum in temp.rglob(
        ".*.crc"
    ):  # Hadoop's local checksums: they stop polars/pyarrow reading the folder
        checksum.unlink()
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    temp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def first_line(error: BaseException) -> str:
    """The first line of an error's text (a Spark error carries a JVM stack trace after it)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def user_error(error: BaseException) -> InputError | None:
    """The InputError an executor raised, rebuilt from the Python traceback Spark wraps it in (else None)."""
    text = str(error)
    marker = "engine.errors.InputError: "
    start = text.rfind(marker)
    if start < 0:
        marker = "InputError: "
        start = text.rfind(marker)
    if start < 0:
        return None
    return InputError(text[start + len(marker) :].strip().splitlines()[0])
