"""Alert rules and lifecycle: one alert per ongoing condition, self-resolving, cooldown, for-N-runs, ack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.errors import ConfigError, InputError, NotFoundError
from engine.monitoring.alerts import (
    ALWAYS_RULES,
    DEFAULT_RULES,
    acknowledge,
    evaluate,
    list_alerts,
    parse_rules,
    raise_info_alert,
)
from engine.store.db import open_store
from engine.store.metrics import save_run
from engine.workspace import Workspace, init_workspace

DAY_SECONDS = 86400.0


def _workspace(tmp_path: Path, alerts_toml: str = "") -> Workspace:
    ws, _ = init_workspace(tmp_path)
    if alerts_toml:
        ws.config_path.write_text("[alerts]\n" + alerts_toml)
        ws.reload_settings()
    return ws


def _fresh(hours: float | None, status: str = "ok") -> dict:
    return {
        "check_name": "quality",
        "metric": "freshness_hours",
        "scope": "overall",
        "model": "",
        "kind": "realized",
        "value": hours,
        "lower": None,
        "upper": None,
        "threshold": 26.0,
        "status": status,
        "detail": {},
    }


def _end(day: int) -> str:
    return f"2026-03-{day:02d}T00:00:00+00:00"


def _log_lines(ws: Workspace) -> list[dict]:
    path = ws.state_dir / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_condition_opens_one_alert_that_stays_open_then_resolves(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_store(ws)
    firing = evaluate(ws, store, [_fresh(30.0)], window_end=_end(2), length_seconds=DAY_SECONDS)
    assert [item["rule"] for item in firing] == ["data-freshness"]
    evaluate(ws, store, [_fresh(40.0)], window_end=_end(3), length_seconds=DAY_SECONDS)
    alerts = list_alerts(ws)
    assert len(alerts) == 1 and alerts[0].state == "open" and alerts[0].value == 40.0
    assert alerts[0].consecutive == 2
    evaluate(ws, store, [_fresh(41.0)], window_end=_end(3), length_seconds=DAY_SECONDS)  # same window again
    assert list_alerts(ws)[0].consecutive == 2
    assert "freshness_hours overall" in alerts[0].message and "> 26" in alerts[0].message
    assert len(_log_lines(ws)) == 1, "an ongoing condition notifies once"

    assert evaluate(ws, store, [_fresh(1.0)], window_end=_end(4), length_seconds=DAY_SECONDS) == []
    alerts = list_alerts(ws)
    assert len(alerts) == 1 and alerts[0].state == "resolved" and alerts[0].resolved
    assert [line["state"] for line in _log_lines(ws)] == ["open", "resolved"]
    assert list_alerts(ws, open_only=True) == []


def test_skipped_rows_neither_open_nor_resolve(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_store(ws)
    evaluate(ws, store, [_fresh(30.0)], window_end=_end(2), length_seconds=DAY_SECONDS)
    evaluate(ws, store, [_fresh(None, status="skipped")], window_end=_end(3), length_seconds=DAY_SECONDS)
    assert list_alerts(ws, open_only=True)[0].state == "open"


def test_flapping_inside_the_cooldown_reopens_quietly(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_store(ws)
    evaluate(ws, store, [_fresh(30.0)], window_end=_end(2), length_seconds=DAY_SECONDS)
    evaluate(ws, store, [_fresh(1.0)], window_end=_end(3), length_seconds=DAY_SECONDS)
    evaluate(ws, store, [_fresh(31.0)], window_end=_end(4), length_seconds=DAY_SECONDS)
    alerts = list_alerts(ws)
    assert len(alerts) == 1 and alerts[0].state == "open"
    assert len(_log_lines(ws)) == 2  # open, resolved; the reopening inside the cooldown is not re-sent


def test_without_cooldown_a_new_alert_opens(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, "cooldown_minutes = 0\n")
    store = open_store(ws)
    for day, hours in ((2, 30.0), (3, 1.0), (4, 31.0)):
        evaluate(ws, store, [_fresh(hours)], window_end=_end(day), length_seconds=DAY_SECONDS)
    assert [alert.state for alert in list_alerts(ws)] == ["open", "resolved"]


def test_for_n_consecutive_runs(tmp_path: Path) -> None:
    ws = _workspace(
        tmp_path,
        "rules = [{ name = 'stale', metric = 'freshness_hours', op = '>', "
        "threshold = 26, for = 2, severity = 'critical' }]\n",
    )
    store = open_store(ws)

    def run(day: int, hours: float) -> list[dict]:
        rows = [_fresh(hours)]
        firing = evaluate(ws, store, rows, window_end=_end(day), length_seconds=DAY_SECONDS)
        save_run(
            store,
            model="",
            model_version=None,
            source="events",
            window_start=_end(day - 1),
            window_end=_end(day),
            started=_end(day),
            finished=_end(day),
            status="ok",
            summary={},
            metrics=rows,
        )
        return firing

    assert run(2, 30.0) == []
    assert run(3, 1.0) == []
    assert run(4, 30.0) == []
    firing = run(5, 35.0)
    assert [(item["rule"], item["severity"], item["held_for"]) for item in firing] == [
        ("stale", "critical", 2)
    ]
    assert list_alerts(ws, open_only=True)[0].severity == "critical"


def test_kpi_rule_fires_on_the_bad_direction_only(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_store(ws)
    base = {
        "check_name": "kpi",
        "scope": "segment:device=mobile",
        "model": "",
        "kind": "realized",
        "lower": 0.02,
        "upper": 0.04,
        "threshold": None,
    }
    rows = [
        {
            **base,
            "metric": "conversion_rate",
            "value": 0.001,
            "status": "warning",
            "detail": {"baseline": 0.03, "anomaly": "low", "change": -0.97},
        },
        {
            **base,
            "metric": "funnel:view->cart",
            "value": 0.09,
            "status": "ok",
            "detail": {"baseline": 0.06, "anomaly": "high"},
        },
    ]
    firing = evaluate(ws, store, rows, window_end=_end(2), length_seconds=DAY_SECONDS)
    assert [(item["rule"], item["scope"]) for item in firing] == [("kpi-conversion", "segment:device=mobile")]
    assert "▼ 96.7%" in firing[0]["message"] and "0.10%" in firing[0]["message"]


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"metric": "x", "thresold": 1}, "unknown key 'thresold'"),
        ({"threshold": 1}, "needs a metric"),
        ({"metric": "x", "threshold": 1, "severity": "loud"}, "severity"),
        ({"metric": "x"}, "give a threshold"),
        ({"metric": "x", "test": "drop"}, "needs a numeric threshold"),
        ({"metric": "x", "threshold": 1, "for": 0}, "for must be"),
    ],
)
def test_bad_rules_name_the_rule_and_key(rule: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]") as caught:
        parse_rules([rule])
    assert fragment in str(caught.value)


def test_default_rules_cover_the_issue() -> None:
    names = {rule.name for rule in parse_rules([])}
    assert len(names) == len(DEFAULT_RULES) + len(ALWAYS_RULES)
    assert {
        "kpi-conversion",
        "kpi-funnel",
        "drift-share",
        "feature-drift",
        "auc-drop",
        "data-freshness",
        "volume",
        "quarantine-rate",
    } <= names


def test_acknowledge_and_info_alerts(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_store(ws)
    evaluate(ws, store, [_fresh(30.0)], window_end=_end(2), length_seconds=DAY_SECONDS)
    alert_id = list_alerts(ws)[0].id
    acked = acknowledge(ws, alert_id, "alice")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "alice"
    assert list_alerts(ws, open_only=True)[0].id == alert_id
    evaluate(ws, store, [_fresh(2.0)], window_end=_end(3), length_seconds=DAY_SECONDS)
    assert list_alerts(ws)[0].state == "resolved"
    with pytest.raises(InputError, match="already resolved"):
        acknowledge(ws, alert_id, "alice")
    with pytest.raises(NotFoundError, match="alert 999"):
        acknowledge(ws, 999, "alice")
    info = raise_info_alert(
        ws, "retrain", "retrained shop_conversion: v2 beats v1", scope="model:shop", model="shop"
    )
    assert info.severity == "info" and info.state == "open"
    assert _log_lines(ws)[-1]["message"].startswith("retrained")


def test_rules_can_test_a_detail_field(tmp_path: Path) -> None:
    ws = _workspace(
        tmp_path,
        "rules = [{ name = 'drift', metric = 'drift_score', field = 'severity', "
        "op = '>=', threshold = 2 }]\n",
    )
    store = open_store(ws)

    def drift(severity: float) -> dict:
        return {
            "check_name": "drift",
            "metric": "drift_score",
            "scope": "feature:channel",
            "model": "conv",
            "kind": "realized",
            "value": 0.1 * severity,
            "status": "warning",
            "detail": {"severity": severity, "method": "jensenshannon"},
        }

    assert evaluate(ws, store, [drift(1.4)], window_end=_end(2), length_seconds=DAY_SECONDS) == []
    (firing,) = evaluate(ws, store, [drift(2.5)], window_end=_end(3), length_seconds=DAY_SECONDS)
    assert firing["model"] == "conv" and "severity 2.5" in firing["message"]


def test_the_integrity_rule_is_always_on_even_when_config_lists_its_own_rules() -> None:
    rules = parse_rules([{"name": "mine", "metric": "conversion_rate", "test": "status"}])
    assert [rule.name for rule in rules] == ["mine", "model-integrity"]
    integrity = rules[1]
    assert integrity.severity == "critical"
    assert integrity.fires(
        {
            "metric": "model_integrity",
            "scope": "model:m",
            "check_name": "integrity",
            "status": "critical",
            "value": 0.0,
        }
    )


def _step(z: float, status: str) -> dict:
    return {
        "check_name": "kpi",
        "metric": "funnel:checkout->purchase",
        "scope": "overall",
        "model": "",
        "kind": "realized",
        "value": 0.3,
        "lower": 0.45,
        "upper": 0.75,
        "threshold": None,
        "status": status,
        "detail": {"baseline": 0.6, "z": z, "anomaly": "low" if status == "warning" else None},
    }


@pytest.mark.parametrize(
    ("resolve_z", "open_after"), [(2.0, [True, True, True, False]), (0.0, [True, False])]
)
def test_an_incident_alert_holds_until_its_series_is_back_within_resolve_z(
    tmp_path: Path, resolve_z: float, open_after: list[bool]
) -> None:
    """A KPI step flagged at z -5, then short of anomaly_z on noisy days (-3.3, -2.4) inside the incident:
    the alert stays open (one alert, one notification) and resolves once z is back within ±resolve_z."""
    ws = _workspace(tmp_path, f"resolve_z = {resolve_z}\n")
    store = open_store(ws)
    days = [(-5.0, "warning"), (-3.3, "ok"), (-2.4, "ok"), (-0.5, "ok")][: len(open_after)]
    states = []
    for day, (z, status) in enumerate(days, start=2):
        firing = evaluate(ws, store, [_step(z, status)], window_end=_end(day), length_seconds=DAY_SECONDS)
        (alert,) = list_alerts(ws)
        states.append(alert.state == "open")
        assert bool(firing) == states[-1]
        if firing and status == "ok":
            assert firing[0]["holding"] and "holds until it is back within ±2" in firing[0]["message"]
    assert states == open_after
    assert [line["state"] for line in _log_lines(ws)] == ["open", "resolved"], (
        "one incident, two notifications"
    )


def test_hysteresis_keeps_only_the_side_that_opened_the_alert(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_store(ws)
    evaluate(ws, store, [_step(-5.0, "warning")], window_end=_end(2), length_seconds=DAY_SECONDS)
    firing = evaluate(ws, store, [_step(3.5, "ok")], window_end=_end(3), length_seconds=DAY_SECONDS)
    assert firing == [] and list_alerts(ws)[0].state == "resolved"  # far on the other side: it recovered
