"""The segments screen at 80×24 and 120×40 on the seeded console plus three segment builds and one monitor
verdict (At risk out of its band), and its empty state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_snapshots import after
from tui_helpers import seeded_app

from console.tui.app import ShopctlApp
from engine.customers.mix import segment_mix_rows
from engine.dashboard import load_console
from engine.store.db import open_store
from engine.store.metrics import save_run
from engine.store.segments import save_build

BUILDS = {
    "2026-02-15T00:00:00+00:00": {"Champions": 410, "Loyal": 520, "Potential loyalist": 300, "At risk": 180}
    | {"Hibernating": 900, "Lost": 690},
    "2026-02-22T00:00:00+00:00": {"Champions": 420, "Loyal": 500, "Potential loyalist": 310, "At risk": 200}
    | {"Hibernating": 880, "Lost": 700},
    "2026-03-01T00:00:00+00:00": {"Champions": 400, "Loyal": 480, "Potential loyalist": 320, "At risk": 330}
    | {"Hibernating": 800, "Lost": 690, "New": 40},
}
CLUSTERS = [
    {"cluster": 0, "users": 610, "share": 0.2, "description": "frequent buyers, big spenders, recent"},
    {"cluster": 1, "users": 1420, "share": 0.46, "description": "deep browsing, carts often"},
    {"cluster": 2, "users": 1030, "share": 0.34, "description": "one-off buyers, lapsed, few visits"},
]


def _seed_segments(app: ShopctlApp) -> None:
    store = open_store(app.workspace)
    for as_of, counts in BUILDS.items():
        save_build(
            store,
            as_of=as_of,
            built=as_of,
            fingerprint=as_of,
            users=sum(counts.values()),
            orders=2 * sum(counts.values()),
            revenue=1e5,
            clusters=3,
            summary={"segments": counts, "clusters": CLUSTERS, "repurchase_rate": None},
        )
    window = ("2026-03-01T09:00:00+00:00", "2026-03-02T09:00:00+00:00")
    save_run(
        store,
        model="",
        model_version=None,
        source="segments-test",
        window_start=window[0],
        window_end=window[1],
        started=window[1],
        finished=window[1],
        status="warning",
        summary={},
        metrics=[
            row | {"window_start": window[0], "window_end": window[1]} for row in segment_mix_rows(store)
        ],
    )


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ShopctlApp:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    return seeded_app(tmp_path / "shop")


def test_read_model_marks_the_segment_out_of_band(app: ShopctlApp) -> None:
    _seed_segments(app)
    view = load_console(app.workspace).segments
    assert len(view.as_of) == 3 and view.users == 3060
    at_risk = next(row for row in view.rows if row.segment == "At risk")
    assert at_risk.status == "warning" and at_risk.change == pytest.approx(330 / 3060 - 200 / 3010)
    assert next(row for row in view.rows if row.segment == "Champions").status == "ok"
    assert [c.description for c in view.clusters][0] == "frequent buyers, big spenders, recent"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_segments_screen(snap_compare: Any, app: ShopctlApp, size: tuple[int, int]) -> None:
    _seed_segments(app)
    assert snap_compare(app, terminal_size=size, run_before=after("f8"))


def test_segments_screen_before_any_build(snap_compare: Any, app: ShopctlApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=after("7"))
