"""A seeded workspace for the TUI tests: 90 days of monitor runs, alerts, job runs, two registered models.

Monitor runs, metrics, alerts and job runs go through the store's own writers (save_run, insert_alert,
start_run/finish_run) and the models through `Registry` (register, promote, rollback), so a change in what
they write shows up here too; state/daemon.json follows the conventions in DEVELOPERS.md.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from engine.registry import Registry
from engine.store.alerts import insert_alert
from engine.store.db import Store
from engine.store.jobs import finish_run, start_run
from engine.store.metrics import save_run
from engine.workspace import Workspace, init_workspace

FIXED_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

NUMERIC_FEATURES = {
    # name: (method, threshold, drift statistic on the newest day)
    "price_mean": ("psi", 0.2, 0.41),
    "session_minutes": ("ks", 0.1, 0.16),
    "pages_viewed": ("wasserstein", 0.1, 0.04),
    "cart_adds": ("psi", 0.2, 0.05),
    "hour_of_day": ("jensenshannon", 0.1, 0.03),
    "discount_share": ("psi", 0.2, 0.12),
}
CATEGORICAL_FEATURES = {
    # name: (method, threshold, newest value, categories); chisquare's threshold and value are p-values
    "channel": ("chisquare", 0.05, 1e-9, ["organic", "paid_search", "social", "email"]),
    "device": ("jensenshannon", 0.1, 0.02, ["desktop", "mobile", "tablet"]),
    "visitor_type": ("jensenshannon", 0.1, 0.01, ["new", "returning"]),
    "country": ("chisquare", 0.05, 0.31, ["DE", "FR", "NL", "PL"]),
}
SEGMENTS = {
    "channel": {"organic": 0.034, "paid_search": 0.029, "social": 0.018, "email": 0.052},
    "device": {"desktop": 0.041, "mobile": 0.026, "tablet": 0.031},
    "visitor_type": {"new": 0.021, "returning": 0.046},
}


# The workspace's own config.toml: defaults for everything but the jobs, written before `init_workspace`
# so these tests do not depend on the template other parts are editing.
CONFIG = """\
[schedule.jobs.monitor]
trigger = "interval"
minutes = 15

[schedule.jobs.ingest]
trigger = "interval"
minutes = 5

[schedule.jobs.retrain]
trigger = "cron"
cron = "0 3 * * 1"
enabled = false

[schedule.jobs.report]
trigger = "cron"
cron = "0 7 * * *"
"""


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _metric(rows: list[dict[str, Any]], **values: Any) -> None:
    """One metric row as the checks build them (engine.monitoring), collected for save_run."""
    rows.append(
        {
            "model": "",
            "kind": "realized",
            "scope": "overall",
            "status": "ok",
            "lower": None,
            "upper": None,
            "threshold": None,
            "detail": {},
            **values,
        }
    )


def _shares(counts: list[float]) -> list[float]:
    total = sum(counts)
    return [count / total for count in counts]


def _numeric_histogram(rng: random.Random, statistic: float) -> dict:
    """Histograms as the drift check stores them: shares on the reference's quantile bin edges."""
    edges = [float("-inf")] + [round(10 * i * (1 + i / 10), 2) for i in range(1, 10)] + [float("inf")]
    reference = [1000] * 10
    shift = min(statistic * 3, 0.9)
    current = [max(1, int(1000 * (1 - shift + 2 * shift * i / 9) + rng.randint(-40, 40))) for i in range(10)]
    return {
        "reference": {"shares": _shares(reference), "edges": edges},
        "current": {"shares": _shares(current), "edges": edges},
    }


def _categorical_histogram(labels: list[str], drifted: bool) -> dict:
    reference = [1.0 / (index + 1.5) for index in range(len(labels))]
    current = list(reference)
    current[1] = reference[1] * (2.2 if drifted else 1.05)
    return {
        "reference": {"shares": _shares(reference), "labels": labels},
        "current": {"shares": _shares(current), "labels": labels},
    }


