"""Write a simulation as a file `shopctl ingest` loads with no mapping, plus its ground truth beside it."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, Any, cast

import polars as pl

from engine.errors import InputError
from engine.infra.atomic import atomic_write_json, atomic_write_with
from engine.simulator import FORMATS
from engine.simulator.simulation import Simulation

SUFFIX_FORMAT = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
ISO_UTC = "%Y-%m-%dT%H:%M:%S%.6fZ"


def truth_path(out: Path | str) -> Path:
    """Where the ground truth of an events file goes: `<out>.truth.json`."""
    return Path(f"{out}.truth.json")


def _format_of(out: Path, fmt: str | None) -> tuple[str, bool]:
    suffixes = [suffix.lower() for suffix in out.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if fmt is None:
        data_suffix = suffixes[-2] if compressed and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
        fmt = SUFFIX_FORMAT.get(data_suffix)
        if fmt is None:
            raise InputError(
                f"{out}: cannot tell the format from the name; end it in .csv, .tsv, .parquet or .jsonl "
                "(optionally .gz), or pass --format"
            )
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is unknown: pick one of {', '.join(FORMATS)}")
    if fmt == "parquet" and compressed:
        raise InputError(f"{out}: Parquet is compressed inside the file; drop the .gz suffix")
    return fmt, compressed


def _writer(events: pl.DataFrame, fmt: str, compressed: bool):  # noqa: ANN202 - a local closure factory
    if fmt == "parquet":
        return lambda path: events.write_parquet(path, compression="zstd", statistics=True)
    text = events.with_columns(pl.col("event_time").dt.strftime(ISO_UTC))

    def write_text(path: Path) -> None:
        handle: IO[bytes] = (
            cast(IO[bytes], gzip.open(path, "wb", compresslevel=5)) if compressed else open(path, "wb")  # noqa: SIM115
        )
        with handle:
            if fmt == "jsonl":
                text.write_ndjson(handle)
            else:
                text.write_csv(handle, separator="\t" if fmt == "tsv" else ",")

    return write_text


def write_simulation(sim: Simulation, out: Path | str, fmt: str | None = None) -> dict[str, Any]:
    """Write the events (csv, tsv, parquet or jsonl, optionally gzip) and `<out>.truth.json`, atomically."""
    out = Path(out)
    fmt, compressed = _format_of(out, fmt)
    if out.exists() and out.is_dir():
        raise InputError(f"{out}: is a folder; give a file name such as {out / 'events.parquet'}")
    atomic_write_with(out, _writer(sim.events, fmt, compressed))
    truth = truth_path(out)
    atomic_write_json(truth, sim.ground_truth)
    return {
        "events": str(out),
        "truth": str(truth),
        "format": fmt,
        "compressed": compressed,
        "rows": sim.events.height,
        "bytes": out.stat().st_size,
    }
