"""Alert rules and the alert lifecycle: a condition that holds opens one alert, which stays open while it
holds and resolves itself when it clears; acknowledging silences nothing but says a person has seen it."""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.clock import now_text
from engine.errors import ConfigError, InputError, NotFoundError
from engine.monitoring import sinks
from engine.records import Alert
from engine.store import alerts as alert_store
from engine.store.db import Store, open_store
from engine.store.metrics import query_metrics
from engine.workspace import Workspace

SEVERITIES = ("info", "warning", "critical")
TESTS = ("threshold", "status", "anomaly", "drop")
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
RULE_KEYS = {
    "name",
    "metric",
    "scope",
    "model",
    "check",
    "kind",
    "test",
    "op",
    "threshold",
    "direction",
    "severity",
    "for",
    "for_runs",
    "message",
    "field",
}

# Shipped when config.toml lists no rules; see docs/monitoring.md.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "kpi-conversion",
        "check": "kpi",
        "metric": "conversion_rate",
        "test": "status",
        "severity": "warning",
    },
    {"name": "kpi-funnel", "check": "kpi", "metric": "funnel:*", "test": "status", "severity": "warning"},
    {
        "name": "drift-share",
        "check": "drift",
        "metric": "drift_share",
        "test": "status",
        "severity": "warning",
    },
    # Severity is the drift statistic on one scale for every method (1 = at its threshold): a feature must be
    # clearly past it for two windows running, so slowly ageing history features do not page anyone.
    {
        "name": "feature-drift",
        "check": "drift",
        "metric": "drift_score",
        "scope": "feature:*",
        "field": "severity",
        "op": ">=",
        "threshold": 2.0,
        "severity": "warning",
        "for": 2,
    },
    {
        "name": "auc-drop",
        "check": "performance",
        "metric": "roc_auc",
        "test": "drop",
        "threshold": 0.05,
        "severity": "critical",
    },
    {
        "name": "data-freshness",
        "check": "quality",
        "metric": "freshness_hours",
        "op": ">",
        "threshold": 26,
        "severity": "warning",
    },
    {"name": "volume", "check": "quality", "metric": "volume", "test": "anomaly", "severity": "warning"},
    {
        "name": "order-risk",
        "check": "order_risk",
        "metric": "flagged_share",
        "test": "status",
        "severity": "warning",
    },
    {
        "name": "quarantine-rate",
        "check": "quality",
        "metric": "quarantine_rate",
        "op": ">",
        "threshold": 0.05,
        "severity": "warning",
    },
    {
        "name": "schema",
        "check": "quality",
        "metric": "schema_errors",
        "op": ">",
        "threshold": 0,
        "severity": "critical",
    },
    # A customer segment's share left its band around the previous segment build (engine/customers/mix.py).
    {
        "name": "segment-mix",
        "check": "segments",
        "metric": "segment_*",
        "test": "status",
        "severity": "warning",
    },
    # A stored forecast's actuals outside its 95% interval three days running (`shopctl forecast`).
    {
        "name": "forecast-interval",
        "check": "forecast",
        "metric": "outside_days:*",
        "op": ">=",
        "threshold": 3,
        "severity": "warning",
    },
)


# Always on, whatever config.toml lists: a champion whose files fail their sha256 check is never "ok".
ALWAYS_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "model-integrity",
        "check": "integrity",
        "metric": "model_integrity",
        "test": "status",
        "severity": "critical",
    },
)


