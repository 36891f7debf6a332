"""`run_monitor` end to end on simulated shops: outage, traffic shift, a quiet 60 days, re-runs and back-fills."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from engine.events import commit_events
from engine.monitoring.alerts import list_alerts
from engine.monitoring.report import metric_history
from engine.monitoring.run import alerts_at_or_above, run_monitor
from engine.simulator import simulate
from engine.store.db import open_store
from engine.workspace import Workspace, init_workspace

START = date(2026, 1, 5)


def _shop(
    tmp_path: Path,
    days: int,
    scenario: str,
    sessions_per_day: float,
    change: date | None = None,
    seed: int = 11,
) -> tuple[Workspace, dict]:
    ws, _ = init_workspace(tmp_path / scenario)
    sim = simulate(
        days,
        seed=seed,
        scenario=scenario,
        start=START,
        sessions_per_day=sessions_per_day,
        scenario_day=change,
    )
    commit_events(ws, sim.events, f"sim-{scenario}")
    return ws, sim.ground_truth


def _rows(payload: dict, check: str) -> list[dict]:
    return next((c["metrics"] for c in payload["checks"] if c["name"] == check), [])


def test_checkout_outage_alerts_for_its_segment_in_the_first_full_window(tmp_path: Path) -> None:
    change = START + timedelta(days=33)
    ws, truth = _shop(tmp_path, 36, "checkout_outage", 1500, change)
    assert truth["segment"] == {"device": "mobile"}
    before = run_monitor(ws, at=change).to_dict()
    assert before["firing"] == [] and before["status"] == "ok"
    during_run = run_monitor(ws, at=change + timedelta(days=1))
    during = during_run.to_dict()
    assert during["window"]["start"].startswith(change.isoformat())
    scopes = {(item["rule"], item["scope"]) for item in during["firing"]}
    assert scopes & {("kpi-conversion", "segment:device=mobile"), ("kpi-funnel", "segment:device=mobile")}, (
        scopes
    )
    assert not any("device=desktop" in scope for _, scope in scopes)
    assert during["status"] == "warning"
    assert {alert["state"] for alert in during["alerts"]} == {"open"}
    assert alerts_at_or_above(during_run, "warning") and not alerts_at_or_above(during_run, "critical")


def test_traffic_shift_moves_the_mix_and_conversion(tmp_path: Path) -> None:
    change = START + timedelta(days=33)
    ws, truth = _shop(tmp_path, 36, "traffic_shift", 1200, change)
    payload = run_monitor(ws, at=change + timedelta(days=1)).to_dict()
    kpi = {(row["metric"], row["scope"]): row for row in _rows(payload, "kpi")}
    social = kpi[("session_share", "segment:channel=social")]
    assert social["status"] == "warning" and social["detail"]["anomaly"] == "high"
    conversion = kpi[("conversion_rate", "overall")]
    assert conversion["value"] < 0.8 * conversion["detail"]["baseline"]
    assert kpi[("sessions", "overall")]["value"] > 1.3 * kpi[("sessions", "overall")]["detail"]["baseline"]
    assert truth["segment"]["channel"] == "social"


def test_stable_shop_run_daily_for_60_days_raises_no_alert(tmp_path: Path) -> None:
    ws, _ = _shop(tmp_path, 60, "stable", 1000, seed=23)
    judged = 0
    for offset in range(29, 61):  # every day that has four same-weekday weeks of baseline
        payload = run_monitor(ws, at=START + timedelta(days=offset)).to_dict()
        assert payload["firing"] == [], (offset, payload["firing"])
        judged += sum(
            row["status"] != "skipped" and row["metric"] == "conversion_rate" for row in _rows(payload, "kpi")
        )
    assert list_alerts(ws) == []
    # A segment whose expected purchases are so few that even 0 has a tail above Φ(−4) is skipped (uninformative).
    assert judged >= 32 * 3, "the overall and the large segments must actually be judged"


def test_rerun_replaces_and_backfill_keeps_alerts_as_they_are(tmp_path: Path) -> None:
    change = START + timedelta(days=33)
    ws, _ = _shop(tmp_path, 36, "checkout_outage", 1500, change)
    store = open_store(ws)

    def count(table: str) -> int:
        return store.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]

    first = run_monitor(ws, at=change + timedelta(days=1)).to_dict()
    metrics, alerts = count("metrics"), count("alerts")
    again = run_monitor(ws, at=change + timedelta(days=1)).to_dict()
    assert again["run_id"] == first["run_id"] and not again["backfill"]
    assert (count("metrics"), count("alerts"), count("monitor_runs")) == (metrics, alerts, 1)

    backfill = run_monitor(ws, at=change - timedelta(days=2)).to_dict()
    assert backfill["backfill"] and backfill["firing"] == []
    assert count("monitor_runs") == 2 and count("alerts") == alerts
    assert {alert.state for alert in list_alerts(ws)} == {"open"}
    history = metric_history(ws, metric="conversion_rate", scope="overall")
    assert [row["window_end"][:10] for row in history] == [
        (change - timedelta(days=2)).isoformat(),
        (change + timedelta(days=1)).isoformat(),
    ]


def test_default_window_is_the_newest_full_day(tmp_path: Path) -> None:
    ws, truth = _shop(tmp_path, 10, "stable", 300)
    payload = run_monitor(ws).to_dict()
    assert payload["window"]["end"][:10] == (date.fromisoformat(truth["end"]) + timedelta(days=1)).isoformat()
    assert payload["window"]["partial"] is False
    hourly = run_monitor(ws, window="12h", at=f"{truth['end']}T12:00:00").to_dict()
    assert hourly["window"]["length"] == "12h" and hourly["baseline_windows"][0]["length"] == "12h"


def test_slow_decline_trips_the_cusum(tmp_path: Path) -> None:
    from engine.monitoring.run import _apply_cusum
    from engine.monitoring.windows import Window, parse_at
    from engine.store.metrics import save_run

    ws, _ = init_workspace(tmp_path)
    store = open_store(ws)

    def conversion(z: float) -> dict:
        return {
            "check_name": "kpi",
            "metric": "conversion_rate",
            "scope": "overall",
            "model": "",
            "kind": "realized",
            "value": 0.03,
            "status": "ok",
            "detail": {"z": z, "baseline": 0.031},
        }

    for day in range(1, 10):  # nine windows each a little low, none beyond the anomaly band
        end = parse_at(f"2026-03-{day + 1:02d}")
        window = Window(end - timedelta(days=1), end)
        row = conversion(-1.6)
        _apply_cusum(store, [row], window)
        save_run(
            store,
            model="",
            model_version=None,
            source="events",
            window_start=window.start.isoformat(),
            window_end=window.end.isoformat(),
            started="",
            finished="",
            status="ok",
            summary={},
            metrics=[row],
        )
    assert row["detail"]["cusum_alarm"] and row["status"] == "warning"
    firing = evaluate_rows(ws, store, [row])
    assert firing and "slow decline" in firing[0]["message"]


def evaluate_rows(ws: Workspace, store, rows: list[dict]) -> list[dict]:
    from engine.monitoring.alerts import evaluate

    return evaluate(ws, store, rows, window_end="2026-03-10T00:00:00+00:00", length_seconds=86400.0)


def test_concurrent_runs_open_each_alert_once(tmp_path: Path) -> None:
    import threading

    ws, truth = _shop(tmp_path, 10, "stable", 300)
    stale = date.fromisoformat(truth["end"]) + timedelta(days=4)  # no data for three days: freshness alert
    payloads: list[dict] = []

    def run() -> None:
        payloads.append(run_monitor(ws, at=stale).to_dict())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(payloads) == 3
    alerts = list_alerts(ws)
    assert [alert.rule for alert in alerts].count("data-freshness") == 1
    assert len({(a.rule, a.metric, a.scope) for a in alerts}) == len(alerts)
    assert open_store(ws).query("SELECT COUNT(*) AS n FROM monitor_runs")[0]["n"] == 1


def test_a_future_window_is_refused_and_a_stored_future_mark_does_not_silence_alerts(tmp_path: Path) -> None:
    """Issue 17 §1: a window from the future is refused, and a future "newest window" left by an older
    version (stored directly here, as 2cdb962 did) must not turn later runs into back-fills."""
    import pytest

    from engine.errors import InputError
    from engine.store.metrics import save_run

    change = START + timedelta(days=33)
    ws, _ = _shop(tmp_path, 36, "checkout_outage", 1500, change)
    with pytest.raises(InputError, match="ends after now"):
        run_monitor(ws, at="2030-01-01")
    with pytest.raises(InputError, match="too early"):
        run_monitor(ws, at="0001-01-01")
    store = open_store(ws)
    save_run(
        store,
        model="",
        model_version=None,
        source="events",
        window_start="2029-12-31T00:00:00+00:00",
        window_end="2030-01-01T00:00:00+00:00",
        started="2026-12-01T00:00:00+00:00",
        finished="2026-12-01T00:00:01+00:00",
        status="ok",
        summary={},
        metrics=[],
    )
    during_run = run_monitor(ws, at=change + timedelta(days=1))
    during = during_run.to_dict()
    assert not during["backfill"]
    assert during["firing"] and {alert["state"] for alert in during["alerts"]} == {"open"}
    assert alerts_at_or_above(during_run, "warning")


def test_two_week_payment_failure_keeps_firing_until_it_ends(tmp_path: Path) -> None:
    """Checkout → purchase at 45% on every device for 14 days: flagged on its first day, still flagged a week
    later (its first day, the same weekday of the baseline, is kept out of the baseline), quiet once it ends."""
    change = START + timedelta(days=28)
    ws, truth = _shop(tmp_path, 46, "payment_failure", 1500, change)
    assert truth["end_day"] == (change + timedelta(days=14)).isoformat() and truth["segment"] == {}
    firing = {}
    for offset in (1, 8):  # the incident's first and eighth full day
        payload = run_monitor(ws, at=change + timedelta(days=offset)).to_dict()
        funnel = {
            row["scope"]: row for row in _rows(payload, "kpi") if row["metric"] == "funnel:checkout->purchase"
        }
        firing[offset] = {(item["rule"], item["scope"]) for item in payload["firing"]}
        assert funnel["overall"]["status"] == "warning", (offset, funnel["overall"])
        assert ("kpi-funnel", "overall") in firing[offset] or ("kpi-conversion", "overall") in firing[offset]
    eighth = next(
        row
        for row in _rows(payload, "kpi")
        if row["metric"] == "funnel:checkout->purchase" and row["scope"] == "overall"
    )
    assert 1 in eighth["detail"]["excluded_windows"]  # last week's incident day is not the baseline
    after = run_monitor(ws, at=change + timedelta(days=17)).to_dict()  # three days after it ended
    recovered = next(
        row
        for row in _rows(after, "kpi")
        if row["metric"] == "funnel:checkout->purchase" and row["scope"] == "overall"
    )
    # its baseline holds incident days that were never judged (no run on them), so it is wide; it must not fire
    assert recovered["status"] != "warning", recovered
    assert ("kpi-funnel", "overall") not in {(item["rule"], item["scope"]) for item in after["firing"]}
