"""The segments screen's read model: the segment mix of the newest builds, the monitor's verdict on it, and the
newest build's cluster profiles (read from the store's segment_builds and metrics; no Parquet read)."""

from __future__ import annotations

from typing import Any

from engine.customers.names import SEGMENTS
from engine.dashboard.reads import latest_window, rows_at
from engine.dashboard.segment_model import (
    EMPTY_SEGMENTS,
    ClusterRow,
    SegmentMixRow,
    SegmentsView,
)
from engine.store.db import Store
from engine.store.segments import recent_builds

MIX_BUILDS = 3  # builds shown side by side (what fits 80 columns)


def _monitor_verdicts(store: Store) -> tuple[dict[str, str], float | None]:
    window_end = latest_window(store, "segment_share", "segment:rfm=%")
    if window_end is None:
        return {}, None
    verdicts = {
        row["scope"].removeprefix("segment:rfm="): row["status"]
        for row in rows_at(store, "segment_share", "segment:rfm=%", window_end)
    }
    psi_rows = rows_at(store, "segment_mix_psi", "overall", window_end)
    psi = psi_rows[0]["value"] if psi_rows else None
    return verdicts, psi


def read_segments(store: Store) -> SegmentsView:
    builds = recent_builds(store, limit=MIX_BUILDS)
    if not builds:
        return EMPTY_SEGMENTS
    verdicts, psi = _monitor_verdicts(store)
    newest: dict[str, Any] = builds[-1]
    counts = [build["summary"].get("segments", {}) for build in builds]
    totals = [max(sum(c.values()), 1) for c in counts]
    names = [name for name in SEGMENTS if any(name in c for c in counts)]
    rows = []
    for name in names:
        shares = tuple(
            (c[name] / total) if name in c else None for c, total in zip(counts, totals, strict=True)
        )
        change = None
        if len(shares) >= 2:
            change = (shares[-1] or 0.0) - (shares[-2] or 0.0)
        rows.append(SegmentMixRow(name, shares, int(counts[-1].get(name, 0)), change, verdicts.get(name, "")))
    clusters = tuple(
        ClusterRow(
            int(c["cluster"]),
            int(c["users"]),
            float(c["share"]),
            str(c.get("description", "")),
            {k: float(v) for k, v in (c.get("means") or {}).items()},
        )
        for c in newest["summary"].get("clusters", [])
    )
    return SegmentsView(
        as_of=tuple(build["as_of"] for build in builds),
        users=int(newest["users"]),
        rows=tuple(rows),
        clusters=clusters,
        mix_psi=None if psi is None else float(psi),
        repurchase_rate=newest["summary"].get("repurchase_rate"),
    )


__all__ = ["EMPTY_SEGMENTS", "ClusterRow", "SegmentMixRow", "SegmentsView", "read_segments"]
