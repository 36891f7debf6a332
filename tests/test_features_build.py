"""`build_features` and `shopctl features build` on a workspace whose events came in through ingest."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.errors import InputError
from engine.features import build_features, session_spec, user_spec
from engine.features.build import plan_cutoff
from engine.ingest import ingest_files
from engine.simulator import simulate, write_simulation
from engine.workspace import init_workspace

runner = CliRunner()
START = date(2026, 1, 5)
DAYS = 45


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("features-ws")
    ws, _ = init_workspace(root / "shop")
    sim = simulate(DAYS, seed=13, start=START, sessions_per_day=120)
    write_simulation(sim, root / "events.csv.gz")
    result = ingest_files(ws, [root / "events.csv.gz"])
    assert result.rows_stored == sim.events.height
    return ws, sim


def test_build_writes_both_tables_with_meta(workspace) -> None:
    ws, sim = workspace
    result = build_features(ws)
    sessions = pl.read_parquet(ws.features_dir / "sessions.parquet")
    users = pl.read_parquet(ws.features_dir / "users.parquet")
    assert (
        result["as_of"] == "2026-02-19T00:00:00Z"
    )  # the midnight after the last event (the data spills past midnight)
    assert sessions.height == sim.events["session_id"].n_unique() == result["sessions"]["rows"]
    assert set(session_spec(list(ws.settings.schema.dimensions)).features) <= set(sessions.columns)
    assert set(user_spec(list(ws.settings.schema.dimensions)).features) <= set(users.columns)
    meta = json.loads((ws.features_dir / "users.meta.json").read_text())
    assert meta["horizon_days"] == 30 and meta["horizon_shortened"] is False
    assert meta["cutoff"] == "2026-01-20T00:00:00Z" and meta["rows"] == users.height > 20
    # labels are complete: the horizon after the cutoff lies inside the data
    assert users["repurchased"].sum() > 0 and (users["cutoff"] == datetime(2026, 1, 20, tzinfo=UTC)).all()
    sessions_meta = json.loads((ws.features_dir / "sessions.meta.json").read_text())
    assert sessions_meta["spec"]["target"] == "converted" and sessions_meta["rows"] == sessions.height
    assert not list(ws.features_dir.glob(".*.tmp"))  # no temp files left behind


def test_as_of_limits_the_data(workspace) -> None:
    ws, sim = workspace
    result = build_features(ws, as_of="2026-01-25")
    sessions = pl.read_parquet(ws.features_dir / "sessions.parquet")
    assert sessions["session_start"].max() < datetime(2026, 1, 25, tzinfo=UTC)
    assert (
        result["events"] == sim.events.filter(pl.col("event_time") < datetime(2026, 1, 25, tzinfo=UTC)).height
    )
    assert result["users"]["horizon_shortened"] is True and result["users"]["horizon_days"] == 10
    with pytest.raises(InputError, match="before the first event"):
        build_features(ws, as_of="2025-12-01")


def test_plan_cutoff_keeps_the_horizon_when_there_is_history() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    assert plan_cutoff(first, datetime(2026, 3, 2, tzinfo=UTC), 30) == (
        datetime(2026, 1, 31, tzinfo=UTC),
        30,
        False,
    )
    assert plan_cutoff(first, datetime(2026, 1, 21, tzinfo=UTC), 30) == (
        datetime(2026, 1, 11, tzinfo=UTC),
        10,
        True,
    )


def test_empty_workspace_names_the_fix(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "empty")
    with pytest.raises(InputError, match="shopctl ingest"):
        build_features(ws)


def test_cli_features_build(workspace) -> None:
    ws, _ = workspace
    result = runner.invoke(app, ["features", "build", "-w", str(ws.root), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["sessions"]["rows"] > 1000 and Path(payload["users"]["path"]).exists()
    human = runner.invoke(app, ["features", "build", "-w", str(ws.root), "--as-of", "2026-02-01"])
    assert human.exit_code == 0, human.output
    assert "sessions:" in human.stdout and "as of 2026-02-01" in human.stdout
    bad = runner.invoke(app, ["features", "build", "-w", str(ws.root), "--as-of", "soon"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr


def test_windowed_table_equals_the_one_plan_table(workspace, tmp_path: Path) -> None:
    from polars.testing import assert_frame_equal

    from engine.events import scan_events
    from engine.features import session_features
    from engine.features.windows import write_session_table

    ws, sim = workspace
    dimensions = list(ws.settings.schema.dimensions)
    end = datetime(2026, 2, 10, tzinfo=UTC)
    first = sim.events["event_time"].min()
    target = tmp_path / "sessions.parquet"
    # Three-day windows: many sessions cross a window edge at midnight.
    write_session_table(scan_events(ws), dimensions, first, end, target, window_days=3)
    windowed = pl.read_parquet(target).sort("session_id")
    direct = session_features(scan_events(ws).filter(pl.col("event_time") < end), dimensions).collect()
    crossing = sim.events.group_by("session_id").agg(
        (pl.col("event_time").min().dt.date() != pl.col("event_time").max().dt.date()).alias("crosses")
    )
    assert crossing["crosses"].sum() > 5
    assert_frame_equal(windowed, direct.sort("session_id"), rel_tol=1e-9)


def test_windows_hold_about_a_fixed_number_of_events() -> None:
    from engine.features.windows import EVENTS_PER_WINDOW, MAX_WINDOW_DAYS, window_days_for

    first, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 31, tzinfo=UTC)
    assert window_days_for(first, end, 10 * EVENTS_PER_WINDOW) == 3  # 30 days, 10 windows' worth: 3 days each
    assert window_days_for(first, end, 1_000) == MAX_WINDOW_DAYS
    assert window_days_for(first, end, 1_000 * EVENTS_PER_WINDOW) == 1
    assert (
        window_days_for(first, end, 10_000_000, events_per_window=2_000_000) == 6
    )  # [features] window_events


def test_session_table_is_written_in_time_order(workspace) -> None:
    ws, _ = workspace
    build_features(ws)
    sessions = pl.read_parquet(ws.features_dir / "sessions.parquet")
    assert sessions["session_start"].is_sorted()


def test_a_session_crossing_a_window_edge_is_written_once(tmp_path: Path) -> None:
    from engine.events import conform
    from engine.features.windows import write_session_table

    day = datetime(2026, 3, 2, tzinfo=UTC)
    rows = [
        # s-long: 8 hours before the edge, then 1 hour after it: more than the 6-hour margin before the edge.
        {"event_time": day.replace(hour=16), "session_id": "s-long", "user_id": "u1", "event_type": "view"},
        {
            "event_time": day.replace(day=3, hour=1),
            "session_id": "s-long",
            "user_id": "u1",
            "event_type": "cart",
        },
        {"event_time": day.replace(hour=12), "session_id": "s-early", "user_id": "u1", "event_type": "view"},
        {
            "event_time": day.replace(day=3, hour=9),
            "session_id": "s-late",
            "user_id": "u1",
            "event_type": "view",
        },
    ]
    events = conform(pl.DataFrame(rows), ["channel"]).collect()
    target = tmp_path / "sessions.parquet"
    write_session_table(events.lazy(), ["channel"], day, day.replace(day=4), target, window_days=1)
    table = pl.read_parquet(target)
    assert table["session_id"].to_list() == ["s-early", "s-long", "s-late"]  # once each, in time order
    long_session = table.row(1, named=True)
    assert (long_session["n_events"], long_session["n_cart"], long_session["duration_seconds"]) == (
        2,
        1,
        9 * 3600,
    )
    assert table["prior_sessions"].to_list() == [0, 1, 2]


def test_user_state_folds_only_the_window_users() -> None:
    from engine.features.history import STATE_SCHEMA, _UserState

    def window(rows: list[tuple]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema=STATE_SCHEMA, orient="row")

    t1, t2 = datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 5, 12, tzinfo=UTC)
    state = _UserState()
    lookup = pl.DataFrame({"_user": pl.Series([7, None, 3, 9], dtype=pl.UInt64)})
    empty = state.beside(lookup)  # nothing folded yet: zeros, no last purchase
    assert empty["_sessions_before"].to_list() == [0, 0, 0, 0]
    assert empty["_last_before"].null_count() == 4
    state.fold(window([(9, 2, 1, 10.0, t1), (3, 1, None, None, None)]))
    state.fold(window([(7, 1, None, None, None), (9, 1, 2, 5.5, t2), (3, 4, 1, 2.0, t1)]))
    assert state.keys.tolist() == [3, 7, 9]  # kept sorted as new users arrive
    got = state.beside(lookup)
    assert got["_sessions_before"].to_list() == [1, 0, 5, 3]
    assert got["_orders_before"].to_list() == [0, 0, 1, 3]
    assert got["_spend_before"].to_list() == [0.0, 0.0, 2.0, 15.5]
    assert got["_last_before"].to_list() == [None, None, t1, t2]
    assert got["_last_before"].dtype == STATE_SCHEMA["_last_before"]


def test_a_failing_window_read_surfaces_its_error(tmp_path: Path) -> None:
    from engine.events import conform
    from engine.features.windows import write_session_table

    day = datetime(2026, 3, 2, tzinfo=UTC)
    rows = [
        {"event_time": day.replace(hour=h), "session_id": f"s{h}", "event_type": "view"} for h in range(3)
    ]

    def broken(prices: pl.Series) -> pl.Series:
        if len(prices):
            raise OSError("disk went away")  # reading a window fails on the worker thread
        return prices

    events = conform(pl.DataFrame(rows), ["channel"]).collect().lazy()
    events = events.with_columns(pl.col("price").map_batches(broken, return_dtype=pl.Float64))
    target = tmp_path / "sessions.parquet"
    with pytest.raises(Exception, match="disk went away"):
        write_session_table(events, ["channel"], day, day.replace(day=4), target, window_days=1)
    assert not target.exists()  # nothing half-written
