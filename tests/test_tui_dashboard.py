"""The TUI's read model (engine.dashboard): what each loader returns from a seeded store, registry and daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from tui_fixtures import FIXED_NOW, build_workspace, empty_workspace, write_daemon

from engine.dashboard import (
    load_alerts,
    load_console,
    load_daemon,
    load_dashboard,
    load_drift,
    load_jobs,
    load_kpis,
    load_model_view,
)
from engine.store.db import Store
from engine.workspace import Workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("dashboard") / "shop")


def test_overview_tiles(ws: Workspace) -> None:
    d = load_dashboard(ws, now=FIXED_NOW)
    assert d.conversion is not None and d.conversion.status == "warning"
    assert d.conversion.delta == pytest.approx(d.conversion.value / d.conversion.baseline - 1)
    assert d.conversion.delta < -0.1
    # Labels arrive two days late: the newest quality value is the estimate, and says so.
    assert d.quality is not None and (d.quality.model, d.quality.metric, d.quality.kind) == (
        "conversion",
        "roc_auc",
        "estimated",
    )
    assert d.drift is not None and (d.drift.drifting, d.drift.total, d.drift.share) == (3, 10, 0.3)
    assert dict(d.open_alerts) == {"critical": 1, "warning": 2, "info": 0}
    assert [(c.name, c.version, round(c.age_days or 0)) for c in d.champions] == [
        ("conversion", 3, 12),
        ("repurchase", 1, 60),
    ]
    assert d.next_check is not None and d.next_check.id == "monitor"
    assert d.next_check.next_run == FIXED_NOW + timedelta(minutes=7)
    assert d.data_through == FIXED_NOW.replace(hour=0, minute=30) - timedelta(minutes=30)
    assert d.daemon.running and d.daemon.label == "RUNNING"


def test_overview_series_cover_90_days(ws: Workspace) -> None:
    d = load_dashboard(ws, now=FIXED_NOW)
    assert len(d.conversion_series) == 90
    assert all(p.lower is not None and p.lower < p.upper for p in d.conversion_series)  # type: ignore[operator]
    assert [p.at for p in d.conversion_series] == sorted(p.at for p in d.conversion_series)
    assert len(d.quality_realized) == 88 and len(d.quality_estimated) == 90
    assert len(d.drift_share_series) == 90 and d.drift_share_series[-1].value == 0.3


def test_a_rerun_window_shows_its_newest_value(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path / "shop", days=3)
    store = Store(ws.store_path)
    newest = store.query(
        "SELECT * FROM metrics WHERE metric = 'conversion_rate' AND scope = 'overall' "
        "ORDER BY window_end DESC LIMIT 1"
    )[0]
    store.execute(
        "INSERT INTO metrics (run_id, check_name, metric, scope, window_start, window_end, value, kind) "
        "VALUES (?, 'kpi', 'conversion_rate', 'overall', ?, ?, 0.05, 'realized')",
        (newest["run_id"], newest["window_start"], newest["window_end"]),
    )
    d = load_dashboard(ws, now=FIXED_NOW)
    assert len(d.conversion_series) == 3 and d.conversion_series[-1].value == 0.05
    assert d.conversion is not None and d.conversion.value == 0.05


def test_drift_sorted_by_severity_with_histograms(ws: Workspace) -> None:
    view = load_drift(ws)
    names = [f.feature for f in view.features]
    assert names[:3] == ["channel", "price_mean", "session_minutes"]
    assert all(f.drifted for f in view.features[:3]) and not any(f.drifted for f in view.features[3:])
    severities = [f.severity for f in view.features[3:]]
    assert severities == sorted(severities, reverse=True)
    price = next(f for f in view.features if f.feature == "price_mean")
    assert (price.method, price.threshold, price.statistic) == ("psi", 0.2, 0.41)
    assert len(price.histogram.labels) == 10
    assert (price.histogram.labels[0], price.histogram.labels[1], price.histogram.labels[-1]) == (
        "≤ 11",
        "11..24",
        "> 171",
    )
    assert sum(price.histogram.reference) == pytest.approx(1.0)
    assert sum(price.histogram.current) == pytest.approx(1.0)


def test_categorical_histograms_align_on_the_union_of_categories(tmp_path: Path) -> None:
    ws = empty_workspace(tmp_path / "shop")
    store = Store(ws.store_path)
    run = store.execute(
        "INSERT INTO monitor_runs (model, window_start, window_end, started, status) VALUES ('m', 'a', 'b', 'c', 'ok')"
    ).lastrowid
    detail = {
        "method": "chisquare",
        "statistic": 12.0,
        "p_value": 0.001,
        "threshold": 0.05,
        "drifted": True,
        "reference": {"frequencies": {"web": 3, "app": 1}},
        "current": {"frequencies": {"app": 1, "kiosk": 1}},
    }
    store.execute(
        "INSERT INTO metrics (run_id, model, check_name, metric, scope, window_start, window_end, value, detail_json)"
        " VALUES (?, 'm', 'drift', 'drift_score', 'feature:channel', 'a', '2026-03-01T00:00:00+00:00', 12.0, ?)",
        (run, json.dumps(detail)),
    )
    (feature,) = load_drift(ws).features
    assert feature.histogram.labels == ("web", "app", "kiosk")
    assert feature.histogram.reference == (0.75, 0.25, 0.0)
    assert feature.histogram.current == (0.0, 0.5, 0.5)


def test_kpis_funnel_in_funnel_order_and_segments(ws: Workspace) -> None:
    kpis = load_kpis(ws)
    assert [r.metric for r in kpis.funnel] == [
        "funnel:view->cart",
        "funnel:cart->checkout",
        "funnel:checkout->purchase",
    ]
    assert [r.anomaly for r in kpis.funnel] == [False, False, True]
    assert {r.metric for r in kpis.overall} >= {
        "conversion_rate",
        "sessions",
        "cart_rate",
        "revenue_per_session",
    }
    anomalies = [r.segment for r in kpis.segments if r.anomaly]
    assert anomalies == [("channel", "paid_search")]
    tablet = next(r for r in kpis.segments if r.segment == ("device", "tablet"))
    assert tablet.sessions == 120


def test_alerts_open_first_by_severity(ws: Workspace) -> None:
    alerts = load_alerts(ws)
    assert [(a.id, a.state) for a in alerts] == [
        (1, "open"),
        (3, "open"),
        (2, "open"),
        (4, "acknowledged"),
        (6, "resolved"),
        (5, "resolved"),
    ]
    assert alerts[0].target == ("feature", "price_mean")
    assert alerts[2].target == ("segment", "channel=paid_search")
    assert alerts[1].target == ("model", "conversion")
    assert alerts[-1].target is None
    assert len(load_alerts(ws, limit=2)) == 2


def test_models_versions_champion_and_history(ws: Workspace) -> None:
    model = load_model_view(ws, "conversion")
    assert [v.version for v in model.versions] == [4, 3, 2, 1]
    assert [v.version for v in model.versions if v.champion] == [3]
    assert model.versions[0].metric == "roc_auc" and model.versions[0].validation == 0.793
    assert model.versions[0].parity == 2.9e-6
    # newest first; v1 was registered as champion, which the registry writes as register then promote
    assert [h.action for h in model.history] == [
        "register",
        "promote",
        "register",
        "promote",
        "register",
        "promote",
        "register",
    ]
    assert not any("recovered" in h.why for h in model.history)  # the fixture's history is whole
    rollback = load_model_view(ws, "repurchase").history[0]
    assert (rollback.action, rollback.from_version, rollback.to_version) == ("rollback", 2, 1)


def test_jobs_schedule_last_runs_and_durations(ws: Workspace) -> None:
    jobs = load_jobs(ws, now=FIXED_NOW)
    by_id = {job.id: job for job in jobs.jobs}
    assert set(by_id) == {"ingest", "monitor", "report", "retrain"}
    assert by_id["retrain"].enabled is False and by_id["retrain"].last_status is None
    assert by_id["monitor"].trigger == "interval 900s" and by_id["monitor"].last_seconds == 13.0
    assert by_id["ingest"].last_status == "running" and by_id["ingest"].last_seconds == 20.0
    assert by_id["report"].trigger == "cron 0 7 * * *"
    failed = [run for run in jobs.runs if run.status == "failed"]
    assert len(failed) == 1 and "database is locked" in failed[0].error
    assert [run.started for run in jobs.runs] == sorted((run.started for run in jobs.runs), reverse=True)


def test_daemon_running_only_while_it_holds_the_daemon_lock(tmp_path: Path) -> None:
    ws = empty_workspace(tmp_path / "shop")
    assert not load_daemon(ws).running  # no daemon.json
    write_daemon(ws, FIXED_NOW, running=True)
    assert load_daemon(ws).running
    write_daemon(ws, FIXED_NOW, running=False)
    state = load_daemon(ws)
    assert (
        not state.running and state.label == "NOT RUNNING" and state.jobs == ()
    )  # a stale file counts for nothing
    assert load_dashboard(ws, now=FIXED_NOW).next_check is None


def test_empty_workspace_loads_everything_empty(tmp_path: Path) -> None:
    ws = empty_workspace(tmp_path / "shop")
    data = load_console(ws, now=FIXED_NOW)
    assert (
        data.dashboard.conversion is None and data.dashboard.quality is None and data.dashboard.drift is None
    )
    assert data.drift.features == () and data.kpis.segments == () and data.alerts == () and data.models == ()
    assert [job.id for job in data.jobs.jobs] == ["ingest", "monitor", "report", "retrain"]


def test_series_queries_use_the_metrics_index(ws: Workspace) -> None:
    """Opening on months of history stays fast because the series read through metrics_series, not a scan."""
    store = Store(ws.store_path)
    plan = store.query(
        "EXPLAIN QUERY PLAN SELECT id, window_end, value, lower, upper FROM metrics "
        "WHERE metric = ? AND scope = ? AND window_end >= ?",
        ("conversion_rate", "overall", "2026-01-01"),
    )
    assert any("metrics_series" in row["detail"] for row in plan)


def test_console_path_stays_light() -> None:
    """Importing the TUI and loading the read model must not pull in the heavy ML stack."""
    script = (
        "import sys, console.tui.app, engine.dashboard\n"
        "heavy = sorted(m for m in ('sklearn', 'onnxruntime', 'polars', 'skl2onnx', 'scipy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_drift_check_format_inner_edges_and_skipped_checks(tmp_path: Path) -> None:
    """The drift check stores shares on inner cut points; a skipped check is never counted as drift."""
    ws = empty_workspace(tmp_path / "shop")
    store = Store(ws.store_path)
    run = store.execute(
        "INSERT INTO monitor_runs (model, window_start, window_end, started, status) VALUES ('m', 'a', 'b', 'c', 'ok')"
    ).lastrowid
    rows = {
        "weekday": ("skipped", {"drifted": True, "severity": 11.0, "reason": "calendar feature"}),
        "hour": ("ok", {"drifted": False, "severity": 0.8}),
        "price": ("warning", {"drifted": True, "severity": 1.5}),
    }
    for feature, (status, extra) in rows.items():
        detail = {
            "method": "wasserstein",
            "statistic": 0.1,
            "threshold": 0.1,
            "reference": {"shares": [0.25, 0.5, 0.25], "edges": [1.0, 2.0]},
            "current": {"shares": [0.0, 0.5, 0.5], "edges": [1.0, 2.0]},
            **extra,
        }
        store.execute(
            "INSERT INTO metrics (run_id, model, check_name, metric, scope, window_start, window_end, value,"
            " status, detail_json) VALUES (?, 'm', 'drift', 'drift_score', ?, 'a', '2026-03-01T00:00:00+00:00',"
            " 0.1, ?, ?)",
            (run, f"feature:{feature}", status, json.dumps(detail)),
        )
    view = load_drift(ws)
    assert [(f.feature, f.drifted) for f in view.features] == [
        ("price", True),
        ("hour", False),
        ("weekday", False),
    ]
    weekday = view.features[-1]
    assert weekday.note == "calendar feature" and weekday.severity == 11.0
    assert weekday.histogram.labels == ("≤ 1", "1..2", "> 2")
    assert weekday.histogram.current == (0.0, 0.5, 0.5)
