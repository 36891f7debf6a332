"""Segment mix in `monitor run`: no rows without a build, skipped with one, and an alert when a segment's share
leaves its band around the previous build."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from engine.customers.mix import band, segment_mix_rows
from engine.events import commit_events
from engine.monitoring import stats
from engine.monitoring.run import run_monitor
from engine.simulator import simulate
from engine.store.db import open_store
from engine.store.segments import save_build
from engine.workspace import Workspace, init_workspace

KEYS = {"run_id", "status", "source", "model", "models", "window", "baseline_windows", "backfill"} | {
    "checks",
    "firing",
    "alerts",
    "errors",
    "retention",
    "deliveries",
}


def _save(ws: Workspace, as_of: str, counts: dict[str, int]) -> None:
    save_build(
        open_store(ws),
        as_of=as_of,
        built="2026-01-01T00:00:00+00:00",
        fingerprint=as_of,
        users=sum(counts.values()),
        orders=sum(counts.values()),
        revenue=1.0,
        clusters=1,
        summary={"segments": counts},
    )


@pytest.fixture()
def shop(tmp_path: Path) -> Workspace:
    ws, _ = init_workspace(tmp_path / "shop")
    commit_events(ws, simulate(16, seed=3, start=date(2026, 1, 5), sessions_per_day=150).events, "sim")
    return ws


def test_band_is_the_widest_of_points_share_and_noise() -> None:
    assert band(0.04, 100_000) == pytest.approx((0.02, 0.06))  # 2 points
    assert band(0.40, 100_000) == pytest.approx((0.30, 0.50))  # a quarter of the share
    low, high = band(0.10, 50)  # 3 standard errors of 50 customers: ±0.127
    assert high - 0.10 == pytest.approx(3 * np.sqrt(0.09 / 50))


def test_mix_rows_skip_cleanly_then_alert_on_a_growing_segment(shop: Workspace) -> None:
    assert segment_mix_rows(open_store(shop)) == []
    plain = run_monitor(shop, at=date(2026, 1, 20)).to_dict()
    assert set(plain) == KEYS and "segments" not in {check["name"] for check in plain["checks"]}

    _save(shop, "2026-01-10T00:00:00+00:00", {"Champions": 300, "At risk": 100, "Lost": 600})
    single = segment_mix_rows(open_store(shop))
    assert {row["status"] for row in single} == {"skipped"}

    _save(shop, "2026-01-17T00:00:00+00:00", {"Champions": 280, "At risk": 250, "Lost": 470})
    rows = {row["scope"]: row for row in segment_mix_rows(open_store(shop))}
    at_risk = rows["segment:rfm=At risk"]
    assert at_risk["value"] == pytest.approx(0.25) and at_risk["status"] == "warning"
    assert at_risk["upper"] == pytest.approx(0.10 + 3 * np.sqrt(0.09 / 1000))  # noise is the widest here
    assert rows["segment:rfm=Champions"]["status"] == "ok"
    mix = rows["overall"]
    assert mix["value"] == pytest.approx(stats.psi(np.array([300, 100, 600]), np.array([280, 250, 470])))
    assert mix["detail"]["p_value"] < 1e-6

    result = run_monitor(shop, at=date(2026, 1, 20)).to_dict()
    check = next(check for check in result["checks"] if check["name"] == "segments")
    assert check["status"] == "warning"
    firing = [item for item in result["firing"] if item["rule"] == "segment-mix"]
    assert {item["scope"] for item in firing} == {"segment:rfm=At risk"}  # Lost's 0.47 is inside 0.45–0.75
    assert rows["segment:rfm=Lost"]["status"] == "ok" and mix["status"] == "ok"  # PSI 0.17 < 0.2
    assert any(alert["scope"] == "segment:rfm=At risk" for alert in result["alerts"])
