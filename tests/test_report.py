"""The report reads in a terminal and in a ticket: words and arrows for status, flagged segments only."""

from __future__ import annotations

from pathlib import Path

from engine.monitoring.alerts import evaluate
from engine.monitoring.report import build_report, change_text, format_value, render_report, status_word
from engine.store.db import open_store
from engine.store.metrics import save_run
from engine.workspace import init_workspace

END = "2026-03-02T00:00:00+00:00"


def _kpi(metric: str, scope: str, value: float, baseline: float, status: str = "ok") -> dict:
    return {
        "check_name": "kpi",
        "metric": metric,
        "scope": scope,
        "model": "",
        "kind": "realized",
        "value": value,
        "lower": baseline * 0.8,
        "upper": baseline * 1.2,
        "threshold": None,
        "status": status,
        "detail": {
            "baseline": baseline,
            "anomaly": "low" if status == "warning" else None,
            "change": (value - baseline) / baseline,
        },
    }


def test_words_and_arrows() -> None:
    assert [status_word(s) for s in ("ok", "warning", "critical", "skipped")] == [
        "OK",
        "WARN",
        "CRIT",
        "SKIP",
    ]
    assert change_text(1.021, 1.0) == "▲ 2.1%"
    assert change_text(0.5, 1.0) == "▼ 50.0%"
    assert change_text(1.0, 1.0) == "= 0.0%"
    assert change_text(1.0, None) == ""
    assert format_value("conversion_rate", 0.0312) == "3.12%"
    assert format_value("sessions", 12345.0) == "12,345"
    assert format_value("average_order_value", 58.456) == "58.46"
    assert format_value("roc_auc", None) == "n/a"


def test_report_text_and_markdown(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path)
    store = open_store(ws)
    rows = [
        _kpi("conversion_rate", "overall", 0.029, 0.030),
        _kpi("conversion_rate", "segment:device=mobile", 0.002, 0.027, "warning"),
        _kpi("conversion_rate", "segment:device=desktop", 0.031, 0.030),
        _kpi("sessions", "overall", 1500.0, 1450.0),
    ]
    evaluate(ws, store, rows, window_end=END, length_seconds=86400.0)
    save_run(
        store,
        model="",
        model_version=None,
        source="events",
        window_start="2026-03-01T00:00:00+00:00",
        window_end=END,
        started=END,
        finished=END,
        status="warning",
        summary={"checks": {"kpi": "warning"}},
        metrics=rows,
    )
    report = build_report(ws)
    scopes = {(row["metric"], row["scope"]) for row in report["kpis"]}
    assert ("conversion_rate", "segment:device=mobile") in scopes
    assert ("conversion_rate", "segment:device=desktop") not in scopes, "unflagged segments stay out"
    assert len(report["alerts"]) == 1

    text = render_report(report, "text")
    assert "WARN  data and KPIs (events): kpi WARN" in text
    assert "▼ 92.6%" in text and "3.00%" in text and "#1 WARN [open] kpi-conversion" in text
    markdown = render_report(report, "md")
    assert markdown.startswith("# shopctl monitoring report")
    assert "| WARN | conversion_rate | segment:device=mobile | 0.20% | 2.70% | ▼ 92.6% |" in markdown
    assert "\x1b[" not in text + markdown