def _seed_monitoring(store: Store, now: datetime, days: int, rng: random.Random) -> None:
    today = _day_start(now)
    for back in range(days, 0, -1):
        start, end = today - timedelta(days=back), today - timedelta(days=back - 1)
        recent = back <= 4  # the newest days carry the incident every screen should show
        weekly = 0.002 * math.sin(2 * math.pi * start.weekday() / 7)
        baseline = 0.032 + weekly
        conversion = baseline + rng.gauss(0, 0.0008) - (0.005 if recent else 0.0)
        anomaly = conversion < baseline - 0.003
        status = "warning" if anomaly else "ok"
        rows: list[dict[str, Any]] = []
        band = {"lower": baseline - 0.003, "upper": baseline + 0.003}
        _metric(
            rows,
            check_name="kpi",
            metric="conversion_rate",
            value=conversion,
            status=status,
            detail={"baseline": baseline, "anomaly": anomaly},
            **band,
        )
        _metric(rows, check_name="kpi", metric="sessions", value=1500 + rng.randint(-90, 90))
        if back == 1:
            _seed_latest_kpis(rows, rng)
        auc = 0.78 - (0.05 if recent else 0.0) + rng.gauss(0, 0.004)
        if back > 2:  # labels arrive two days late: no realized quality for the newest windows
            _metric(
                rows,
                model="conversion",
                check_name="performance",
                metric="roc_auc",
                scope="model:conversion",
                value=auc,
            )
        estimated = auc + rng.gauss(0, 0.006)
        _metric(
            rows,
            model="conversion",
            check_name="performance",
            metric="roc_auc",
            scope="model:conversion",
            kind="estimated",
            value=estimated,
            lower=estimated - 0.02,
            upper=estimated + 0.02,
            status="warning" if recent else "ok",
        )
        drifting = 0
        for name, (method, threshold, latest) in NUMERIC_FEATURES.items():
            statistic = latest if back == 1 else latest * (0.9 if recent else 0.25) + abs(rng.gauss(0, 0.005))
            drifting += statistic > threshold
            detail = {
                "method": method,
                "statistic": statistic,
                "p_value": None,
                "threshold": threshold,
                "drifted": statistic > threshold,
                "severity": statistic / threshold,
            }
            if back == 1:
                detail.update(_numeric_histogram(rng, statistic))
            _metric(
                rows,
                model="conversion",
                check_name="drift",
                metric="drift_score",
                scope=f"feature:{name}",
                value=statistic,
                threshold=threshold,
                status="warning" if statistic > threshold else "ok",
                detail=detail,
            )
        for name, (method, threshold, latest, labels) in CATEGORICAL_FEATURES.items():
            if method == "chisquare":  # a test: drift when the p-value falls below the threshold
                p_value = latest if back == 1 else (latest * 10 if recent else 0.4)
                drifted = p_value < threshold
                severity = math.log(p_value) / math.log(threshold)
                statistic = round(-2 * math.log(p_value), 3)
            else:
                p_value = None
                statistic = (
                    latest if back == 1 else latest * (0.9 if recent else 0.25) + abs(rng.gauss(0, 0.005))
                )
                drifted = statistic > threshold
                severity = statistic / threshold
            drifting += drifted
            detail = {
                "method": method,
                "statistic": statistic,
                "p_value": p_value,
                "threshold": threshold,
                "drifted": drifted,
                "severity": severity,
            }
            if back == 1:
                detail.update(_categorical_histogram(labels, drifted))
            _metric(
                rows,
                model="conversion",
                check_name="drift",
                metric="drift_score",
                scope=f"feature:{name}",
                value=statistic,
                threshold=threshold,
                status="warning" if drifted else "ok",
                detail=detail,
            )
        share = drifting / (len(NUMERIC_FEATURES) + len(CATEGORICAL_FEATURES))
        _metric(
            rows,
            model="conversion",
            check_name="drift",
            metric="drift_share",
            scope="model:conversion",
            value=share,
            threshold=0.5,
            status="warning" if share > 0.25 else "ok",
        )
        save_run(
            store,
            model="conversion",
            model_version=3,
            source="events",
            window_start=_iso(start),
            window_end=_iso(end),
            started=_iso(end + timedelta(minutes=5)),
            finished=_iso(end + timedelta(minutes=6)),
            status="critical" if recent else "ok",
            summary={},
            metrics=rows,
        )