@dataclass(frozen=True)
class Rule:
    """One alert rule: which metric rows it watches (globs), the condition, severity and persistence."""

    name: str
    metric: str
    scope: str = "*"
    model: str = "*"
    check: str = "*"
    kind: str = "*"
    test: str = "threshold"
    op: str = ">"
    threshold: float | None = None
    direction: str = "any"
    severity: str = "warning"
    for_runs: int = 1
    message: str = ""
    field: str = "value"

    def matches(self, row: dict[str, Any]) -> bool:
        return (
            fnmatch.fnmatchcase(row["metric"], self.metric)
            and fnmatch.fnmatchcase(row["scope"], self.scope)
            and fnmatch.fnmatchcase(row.get("model", ""), self.model)
            and fnmatch.fnmatchcase(row["check_name"], self.check)
            and fnmatch.fnmatchcase(row.get("kind", "realized"), self.kind)
        )

    def fires(self, row: dict[str, Any]) -> bool | None:
        """True/False for a judged row, None when the row was not judged (skipped, no value)."""
        if row.get("status") == "skipped":
            return None
        detail = row.get("detail") or {}
        value = row.get("value") if self.field == "value" else detail.get(self.field)
        if self.test == "status":
            return row.get("status") in ("warning", "critical")
        if self.test == "anomaly":
            flag = detail.get("anomaly")
            return bool(flag) and self.direction in ("any", flag)
        if value is None:
            return None
        if self.test == "drop":
            # The point estimate fell by the threshold and even the band's top is below the reference,
            # so a small window's noisy AUC does not page anyone.
            reference = detail.get("reference")
            if reference is None:
                return None
            upper = row.get("upper")
            return value <= reference - (self.threshold or 0.0) and (upper is None or upper < reference)
        if self.threshold is None:
            return None
        return OPERATORS[self.op](value, self.threshold)


def parse_rules(raw: Sequence[dict[str, Any]]) -> list[Rule]:
    """Validate [alerts] rules from config.toml (the defaults when empty); errors name the rule and key."""
    rules = []
    for position, entry in enumerate(raw or DEFAULT_RULES):
        where = f"config.toml [alerts] rules[{position}]"
        unknown = sorted(set(entry) - RULE_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(RULE_KEYS))}")
        if not entry.get("metric"):
            raise ConfigError(f'{where}: needs a metric, e.g. metric = "conversion_rate"')
        test = entry.get("test") or ("threshold" if "threshold" in entry else None)
        if test not in TESTS:
            raise ConfigError(f"{where}: give a threshold (with op) or test = one of {', '.join(TESTS)}")
        if test in ("threshold", "drop") and not isinstance(entry.get("threshold"), int | float):
            raise ConfigError(f"{where}: test {test!r} needs a numeric threshold")
        if entry.get("op", ">") not in OPERATORS:
            raise ConfigError(f"{where}: op {entry['op']!r} must be one of {', '.join(OPERATORS)}")
        if entry.get("severity", "warning") not in SEVERITIES:
            raise ConfigError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        if entry.get("direction", "any") not in ("any", "low", "high"):
            raise ConfigError(f"{where}: direction must be any, low or high")
        for_runs = int(entry.get("for", entry.get("for_runs", 1)))
        if for_runs < 1:
            raise ConfigError(f"{where}: for must be 1 or more consecutive runs")
        rules.append(
            Rule(
                name=str(entry.get("name") or f"rule-{position + 1}"),
                metric=str(entry["metric"]),
                scope=str(entry.get("scope", "*")),
                model=str(entry.get("model", "*")),
                check=str(entry.get("check", "*")),
                kind=str(entry.get("kind", "*")),
                test=test,
                op=str(entry.get("op", ">")),
                threshold=None if entry.get("threshold") is None else float(entry["threshold"]),
                direction=str(entry.get("direction", "any")),
                severity=str(entry.get("severity", "warning")),
                for_runs=for_runs,
                message=str(entry.get("message", "")),
                field=str(entry.get("field", "value")),
            )
        )
    named = {rule.name for rule in rules}
    for entry in ALWAYS_RULES:
        if entry["name"] not in named:
            rules.append(
                Rule(
                    name=entry["name"],
                    metric=entry["metric"],
                    check=entry["check"],
                    test=entry["test"],
                    severity=entry["severity"],
                )
            )
    return rules


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def describe(rule: Rule, row: dict[str, Any], *, holding_z: float | None = None) -> str:
    """A one-line alert message a person can act on; `holding_z` says an open alert holds by hysteresis."""
    from engine.monitoring.report import change_text, format_value

    detail = row.get("detail") or {}
    metric = row["metric"]
    where = row["scope"] if not row.get("model") else f"{row['scope']} (model {row['model']})"
    head = f"{metric} {where} = {format_value(metric, row.get('value'))}"
    if rule.field != "value":
        head += f", {rule.field} {format_value(rule.field, detail.get(rule.field))}"
    if rule.test == "threshold":
        why = f"{rule.op} {format_value(metric, rule.threshold)}"
    elif rule.test == "drop":
        why = (
            f"reference {format_value(metric, detail.get('reference'))}, "
            f"dropped by at least {format_value(metric, rule.threshold)}"
        )
    elif detail.get("baseline") is not None:
        why = (
            f"baseline {format_value(metric, detail['baseline'])}, "
            f"{change_text(row.get('value'), detail['baseline'])}"
        )
        if row.get("lower") is not None and row.get("upper") is not None:
            why += f", expected {format_value(metric, row['lower'])} to {format_value(metric, row['upper'])}"
        if detail.get("cusum_alarm"):
            why += f"; slow decline (CUSUM {detail.get('cusum', 0):.1f})"
    else:
        why = f"status {row.get('status')}"
    if holding_z is not None:
        why += f"; still z {detail.get('z', 0):+.1f}, the alert holds until it is back within ±{holding_z:g}"
    text = f"{head} ({why})"
    return f"{rule.message}: {text}" if rule.message else text


