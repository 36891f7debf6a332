"""What a recommender served: one Parquet file per batch, the seam between serving and monitoring.

`shopctl recommend --input` writes the rows it served here (`record_served`); `monitor run` reads them back
(`scan_served`) to measure the online hit rate once later events land, and the TUI shows what was served.
Each file is written atomically, so a reader sees whole batches only; re-reading never changes a file.

Metric rows that monitoring writes for a recommender use `check_name = CHECK`, `model = <model name>` and
the names in `METRICS`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from engine.workspace import Workspace

CHECK = "recommendations"
# online_hit_rate: share of served users who viewed, carted or bought a served item within the horizon;
# coverage, gini, fallback_share: of what was served in the window; unknown_item_share: share of the window's
# interactions on items the serving version does not know (catalog drift); served_users: users served.
METRICS = ("online_hit_rate", "coverage", "gini", "fallback_share", "unknown_item_share", "served_users")

SCHEMA: dict[str, pl.DataType] = {
    "served_at": pl.Datetime("us", "UTC"),
    "user_id": pl.String(),
    "rank": pl.Int32(),
    "product_id": pl.String(),
    "score": pl.Float32(),
    "source": pl.String(),
    "model": pl.String(),
    "model_version": pl.Int64(),
}


def served_dir(ws: Workspace) -> Path:
    """The folder of served batches."""
    return ws.data_dir / "recommend" / "served"


def record_served(ws: Workspace, table: pl.DataFrame, served_at: datetime) -> Path | None:
    """Write one served batch (the long table `Recommender.recommend` returns) as one file; None if empty."""
    from engine.infra.atomic import atomic_write_with

    if table.is_empty():
        return None
    if served_at.tzinfo is None:
        served_at = served_at.replace(tzinfo=UTC)
    served_at = served_at.astimezone(UTC)
    frame = table.with_columns(pl.lit(served_at).alias("served_at")).select(
        [pl.col(name).cast(dtype) for name, dtype in SCHEMA.items()]
    )
    folder = served_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"served-{served_at:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.parquet"
    return atomic_write_with(folder / name, lambda tmp: frame.write_parquet(tmp))


def scan_served(ws: Workspace) -> pl.LazyFrame | None:
    """Every served batch as one lazy frame (columns as SCHEMA), or None when nothing was served yet."""
    folder = served_dir(ws)
    if not folder.is_dir() or not any(folder.glob("served-*.parquet")):
        return None
    return pl.scan_parquet(folder / "served-*.parquet", schema=SCHEMA)
