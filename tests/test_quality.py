"""Data-quality checks on a hand-built event window and on a user's batch against a reference profile."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.config import MonitorConfig
from engine.monitoring.profile import build_reference_profile
from engine.monitoring.quality import event_quality, quarantine_rows, table_quality
from engine.monitoring.windows import Window, baseline_windows
from engine.spec import TableSpec

DAY = datetime(2026, 3, 9, tzinfo=UTC)


def _events(
    start: datetime, count: int, *, channel: str = "web", price: float = 10.0, prefix: str = ""
) -> list:
    return [
        {
            "event_time": start + timedelta(minutes=index),
            "event_type": "view",
            "event_name": "view",
            "user_id": f"{prefix}u{index}",
            "session_id": f"{prefix}s{index}",
            "product_id": "p",
            "category": "c",
            "order_id": None,
            "price": price,
            "quantity": 1,
            "channel": channel,
        }
        for index in range(count)
    ]


def _lazy(rows: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(rows).with_columns(pl.col("event_time").cast(pl.Datetime("us", "UTC"))).lazy()


def _by_key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["metric"], row["scope"]): row for row in rows}


def test_event_window_quality() -> None:
    window = Window(DAY, DAY + timedelta(days=1))
    baselines = baseline_windows(window, 2)
    rows = []
    for number, base in enumerate(baselines):
        rows += _events(base.start, 400, prefix=f"b{number}")
    current = _events(DAY, 150, channel="web", price=10.0)
    current += _events(DAY + timedelta(hours=5), 20, channel="tiktok", price=-1.0, prefix="new")
    current.append(dict(current[0]))  # one exact duplicate
    rows += current
    now = DAY + timedelta(days=3)
    found = _by_key(event_quality(_lazy(rows), window, baselines, ["channel"], MonitorConfig(), now))
    assert found[("schema_errors", "overall")]["value"] == 0
    volume = found[("volume", "overall")]
    assert volume["value"] == 171 and volume["detail"]["baseline"] == 400
    assert volume["status"] == "warning" and volume["detail"]["anomaly"] == "low"
    price = found[("out_of_range_rate", "feature:price")]
    assert price["value"] == pytest.approx(20 / 171) and price["status"] == "warning"
    unseen = found[("unseen_category_rate", "feature:channel")]
    assert unseen["value"] == pytest.approx(20 / 171) and unseen["detail"]["examples"] == ["tiktok"]
    assert found[("duplicate_rate", "overall")]["value"] == pytest.approx(1 / 171)
    freshness = found[("freshness_hours", "overall")]
    newest = DAY + timedelta(hours=5, minutes=19)
    assert freshness["value"] == pytest.approx((window.end - newest).total_seconds() / 3600)
    assert found[("null_rate", "feature:user_id")]["value"] == 0


def test_missing_columns_are_a_critical_schema_error() -> None:
    window = Window(DAY, DAY + timedelta(days=1))
    frame = _lazy(_events(DAY, 5)).drop("price", "order_id")
    found = _by_key(event_quality(frame, window, [], [], MonitorConfig(), DAY + timedelta(days=1)))
    schema = found[("schema_errors", "overall")]
    assert schema["status"] == "critical" and schema["detail"]["missing_columns"] == ["order_id", "price"]
    assert found[("volume", "overall")]["status"] == "skipped"


def test_quarantine_rate_of_recent_ingests(tmp_path: Path) -> None:
    path = tmp_path / "ingests.jsonl"
    assert quarantine_rows(path) == []
    lines = [{"id": f"i{n}", "rows_read": 1000, "rows_quarantined": 0} for n in range(6)]
    lines.append({"id": "bad", "rows_read": 1000, "rows_quarantined": 500})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    (row,) = quarantine_rows(path)
    assert row["value"] == pytest.approx(500 / 5000) and row["status"] == "warning"
    assert row["detail"]["ingests"] == ["i2", "i3", "i4", "i5", "bad"]


def test_batch_against_reference_profile() -> None:
    generator = np.random.default_rng(0)
    spec = TableSpec(
        numeric=("pages",), categorical=("device",), target="converted", id_columns=("session_id",)
    )
    reference = pl.DataFrame(
        {
            "session_id": [f"s{n}" for n in range(500)],
            "pages": generator.integers(1, 20, 500).astype(float),
            "device": generator.choice(["mobile", "desktop"], 500),
        }
    )
    profile = build_reference_profile(reference, spec)
    batch = pl.DataFrame(
        {
            "session_id": ["a", "b", "c", "c"],
            "pages": [3.0, None, 500.0, 4.0],
            "device": ["mobile", "fridge", "desktop", "desktop"],
        }
    )
    found = _by_key(table_quality(batch, profile, spec.numeric, spec.categorical, spec.id_columns))
    assert found[("schema_errors", "overall")]["value"] == 0
    assert found[("null_rate", "feature:pages")]["value"] == 0.25
    assert found[("null_rate", "feature:pages")]["status"] == "warning"
    assert found[("out_of_range_rate", "feature:pages")]["value"] == 0.25
    assert found[("unseen_category_rate", "feature:device")]["detail"]["examples"] == ["fridge"]
    assert found[("duplicate_rate", "overall")]["value"] == 0.25
    missing = _by_key(table_quality(batch.drop("device"), profile, spec.numeric, spec.categorical))
    assert missing[("schema_errors", "overall")]["detail"]["missing_columns"] == ["device"]
