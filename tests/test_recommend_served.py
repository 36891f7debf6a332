"""The served-batch seam: what `recommend --input` served, written whole and read back as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import polars as pl

from engine.recommend.served import SCHEMA, record_served, scan_served, served_dir
from engine.workspace import init_workspace


def _served(users: list[str]) -> pl.DataFrame:
    rows = [
        {
            "user_id": u,
            "rank": r,
            "product_id": f"p{r}",
            "score": 1.0 / r,
            "source": "personal",
            "model": "recommendations",
            "model_version": 3,
        }
        for u in users
        for r in (1, 2)
    ]
    return pl.DataFrame(rows)


def test_batches_round_trip_in_utc_and_empty_batches_write_nothing(tmp_path):
    ws, _ = init_workspace(tmp_path / "ws")
    assert scan_served(ws) is None
    assert record_served(ws, _served([]).clear(), datetime(2026, 1, 1, tzinfo=UTC)) is None
    first = record_served(ws, _served(["u1", "u2"]), datetime(2026, 1, 1, 12, tzinfo=UTC))
    # a naive moment is UTC; an aware one is converted
    later = datetime(2026, 1, 2, 14, tzinfo=timezone(timedelta(hours=2)))
    second = record_served(ws, _served(["u3"]), later)
    assert first is not None and second is not None and first != second
    assert sorted(p.name for p in served_dir(ws).iterdir()) == sorted([first.name, second.name])
    frame = scan_served(ws).collect().sort("served_at", "user_id", "rank")
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame.height == 6
    assert frame.get_column("served_at").unique().sort().to_list() == [
        datetime(2026, 1, 1, 12, tzinfo=UTC),
        datetime(2026, 1, 2, 12, tzinfo=UTC),
    ]
    assert frame.filter(pl.col("user_id") == "u3").get_column("rank").to_list() == [1, 2]