def _held_for(store: Store, rule: Rule, row: dict[str, Any], window_end: str, length_seconds: float) -> int:
    """How many consecutive windows, this one included, the rule has fired for this series."""
    if rule.for_runs <= 1:
        return 1
    earlier = query_metrics(
        store,
        metric=row["metric"],
        scope=row["scope"],
        model=row.get("model", ""),
        check_name=row["check_name"],
        kind=row.get("kind", "realized"),
        until=window_end,
        window_length_seconds=length_seconds,
        limit=rule.for_runs,
    )
    earlier = [item for item in earlier if item["window_end"] < window_end][::-1]
    held = 1
    for item in earlier:
        if not rule.fires(item):
            break
        held += 1
    return held


def evaluate(
    ws: Workspace,
    store: Store,
    rows: Sequence[dict[str, Any]],
    *,
    window_end: str,
    length_seconds: float,
    update_lifecycle: bool = True,
) -> list[dict[str, Any]]:
    """Judge every row against every rule; open, update or resolve alerts (unless back-filling).

    Returns the firing conditions (rule, metric, scope, model, severity, message, held_for, alert_id).
    """
    rules = parse_rules(ws.settings.alerts.rules)
    cooldown = timedelta(minutes=ws.settings.alerts.cooldown_minutes)
    resolve_z = ws.settings.alerts.resolve_z
    firing: list[dict[str, Any]] = []
    for rule in rules:
        # Rows of one series in several kinds (estimated and realized AUC) make one condition: any fires.
        groups: dict[tuple[str, str, str], list[tuple[dict[str, Any], bool]]] = {}
        for row in rows:
            if rule.matches(row):
                verdict = rule.fires(row)
                if verdict is not None:
                    key = (row["metric"], row["scope"], row.get("model", ""))
                    groups.setdefault(key, []).append((row, verdict))
        for (metric, scope, model), judged in groups.items():
            identity = {"rule": rule.name, "metric": metric, "scope": scope, "model": model}
            best = (0, judged[0][0])
            for row, verdict in judged:
                held = _held_for(store, rule, row, window_end, length_seconds) if verdict else 0
                if held > best[0]:
                    best = (held, row)
            held, row = best
            condition = held >= rule.for_runs
            holding = False
            if not condition and update_lifecycle and resolve_z > 0:
                # Hysteresis: an open anomaly alert resolves once its series is back within ±resolve_z,
                # not as soon as one window is merely short of anomaly_z (a noisy day inside an incident).
                holding = _still_beyond(rule, row, alert_store.active_alert(store, **identity), resolve_z)
            message = describe(rule, row, holding_z=resolve_z if holding else None)
            alert_id = None
            if update_lifecycle:
                alert_id = _transition(
                    ws, store, rule, row, identity, condition or holding, held, window_end, cooldown, message
                )
            if condition or holding:
                firing.append(
                    {
                        **identity,
                        "severity": rule.severity,
                        "message": message,
                        "held_for": held,
                        "alert_id": alert_id,
                        **({"holding": True} if holding else {}),
                    }
                )
    return firing


def _still_beyond(rule: Rule, row: dict[str, Any], active: Alert | None, resolve_z: float) -> bool:
    """Whether an open anomaly alert's series is still more than resolve_z from its baseline, on the side
    that opened it (the stored row's anomaly direction)."""
    if active is None or rule.test not in ("status", "anomaly") or row.get("status") == "skipped":
        return False
    z = (row.get("detail") or {}).get("z")
    opened_side = active.detail.get("side")
    if not isinstance(z, int | float) or opened_side not in ("low", "high"):
        return False
    return z <= -resolve_z if opened_side == "low" else z >= resolve_z


