"""Metric history and the monitoring report: plain text for a terminal, Markdown for a ticket, or JSON.

Status is always a word or an arrow ("OK", "WARN", "CRIT", "▲ 2.1%"), never colour alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.monitoring.windows import parse_at
from engine.store import alerts as alert_store
from engine.store.db import open_store
from engine.store.metrics import list_runs, query_metrics
from engine.workspace import Workspace

STATUS_WORDS = {
    "ok": "OK",
    "warning": "WARN",
    "critical": "CRIT",
    "skipped": "SKIP",
    "error": "ERR",
    "info": "INFO",
}
KPI_METRICS = (
    "sessions",
    "conversion_rate",
    "cart_abandonment",
    "average_order_value",
    "revenue_per_session",
)
PERFORMANCE_METRICS = ("roc_auc", "pr_auc", "log_loss")
PERCENT_METRICS = {
    "conversion_rate",
    "cart_rate",
    "checkout_rate",
    "cart_abandonment",
    "session_share",
    "drift_share",
    "null_rate",
    "quarantine_rate",
    "duplicate_rate",
}


def status_word(status: str | None) -> str:
    """OK / WARN / CRIT / SKIP for a stored status."""
    return STATUS_WORDS.get(status or "", (status or "").upper())


def change_text(value: float | None, baseline: float | None) -> str:
    """Relative change as an arrow and a percentage ("▲ 2.1%", "▼ 0.4%", "= 0.0%")."""
    if value is None or not baseline:
        return ""
    change = (value - baseline) / abs(baseline)
    arrow = "▲" if change > 0.0005 else "▼" if change < -0.0005 else "="
    return f"{arrow} {abs(change):.1%}"


def format_value(metric: str, value: float | None) -> str:
    """A figure as a person reads it: rates as percentages, counts as integers."""
    if value is None:
        return "n/a"
    if metric in PERCENT_METRICS or metric.startswith("funnel:"):
        return f"{value:.2%}"
    if metric in ("sessions", "volume", "schema_errors"):
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.2f}"


def metric_history(
    ws: Workspace,
    *,
    metric: str | None = None,
    scope: str | None = None,
    since: str | None = None,
    model: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Stored metric rows, oldest window first; metric and scope accept globs; since is a date or time."""
    since_at = parse_at(since, source="--since") if since else None
    since_text = since_at.isoformat(timespec="seconds") if since_at else None
    return query_metrics(
        open_store(ws), metric=metric, scope=scope, since=since_text, model=model, kind=kind, limit=limit
    )


def build_report(ws: Workspace) -> dict[str, Any]:
    """The newest run's status, KPIs against baseline, model health and the open alerts, as plain data."""
    store = open_store(ws)
    runs = list_runs(store, limit=200)
    latest_end = max((run["window_end"] for run in runs), default=None)
    latest = [run for run in runs if run["window_end"] == latest_end]
    kpi_rows, model_rows, quality_rows = [], [], []
    if latest_end:
        rows = query_metrics(store, since=None, until=latest_end)
        rows = [row for row in rows if row["window_end"] == latest_end]
        # Overall KPIs always; a segment only when it is flagged, so the report fits a terminal.
        kpi_rows = [
            row
            for row in rows
            if row["check_name"] == "kpi"
            and row["kind"] == "realized"
            and (
                (
                    row["scope"] == "overall"
                    and (row["metric"] in KPI_METRICS or row["metric"].startswith("funnel:"))
                )
                or row["status"] in ("warning", "critical")
            )
        ]
        model_rows = [
            row
            for row in rows
            if row["check_name"] in ("drift", "performance")
            and row["scope"].startswith("model:")
            and (row["metric"] in PERFORMANCE_METRICS or row["metric"] == "drift_share")
        ]
        quality_rows = [row for row in rows if row["check_name"] == "quality" and row["scope"] == "overall"]
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "workspace": str(ws.root),
        "window": {"start": latest[0]["window_start"], "end": latest_end} if latest else None,
        "runs": [
            {
                "model": run["model"] or None,
                "source": run["source"],
                "status": run["status"],
                "finished": run["finished"],
                "checks": run["summary"].get("checks", {}),
            }
            for run in latest
        ],
        "kpis": [_brief(row) for row in kpi_rows],
        "models": [_brief(row) for row in model_rows],
        "quality": [_brief(row) for row in quality_rows],
        "alerts": [
            {
                key: alert.to_dict()[key]
                for key in (
                    "id",
                    "severity",
                    "state",
                    "rule",
                    "metric",
                    "scope",
                    "model",
                    "message",
                    "opened",
                )
            }
            for alert in alert_store.active_alerts(store)
        ],
    }


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    detail = row.get("detail") or {}
    baseline = detail.get("baseline", detail.get("reference"))
    return {
        "metric": row["metric"],
        "scope": row["scope"],
        "model": row.get("model") or None,
        "kind": row["kind"],
        "value": row["value"],
        "baseline": baseline,
        "status": row["status"],
        "change": change_text(row["value"], baseline),
    }


def _table(rows: list[dict[str, Any]], markdown: bool) -> list[str]:
    header = ("status", "metric", "scope", "value", "baseline", "change")
    body = [
        (
            status_word(row["status"]),
            row["metric"] + ("" if row["kind"] == "realized" else f" ({row['kind']})"),
            row["scope"],
            format_value(row["metric"], row["value"]),
            format_value(row["metric"], row["baseline"]) if row["baseline"] is not None else "",
            row["change"],
        )
        for row in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(cells) + " |" for cells in body]
    widths = [max(len(str(cells[i])) for cells in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in [header, *body]
    ]


def render_report(report: dict[str, Any], fmt: str = "text") -> str:
    """The report as plain text or Markdown."""
    markdown = fmt == "md"
    heading = (lambda text: f"## {text}") if markdown else (lambda text: f"{text}\n{'-' * len(text)}")
    lines = [("# " if markdown else "") + "shopctl monitoring report", ""]
    window = report.get("window")
    if not window:
        lines.append("No monitoring runs yet: run `shopctl monitor run`.")
        return "\n".join(lines) + "\n"
    lines.append(f"Window: {window['start']} to {window['end']} (generated {report['generated']})")
    for run in report["runs"]:
        checks = ", ".join(f"{name} {status_word(status)}" for name, status in run["checks"].items())
        lines.append(
            f"{'- ' if markdown else '  '}{status_word(run['status'])}  "
            f"{run['model'] or 'data and KPIs'} ({run['source']}): {checks}"
        )
    for title, key in (("Business KPIs", "kpis"), ("Models", "models"), ("Data quality", "quality")):
        if report[key]:
            lines += ["", heading(title), *_table(report[key], markdown)]
    lines += ["", heading(f"Open alerts ({len(report['alerts'])})")]
    if not report["alerts"]:
        lines.append("none")
    for alert in report["alerts"]:
        lines.append(
            f"{'- ' if markdown else ''}#{alert['id']} {status_word(alert['severity'])} "
            f"[{alert['state']}] {alert['rule']}: {alert['message']}"
        )
    return "\n".join(lines) + "\n"
