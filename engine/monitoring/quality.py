"""Data-quality checks: schema, null rates, out-of-range values, unseen categories, duplicates, volume,
freshness and the quarantine rate of recent ingests, on the event store's window or on a user's batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from engine.config import MonitorConfig
from engine.event_columns import EVENT_COLUMNS
from engine.monitoring.windows import Window

CANONICAL_COLUMNS = EVENT_COLUMNS
NULL_RATE_COLUMNS = ("user_id", "product_id", "category", "price")
NULL_RATE_RISE = 0.10  # absolute rise over the baseline null rate that is flagged (and at least double)
OUT_OF_RANGE_LIMIT = 0.01
UNSEEN_LIMIT = 0.05
DUPLICATE_LIMIT = 0.01
FRESHNESS_LIMIT_HOURS = 26.0
QUARANTINE_LIMIT = 0.05
RECENT_INGESTS = 5
DUPLICATE_KEY = ("session_id", "event_time", "event_type", "event_name", "product_id", "order_id")


def _schema_row(missing: list[str]) -> dict[str, Any]:
    """The schema check: how many expected columns are missing (critical when any is)."""
    return _row(
        "schema_errors",
        "overall",
        float(len(missing)),
        "critical" if missing else "ok",
        threshold=0.0,
        missing_columns=missing,
    )


def _row(metric: str, scope: str, value: float | None, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "check_name": "quality",
        "metric": metric,
        "scope": scope,
        "kind": "realized",
        "value": value,
        "lower": extra.pop("lower", None),
        "upper": extra.pop("upper", None),
        "threshold": extra.pop("threshold", None),
        "status": status,
        "detail": extra,
    }


def _limit_row(metric: str, scope: str, value: float, limit: float, **extra: Any) -> dict[str, Any]:
    """A row that warns when its value exceeds a fixed limit (stored as the row's threshold)."""
    return _row(metric, scope, value, "warning" if value > limit else "ok", threshold=limit, **extra)


def _null_rate_status(value: float, baseline: float | None) -> str:
    if baseline is None:
        return "ok"
    return "warning" if value > baseline + NULL_RATE_RISE and value > 2 * baseline else "ok"


def event_quality(
    events: pl.LazyFrame,
    window: Window,
    baselines: Sequence[Window],
    dimensions: Sequence[str],
    config: MonitorConfig,
    now: datetime,
    newest_before_end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Quality rows for the event store's window, compared with the same-weekday baseline windows.

    `newest_before_end` (the newest event before the window's end) is looked up in events when not given.
    """
    columns = events.collect_schema().names()
    missing = [name for name in CANONICAL_COLUMNS if name not in columns]
    rows = [_schema_row(missing)]
    dims = [name for name in dimensions if name in columns]
    windows = [window, *baselines]
    scoped = _numbered(events, windows)
    null_columns = [name for name in (*NULL_RATE_COLUMNS, *dims) if name in columns]
    summary = (
        scoped.group_by("window")
        .agg(
            pl.len().alias("events"),
            *[pl.col(name).null_count().alias(f"null:{name}") for name in null_columns],
        )
        .collect()
    )
    per_window = {record["window"]: record for record in summary.iter_rows(named=True)}
    current = per_window.get(0)
    base = [per_window[k] for k in range(1, len(windows)) if k in per_window]
    rows.append(_volume_row(current, base, window, config.volume_tolerance))
    if current is not None and current["events"]:
        rows += _null_rate_rows(current, base, null_columns)
        rows += _content_rows(scoped, columns, current["events"], now)
        rows += _unseen_category_rows(scoped, dims, current["events"])
    rows.append(_freshness_row(events, window, now, newest_before_end))
    return rows


def _numbered(events: pl.LazyFrame, windows: Sequence[Window]) -> pl.LazyFrame:
    """The events inside any of the windows, each with the number of its window (0 = the current one)."""
    index = pl.lit(None, dtype=pl.Int32)
    for position in reversed(range(len(windows))):
        inside = (pl.col("event_time") >= windows[position].start) & (
            pl.col("event_time") < windows[position].data_end
        )
        index = pl.when(inside).then(pl.lit(position, dtype=pl.Int32)).otherwise(index)
    lo = min(w.start for w in windows)
    return (
        events.filter((pl.col("event_time") >= lo) & (pl.col("event_time") < windows[0].data_end))
        .with_columns(index.alias("window"))
        .filter(pl.col("window").is_not_null())
    )


def _volume_row(
    current: dict[str, Any] | None, base: list[dict[str, Any]], window: Window, tolerance: float
) -> dict[str, Any]:
    """Events in the window against the baseline windows' mean, within a relative tolerance."""
    n_events = current["events"] if current else 0
    if not base:
        return _row("volume", "overall", float(n_events), "skipped", reason="no baseline yet")
    mean_volume = sum(b["events"] for b in base) / len(base)
    lower = mean_volume * (1 - tolerance)
    upper = mean_volume / (1 - tolerance)
    anomaly = "low" if n_events < lower else "high" if n_events > upper else None
    return _row(
        "volume",
        "overall",
        float(n_events),
        "warning" if anomaly else "ok",
        lower=lower,
        upper=upper,
        baseline=mean_volume,
        anomaly=anomaly,
        change=(n_events - mean_volume) / mean_volume if mean_volume else None,
        partial=window.partial,
    )


def _null_rate_rows(
    current: dict[str, Any], base: list[dict[str, Any]], null_columns: list[str]
) -> list[dict[str, Any]]:
    """Each column's share of nulls in the window against its share over the baseline windows."""
    rows = []
    n_events = current["events"]
    base_events = sum(b["events"] for b in base)
    for name in null_columns:
        value = current[f"null:{name}"] / n_events
        baseline = sum(b[f"null:{name}"] for b in base) / base_events if base_events else None
        rows.append(
            _row("null_rate", f"feature:{name}", value, _null_rate_status(value, baseline), baseline=baseline)
        )
    return rows


def _content_rows(
    scoped: pl.LazyFrame, columns: list[str], n_events: int, now: datetime
) -> list[dict[str, Any]]:
    """Out-of-range prices, quantities and future times, and duplicate events, in the current window."""
    present = [name for name in CANONICAL_COLUMNS if name in columns]
    checks = (
        scoped.filter(pl.col("window") == 0)
        .select(
            ((pl.col("price") < 0).sum() if "price" in columns else pl.lit(0)).alias("bad_price"),
            ((pl.col("quantity") <= 0).sum() if "quantity" in columns else pl.lit(0)).alias("bad_quantity"),
            (pl.col("event_time") > now + timedelta(hours=1)).sum().alias("future_time"),
            pl.struct([pl.col(name) for name in DUPLICATE_KEY if name in present])
            .n_unique()
            .alias("distinct"),
        )
        .collect()
        .row(0, named=True)
    )
    rows = []
    for scope, count in (
        ("feature:price", checks["bad_price"]),
        ("feature:quantity", checks["bad_quantity"]),
        ("feature:event_time", checks["future_time"]),
    ):
        rate = count / n_events
        rows.append(
            _limit_row(
                "out_of_range_rate",
                scope,
                rate,
                OUT_OF_RANGE_LIMIT,
                rows=count,
            )
        )
    duplicate_rate = 1 - checks["distinct"] / n_events
    rows.append(
        _limit_row(
            "duplicate_rate",
            "overall",
            duplicate_rate,
            DUPLICATE_LIMIT,
        )
    )
    return rows


def _unseen_category_rows(scoped: pl.LazyFrame, dims: list[str], n_events: int) -> list[dict[str, Any]]:
    """Each dimension's share of window events whose value no baseline window had (a new campaign, a typo)."""
    rows = []
    current_events = scoped.filter(pl.col("window") == 0)
    for name in dims:
        seen = scoped.filter(pl.col("window") > 0).select(pl.col(name).drop_nulls().unique()).collect()
        if seen.is_empty():
            continue
        unseen = (
            current_events.filter(pl.col(name).is_not_null() & ~pl.col(name).is_in(seen[name].implode()))
            .select(pl.len(), pl.col(name).unique().head(5).implode().alias("examples"))
            .collect()
            .row(0)
        )
        rate = unseen[0] / n_events
        rows.append(
            _limit_row(
                "unseen_category_rate",
                f"feature:{name}",
                rate,
                UNSEEN_LIMIT,
                examples=list(unseen[1] or []),
            )
        )
    return rows


def _freshness_row(
    events: pl.LazyFrame, window: Window, now: datetime, newest: datetime | None
) -> dict[str, Any]:
    """Hours from the newest event before the window's end to that end (or now, if sooner)."""
    if newest is None:
        newest = (
            events.filter(pl.col("event_time") < window.end)
            .select(pl.col("event_time").max())
            .collect()
            .item()
        )
    if newest is None:
        return _row("freshness_hours", "overall", None, "skipped", reason="no events before the window end")
    lag = max((min(now, window.end) - newest).total_seconds() / 3600, 0.0)
    return _limit_row(
        "freshness_hours",
        "overall",
        lag,
        FRESHNESS_LIMIT_HOURS,
        newest_event=newest.isoformat(),
    )


def quarantine_rows(ingests_path: Path) -> list[dict[str, Any]]:
    """The quarantine rate of the most recent ingests recorded in data/ingests.jsonl."""
    if not ingests_path.exists():
        return []
    records = []
    for line in ingests_path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("rows_read"):
            records.append(record)
    recent = records[-RECENT_INGESTS:]
    if not recent:
        return []
    read = sum(int(r.get("rows_read") or 0) for r in recent)
    quarantined = sum(int(r.get("rows_quarantined") or 0) for r in recent)
    rate = quarantined / read if read else 0.0
    return [
        _limit_row(
            "quarantine_rate",
            "overall",
            rate,
            QUARANTINE_LIMIT,
            ingests=[r.get("id") or r.get("ingest_id") for r in recent],
            rows_read=read,
            rows_quarantined=quarantined,
        )
    ]


def _feature_profile(profile: dict[str, Any], name: str) -> dict[str, Any]:
    features = profile.get("features") or {}
    if isinstance(features, list):
        features = {entry.get("name"): entry for entry in features if isinstance(entry, dict)}
    return features.get(name) or {}


def table_quality(
    frame: pl.DataFrame,
    profile: dict[str, Any],
    numeric: Sequence[str],
    categorical: Sequence[str],
    id_columns: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Quality rows for a user's batch against a model's reference profile (schema, nulls, ranges, categories)."""
    rows: list[dict[str, Any]] = []
    missing = [name for name in (*numeric, *categorical) if name not in frame.columns]
    rows.append(_schema_row(missing))
    total = frame.height
    if not total:
        return rows
    for name in (*numeric, *categorical):
        if name in missing:
            continue
        reference = _feature_profile(profile, name)
        value = frame[name].null_count() / total
        baseline = reference.get("null_rate")
        rows.append(
            _row("null_rate", f"feature:{name}", value, _null_rate_status(value, baseline), baseline=baseline)
        )
        if name in numeric and reference.get("min") is not None and reference.get("max") is not None:
            low, high = float(reference["min"]), float(reference["max"])
            margin = (high - low) * 0.5
            column = frame[name].cast(pl.Float64, strict=False)
            count = int(((column < low - margin) | (column > high + margin)).sum() or 0)
            rows.append(
                _limit_row(
                    "out_of_range_rate",
                    f"feature:{name}",
                    count / total,
                    OUT_OF_RANGE_LIMIT,
                    rows=count,
                    reference_min=low,
                    reference_max=high,
                )
            )
        known = reference.get("categories")
        # With rare categories pooled as "other" in the profile, "unseen" cannot be told apart from "rare".
        if name in categorical and known and not reference.get("other_count"):
            column = frame[name].cast(pl.String, strict=False)
            unseen_mask = column.is_not_null() & ~column.is_in(list(known))
            count = int(unseen_mask.sum())
            rows.append(
                _limit_row(
                    "unseen_category_rate",
                    f"feature:{name}",
                    count / total,
                    UNSEEN_LIMIT,
                    examples=column.filter(unseen_mask).unique().head(5).to_list(),
                )
            )
    keys = [name for name in id_columns if name in frame.columns]
    if keys:  # identical feature rows are normal; a repeated id is not
        duplicate_rate = 1 - frame.select(keys).n_unique() / total
        rows.append(
            _limit_row(
                "duplicate_rate",
                "overall",
                duplicate_rate,
                DUPLICATE_LIMIT,
                key=keys,
            )
        )
    return rows