def _transition(
    ws: Workspace,
    store: Store,
    rule: Rule,
    row: dict[str, Any],
    key: dict[str, str],
    condition: bool,
    held: int,
    window_end: str,
    cooldown: timedelta,
    message: str,
) -> int | None:
    now = now_text()
    active = alert_store.active_alert(store, **key)
    if active and not condition:
        alert_store.update_alert(store, active.id, {"state": "resolved", "resolved": now, "updated": now})
        sinks.deliver(ws, store, _stored(store, active.id))
        return None
    if not condition:
        return None
    fields = {
        "value": row.get("value"),
        "threshold": row.get("threshold") if rule.threshold is None else rule.threshold,
        "consecutive": held,
        "updated": now,
        "window_end": window_end,
        "message": message,
        "severity": rule.severity,
    }
    detail: dict[str, Any] = {
        "row": {k: row.get(k) for k in ("check_name", "kind", "lower", "upper", "status")},
        "detail": row.get("detail") or {},
    }
    # The side an anomaly opened on stays with the alert while it holds by hysteresis (see _still_beyond).
    side = (row.get("detail") or {}).get("anomaly") or (active.detail.get("side") if active else None)
    if side in ("low", "high"):
        detail["side"] = side
    if active:
        # A newer window that still holds adds one run to the streak (the retrain policy counts them).
        if window_end > (active.window_end or ""):
            fields["consecutive"] = max(held, active.consecutive + 1)
        else:
            fields["consecutive"] = max(held, active.consecutive)
        alert_store.update_alert(store, active.id, fields, detail)
        return active.id
    recent = alert_store.last_resolved(store, **key)
    if (
        recent
        and recent.resolved
        and datetime.fromisoformat(recent.resolved) + cooldown > datetime.fromisoformat(now)
    ):
        # Flapping inside the cooldown: reopen the same alert quietly instead of notifying again.
        alert_store.update_alert(store, recent.id, {**fields, "state": "open", "resolved": None}, detail)
        return recent.id
    alert_id = alert_store.insert_alert(store, {**key, **fields, "state": "open", "opened": now}, detail)
    sinks.deliver(ws, store, _stored(store, alert_id))
    return alert_id


def _stored(store: Store, alert_id: int) -> Alert:
    alert = alert_store.get_alert(store, alert_id)
    if alert is None:  # written a moment ago in this process: only a replaced store file loses it
        raise NotFoundError(f"alert {alert_id} vanished from the store just after it was written")
    return alert


def list_alerts(ws: Workspace, open_only: bool = False) -> list[Alert]:
    """Alerts newest first; open_only keeps those still open or acknowledged."""
    return alert_store.query_alerts(open_store(ws), open_only=open_only)


def acknowledge(ws: Workspace, alert_id: int, who: str) -> Alert:
    """Mark an open alert as seen by `who`; it still resolves itself when its condition clears."""
    store = open_store(ws)
    alert = alert_store.get_alert(store, int(alert_id))
    if alert is None:
        raise NotFoundError(f"alert {alert_id} does not exist; list alerts with `shopctl alerts list`")
    if alert.state == "resolved":
        raise InputError(f"alert {alert_id} is already resolved ({alert.resolved}); nothing to acknowledge")
    if alert.state == "open":
        now = now_text()
        alert_store.update_alert(
            store,
            alert.id,
            {"state": "acknowledged", "acknowledged_by": who, "acknowledged_at": now, "updated": now},
        )
    return _stored(store, alert.id)


def raise_info_alert(
    ws: Workspace, rule: str, message: str, *, scope: str = "overall", model: str = ""
) -> Alert:
    """Record an informational alert (e.g. a retrain decision) and send it to the sinks, network ones too."""
    store = open_store(ws)
    now = now_text()
    alert_id = alert_store.insert_alert(
        store,
        {
            "rule": rule,
            "metric": "event",
            "scope": scope,
            "model": model,
            "severity": "info",
            "state": "open",
            "message": message,
            "opened": now,
            "updated": now,
            "consecutive": 1,
        },
    )
    alert = _stored(store, alert_id)
    sinks.deliver(ws, store, alert)
    sinks.drain_outbox(ws, store)  # not inside a check: the webhook may take up to the delivery deadline
    return alert