def _seed_latest_kpis(rows: list[dict[str, Any]], rng: random.Random) -> None:
    overall = {
        "cart_rate": (0.118, 0.121),
        "checkout_rate": (0.052, 0.055),
        "cart_abandonment": (0.71, 0.68),
        "average_order_value": (64.2, 63.1),
        "revenue_per_session": (1.74, 2.02),
    }
    for metric, (value, baseline) in overall.items():
        anomaly = abs(value / baseline - 1) > 0.1
        _metric(
            rows,
            check_name="kpi",
            metric=metric,
            value=value,
            lower=baseline * 0.92,
            upper=baseline * 1.08,
            status="warning" if anomaly else "ok",
            detail={"baseline": baseline, "anomaly": anomaly},
        )
    funnel = {
        "view->cart": (0.118, 0.121),
        "cart->checkout": (0.44, 0.45),
        "checkout->purchase": (0.46, 0.58),
    }
    for step, (value, baseline) in funnel.items():
        anomaly = value < baseline * 0.9
        _metric(
            rows,
            check_name="kpi",
            metric=f"funnel:{step}",
            value=value,
            lower=baseline * 0.9,
            upper=baseline * 1.1,
            status="warning" if anomaly else "ok",
            detail={"baseline": baseline, "anomaly": anomaly},
        )
    for dimension, values in SEGMENTS.items():
        for value, baseline in values.items():
            scope = f"segment:{dimension}={value}"
            drop = (
                0.62 if (dimension, value) == ("channel", "paid_search") else 1.0 + rng.uniform(-0.04, 0.04)
            )
            sessions = 120 if value == "tablet" else 300 + rng.randint(0, 500)
            anomaly = drop < 0.8
            _metric(
                rows,
                check_name="kpi",
                metric="conversion_rate",
                scope=scope,
                value=baseline * drop,
                lower=baseline * 0.85,
                upper=baseline * 1.15,
                status="critical" if anomaly else ("skipped" if value == "tablet" else "ok"),
                detail={"baseline": baseline, "anomaly": anomaly},
            )
            _metric(rows, check_name="kpi", metric="sessions", scope=scope, value=sessions)


def _seed_alerts(store: Store, now: datetime) -> None:
    alerts = [
        (
            "drift_feature",
            "drift_score",
            "feature:price_mean",
            "conversion",
            "critical",
            "open",
            "price_mean drifted: psi 0.41 > 0.20",
            0.41,
            0.2,
            3,
            3,
        ),
        (
            "kpi_segment",
            "conversion_rate",
            "segment:channel=paid_search",
            "",
            "warning",
            "open",
            "conversion in channel=paid_search 1.80% vs baseline 2.90% (-38%)",
            0.018,
            0.0247,
            2,
            2,
        ),
        (
            "performance",
            "roc_auc",
            "model:conversion",
            "conversion",
            "warning",
            "open",
            "conversion estimated roc_auc 0.728 below 0.750",
            0.728,
            0.75,
            2,
            2,
        ),
        (
            "drift_feature",
            "drift_score",
            "feature:channel",
            "conversion",
            "warning",
            "acknowledged",
            "channel drifted: chisquare 0.27 > 0.10",
            0.27,
            0.1,
            4,
            1,
        ),
        (
            "kpi",
            "conversion_rate",
            "overall",
            "",
            "info",
            "resolved",
            "conversion 2.81% below band 2.90%",
            0.0281,
            0.029,
            1,
            20,
        ),
        (
            "drift_dataset",
            "drift_share",
            "model:conversion",
            "conversion",
            "warning",
            "resolved",
            "drift share 0.40 >= 0.30",
            0.4,
            0.3,
            1,
            35,
        ),
    ]
    for (
        rule,
        metric,
        scope,
        model,
        severity,
        state,
        message,
        value,
        threshold,
        days_ago,
        consecutive,
    ) in alerts:
        opened = now - timedelta(days=days_ago, hours=2)
        insert_alert(
            store,
            {
                "rule": rule,
                "metric": metric,
                "scope": scope,
                "model": model,
                "severity": severity,
                "state": state,
                "message": message,
                "value": value,
                "threshold": threshold,
                "consecutive": consecutive,
                "opened": _iso(opened),
                "updated": _iso(opened + timedelta(hours=6)),
                "resolved": _iso(opened + timedelta(days=1)) if state == "resolved" else None,
                "acknowledged_by": "dana" if state == "acknowledged" else None,
                "acknowledged_at": _iso(opened + timedelta(hours=1)) if state == "acknowledged" else None,
                "window_end": _iso(_day_start(now)),
            },
        )


