"""Customer segments: exact RFM scores and segments on a hand-made shop, clusters and a re-run on the simulator,
the CLI's error lines, and CDNOW's whitespace layout through the `transactions` preset."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.customers.build import build_segments, customer_profile, load_segments, segments_path
from engine.customers.clusters import describe
from engine.customers.rfm import segment_name
from engine.events import commit_events
from engine.ingest import IngestOptions, ingest_files
from engine.simulator import simulate
from engine.store.db import open_store
from engine.store.segments import recent_builds
from engine.workspace import Workspace, init_workspace

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()

# user, day (January 2026 unless a full date), order id, price, quantity
PURCHASES = [
    ("a", "2026-01-10", "o1", 25.0, 2),
    ("a", "2026-01-10", "o1", 50.0, 1),  # the same order: a's first order is worth 100
    ("a", "2026-01-05", "o2", 50.0, 1),
    ("b", "2026-01-01", "o3", 20.0, 1),
    ("c", "2026-01-09", "o4", 10.0, 1),
    ("c", "2026-01-08", "o5", 10.0, 1),
    ("c", "2026-01-07", "o6", 10.0, 1),
    ("d", "2025-12-01", "o7", 500.0, 1),
    ("e", "2026-01-10", "o8", 5.0, 1),
    ("b", "2026-01-15", "o9", 30.0, 1),  # after the as-of: b buys again
]


def _hand_made(tmp_path: Path) -> Workspace:
    ws, _ = init_workspace(tmp_path / "shop")
    rows = []
    for user, day, order, price, quantity in PURCHASES:
        moment = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        rows.append(
            {"event_time": moment.isoformat(), "event_type": "purchase", "user_id": user, "order_id": order}
            | {"price": price, "quantity": quantity}
        )
    rows.append(  # a view without a purchase: f never bought, so is no customer
        {"event_time": "2026-01-03T10:00:00+00:00", "event_type": "view", "user_id": "f"}
        | {"order_id": None, "price": 9.0, "quantity": None}
    )
    path = tmp_path / "events.csv"
    pl.DataFrame(rows).write_csv(path)
    result = ingest_files(ws, [path], IngestOptions())
    assert result.rows_stored == len(rows)
    return ws


def test_hand_made_scores_and_segments_are_exact(tmp_path: Path) -> None:
    ws = _hand_made(tmp_path)
    result = build_segments(ws, as_of="2026-01-11")
    table = load_segments(ws).sort("user_id")
    assert table["user_id"].to_list() == ["a", "b", "c", "d", "e"]
    assert table["recency_days"].to_list() == [0, 9, 1, 40, 0]  # whole days from the last order (noon)
    assert table["frequency"].to_list() == [2, 1, 3, 1, 1]
    assert table["monetary"].to_list() == pytest.approx([150.0, 20.0, 30.0, 500.0, 5.0])
    # score = 1 + floor(5 × customers strictly worse / 5); a and e tie on recency and share R 4
    assert table["r_score"].to_list() == [4, 2, 3, 1, 4]
    assert table["f_score"].to_list() == [4, 1, 5, 1, 1]
    assert table["m_score"].to_list() == [4, 2, 3, 5, 1]
    assert table["segment"].to_list() == ["Loyal", "Hibernating", "Loyal", "At risk", "Promising"]
    assert table["repurchased"].to_list() == [0, 1, 0, 0, 0]
    assert result["users"] == 5 and result["orders"] == 8 and result["future_known"]
    loyal = next(row for row in result["segments"] if row["segment"] == "Loyal")
    assert loyal["users"] == 2 and loyal["share"] == pytest.approx(0.4)
    assert loyal["revenue_share"] == pytest.approx(180 / 705)
    assert loyal["repurchase_rate"] == 0
    hibernating = next(row for row in result["segments"] if row["segment"] == "Hibernating")
    assert hibernating["repurchase_rate"] == 1


def test_segment_grid_and_descriptions() -> None:
    assert segment_name(5, 5, 5) == "Champions"
    assert segment_name(5, 1, 1) == "New"
    assert segment_name(1, 1, 1) == "Lost"
    assert segment_name(1, 5, 4) == "Cannot lose"  # FM = (5 + 4) / 2 rounded up = 5
    assert segment_name(3, 3, 3) == "Need attention"
    assert describe({"monetary": 1.2, "recency_days": -0.7, "cart_rate": 0.1}) == "big spenders, recent"
    assert describe({"monetary": 0.2}) == "close to the average customer"


def test_without_a_future_the_repurchase_rate_is_unknown(tmp_path: Path) -> None:
    ws = _hand_made(tmp_path)
    result = build_segments(ws)  # default as-of: the midnight after the newest event
    assert result["as_of"].startswith("2026-01-16") and not result["future_known"]
    assert all(row["repurchase_rate"] is None for row in result["segments"])
    assert customer_profile(ws, "b")["frequency"] == 2


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws, _ = init_workspace(tmp_path_factory.mktemp("sim") / "shop")
    sim = simulate(40, seed=5, start=datetime(2026, 1, 5).date(), sessions_per_day=400)
    commit_events(ws, sim.events, "sim")
    return ws


def test_simulated_shop_clusters_and_a_rerun_changes_nothing(simulated: Workspace) -> None:
    first = build_segments(simulated, as_of="2026-02-05")
    assert first["k"] >= 2 and set(first["silhouettes"]) <= {"2", "3", "4", "5", "6"}
    assert first["k"] == int(max(first["silhouettes"], key=lambda k: first["silhouettes"][k]))
    assert sum(c["users"] for c in first["clusters"]) == first["users"]
    assert all(c["description"] for c in first["clusters"])
    table = load_segments(simulated)
    assert set(table["cluster"].unique()) == set(range(first["k"]))
    mean_spend = [table.filter(pl.col("cluster") == c)["monetary"].mean() for c in range(first["k"])]
    assert mean_spend == sorted(mean_spend, reverse=True)  # numbered by spend, highest first
    assert table["repurchased"].null_count() == 0
    path = segments_path(simulated)
    stamp = path.stat().st_mtime_ns
    again = build_segments(simulated, as_of="2026-02-05")
    assert not again["changed"] and again["build_id"] == first["build_id"]
    assert path.stat().st_mtime_ns == stamp
    assert [b["as_of"] for b in recent_builds(open_store(simulated))].count(first["as_of"]) == 1


def test_cli_build_show_and_user(simulated: Workspace) -> None:
    built = runner.invoke(
        app, ["segments", "build", "--as-of", "2026-02-10", "-w", str(simulated.root), "--json"]
    )
    assert built.exit_code == 0, built.output
    payload = json.loads(built.stdout)
    shown = runner.invoke(app, ["segments", "show", "-w", str(simulated.root), "--json"])
    summary = json.loads(shown.stdout)
    assert summary["users"] == payload["users"]
    assert sum(row["share"] for row in summary["segments"]) == pytest.approx(1.0, abs=1e-4)
    assert sum(row["revenue_share"] for row in summary["segments"]) == pytest.approx(1.0, abs=1e-4)
    table = load_segments(simulated)
    user = table["user_id"][0]
    profile = json.loads(
        runner.invoke(app, ["segments", "show", "--user", user, "-w", str(simulated.root), "--json"]).stdout
    )
    assert profile["user_id"] == user and profile["cluster_description"]
    assert profile["clv"] >= 0 and 0 <= profile["p_alive"] <= 1 and profile["clv_horizon_days"] == 30
    assert payload["clv"]["model"] == "bgnbd_gg" and payload["clv"]["total"] > 0
    human = runner.invoke(app, ["segments", "show", "--user", user, "-w", str(simulated.root)])
    assert "lifetime value next 30 days" in human.stdout
    # The BG/NBD note shows for a customer with no repeat order, and only for them.
    for alive in (True, False):
        who = table.filter((table["p_alive"] >= 1.0) == alive)["user_id"][0]
        shown_user = runner.invoke(app, ["segments", "show", "--user", who, "-w", str(simulated.root)])
        assert ("BG/NBD counts them alive" in shown_user.stdout) == alive
    text = runner.invoke(app, ["segments", "show", "-w", str(simulated.root)])
    assert text.exit_code == 0 and "segment" in text.stdout and "share" in text.stdout


def test_cli_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    empty, _ = init_workspace(tmp_path / "empty")
    result = runner.invoke(app, ["segments", "build", "-w", str(empty.root)])
    assert result.exit_code == 2 and "no events yet" in result.stderr
    assert not segments_path(empty).exists()
    result = runner.invoke(app, ["segments", "show", "-w", str(empty.root)])
    assert result.exit_code == 2 and "segments build" in result.stderr
    views, _ = init_workspace(tmp_path / "views")
    path = tmp_path / "views.csv"
    path.write_text("event_time,event_type,user_id\n2026-01-02T10:00:00Z,view,u1\n")
    ingest_files(views, [path], IngestOptions())
    result = runner.invoke(app, ["segments", "build", "-w", str(views.root)])
    assert result.exit_code == 2 and "no purchase events" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert not segments_path(views).exists() and recent_builds(open_store(views)) == []
    shop = _hand_made(tmp_path)
    build_segments(shop, as_of="2026-01-11")
    assert load_segments(shop)["clv"].null_count() == 5  # five customers: too few to fit BG/NBD
    result = runner.invoke(app, ["segments", "show", "--user", "nobody", "-w", str(shop.root)])
    assert result.exit_code == 2 and "'nobody'" in result.stderr


def test_cdnow_layout_reads_with_the_transactions_preset(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "cdnow")
    result = ingest_files(ws, [FIXTURES / "cdnow_sample.txt"], IngestOptions(preset="transactions"))
    assert result.rows_stored == 8 and result.files[0]["delimiter"] == "whitespace"
    built = build_segments(ws, as_of="1997-10-01")
    table = load_segments(ws).sort("user_id")
    assert table["user_id"].to_list() == ["00001", "00002", "00003", "00004"]
    assert table["frequency"].to_list() == [1, 1, 3, 1]  # 00002's two rows are one day's order
    assert table["monetary"].to_list() == pytest.approx([11.77, 89.0, 61.06, 29.33])
    assert table["repurchased"].to_list() == [0, 0, 0, 1]  # 00004 buys again in December
    assert built["orders"] == 6