def _seed_job_runs(store: Store, now: datetime) -> None:
    runs = []
    for hours in range(24, 0, -1):
        started = now - timedelta(hours=hours, minutes=-3)
        runs.append(("ingest", "schedule", started, 4.2 + hours % 3, "ok", None))
        if hours % 4 == 0:
            runs.append(("monitor", "schedule", started + timedelta(minutes=1), 12.5, "ok", None))
    runs.append(("report", "schedule", now - timedelta(hours=2, minutes=30), 3.1, "ok", None))
    runs.append(
        (
            "monitor",
            "run-now",
            now - timedelta(minutes=50),
            2.0,
            "failed",
            "StoreError: state/shopctl.db: database is locked",
        )
    )
    runs.append(("monitor", "retry", now - timedelta(minutes=49), 13.0, "ok", None))
    runs.append(("ingest", "schedule", now - timedelta(seconds=20), None, "running", None))
    runs.sort(key=lambda run: run[2])  # the daemon inserts runs as they start
    for job_id, trigger, started, seconds, status, error in runs:
        run_id = start_run(store, job_id, trigger=trigger, scheduled_for=started, started=started)
        if seconds is not None:
            finish_run(store, run_id, status, error=error, finished=started + timedelta(seconds=seconds))


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def _tiny_onnx() -> bytes:
    """A valid one-input ONNX graph (x -> probabilities): the registry checks a version's declared inputs and
    output against its graph, and the TUI never scores with these models."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Concat", ["x", "x"], ["probabilities"], axis=1)],
        "fixture",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _seed_registry(ws: Workspace, now: datetime) -> None:
    models = {
        # name: task, metric, [(version, days ago, chosen, validation, test, parity)], changes in order
        "conversion": (
            "binary",
            "roc_auc",
            [
                (1, 80, "logistic", 0.742, 0.738, 2.1e-7),
                (2, 40, "hgb", 0.781, 0.776, 3.0e-6),
                (3, 12, "stack", 0.789, 0.784, 4.8e-6),
                (4, 1, "hgb", 0.793, 0.787, 2.9e-6),
            ],
            [
                (80, "cli", "register+promote", 1, "first model"),
                (40, "retrain", "register", 2, "retrain"),
                (40, "retrain", "promote", 2, "challenger better by 0.039 roc_auc"),
                (12, "retrain", "register", 3, "retrain"),
                (12, "retrain", "promote", 3, "challenger better by 0.008 roc_auc"),
                (1, "retrain", "register", 4, "challenger better by 0.003 < margin 0.005: kept champion"),
            ],
        ),
        "repurchase": (
            "binary",
            "pr_auc",
            [
                (1, 60, "logistic", 0.412, 0.405, 1.2e-7),
                (2, 20, "mlp", 0.436, 0.428, 8.7e-5),
            ],
            [
                (60, "cli", "register+promote", 1, "first model"),
                (21, "cli", "register", 2, "retrained by hand"),
                (20, "dana", "promote", 2, "better pr_auc"),
                (19, "dana", "rollback", 1, "calibration off on mobile"),
            ],
        ),
    }
    onnx_bytes = _tiny_onnx()
    clock = {"now": now}
    registry = Registry(ws)
    with mock.patch("engine.registry.now_text", lambda: clock["now"].isoformat(timespec="seconds")):
        for name, (task, metric, versions, history) in models.items():
            metadata = {
                version: {
                    "task": task,
                    "target": "converted",
                    "inputs": [{"name": "x", "column": "x", "dtype": "float32", "kind": "numeric"}],
                    "output": {"name": "probabilities", "column": 1},
                    "metrics": {"validation": {metric: validation}, "test": {metric: test}},
                    "candidates": {chosen: {"validation": {metric: validation}, "test": {metric: test}}},
                    "chosen": chosen,
                    "parity_max_abs_diff": parity,
                    "created": _iso(now - timedelta(days=days_ago)),
                    "created_by": "cli",
                }
                for version, days_ago, chosen, validation, test, parity in versions
            }
            # Every change through the registry's own writers, at the moment it happened.
            for days, who, action, version, why in history:
                clock["now"] = now - timedelta(days=days)
                if action in ("register", "register+promote"):
                    promote = action == "register+promote"
                    registry.register(
                        name, onnx_bytes, metadata[version], {}, promote=promote, who=who, why=why
                    )
                elif action == "promote":
                    registry.promote(name, version, who=who, why=why)
                else:
                    registry.rollback(name, who=who, why=why)


# Daemon locks held by this test process for a workspace that shows a running daemon (path -> open handle).
_DAEMON_LOCKS: dict[Path, Any] = {}


def _hold_daemon_lock(ws: Workspace, held: bool) -> None:
    """Hold (or release) the workspace's daemon lock, the one fact that says a daemon runs."""
    path = ws.locks_dir / "daemon.lock"
    handle = _DAEMON_LOCKS.pop(path, None)
    if handle is not None:
        handle.close()  # closing the file releases its flock
    if held:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - kept open while the workspace shows a running daemon
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        _DAEMON_LOCKS[path] = handle


def write_daemon(ws: Workspace, now: datetime, *, running: bool = True) -> None:
    """state/daemon.json as a live daemon writes it, and the daemon lock held while it "runs" (the test process
    stands in for the daemon); not running leaves a stale daemon.json behind, as a crashed daemon does."""
    _hold_daemon_lock(ws, running)
    pid = os.getpid() if running else 2**22 + 17  # above the default pid_max: never a live process
    _write_json(
        ws.state_dir / "daemon.json",
        {
            "pid": pid,
            "started": _iso(now - timedelta(days=3)),
            "heartbeat": _iso(now - timedelta(seconds=10)),
            "jobs": [
                {
                    "id": "monitor",
                    "trigger": "interval[0:15:00]",
                    "next_run": _iso(now + timedelta(minutes=7)),
                },
                {
                    "id": "ingest",
                    "trigger": "interval[0:05:00]",
                    "next_run": _iso(now + timedelta(minutes=2)),
                },
                {
                    "id": "report",
                    "trigger": "cron[hour=7]",
                    "next_run": _iso(_day_start(now) + timedelta(days=1, hours=7)),
                },
            ],
        },
    )


def empty_workspace(root: Path) -> Workspace:
    """An initialised workspace with the test config and nothing in it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(CONFIG)
    ws, _ = init_workspace(root)
    return ws


def build_workspace(
    root: Path, *, now: datetime = FIXED_NOW, days: int = 90, seed: int = 7, daemon_running: bool = True
) -> Workspace:
    """A workspace at root with `days` of seeded history ending the day before `now`."""
    ws = empty_workspace(root)
    rng = random.Random(seed)
    store = Store(ws.store_path)
    _seed_monitoring(store, now, days, rng)
    _seed_alerts(store, now)
    _seed_job_runs(store, now)
    store.close()
    _seed_registry(ws, now)
    write_daemon(ws, now, running=daemon_running)
    return ws
