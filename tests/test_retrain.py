"""Champion/challenger retraining on the simulator: promote a better challenger, keep the champion otherwise,
dry-run writes nothing, --force is recorded, policy limits, and a second retrain of a model exits 4."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from test_daemon_support import REPO_ROOT
from typer.testing import CliRunner

from engine.store import open_store
from engine.store.jobs import kv_get
from engine.workspace import Workspace, open_workspace

CONFIG = """
[training]
candidates = ["logistic"]

[retrain]
metric = "roc_auc"
margin = 0.01
train_days = 14
holdout_days = 7
on_alert_runs = 2
min_interval_hours = 24

[schedule.jobs.retrain]
trigger = "cron"
cron = "0 3 * * 1"

[schedule.jobs.monitor]
minutes = 15
window = "7d"

[schedule.jobs.report]
trigger = "cron"
cron = "0 7 * * *"
"""
# The champion learns from the first six days; then a campaign (traffic_shift) brings low-intent social
# traffic and returning users accumulate history the champion never saw. The newest 21 days train and judge
# the challenger.
CHAMPION_UNTIL = datetime(2026, 1, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def base_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with 45 simulated days and a champion trained on the first six (built once per module)."""
    pytest.importorskip("engine.simulator")
    from engine.events import commit_events, new_ingest_id
    from engine.simulator import simulate
    from engine.train.run import train_and_register
    from engine.workspace import init_workspace

    root = tmp_path_factory.mktemp("retrain") / "base"
    ws, _ = init_workspace(root)
    ws.config_path.write_text(CONFIG)
    ws = open_workspace(root)
    simulation = simulate(
        45,
        seed=7,
        scenario="traffic_shift",
        start="2026-01-01",
        sessions_per_day=300,
        scenario_day="2026-01-25",
    )
    events = simulation.events
    commit_events(ws, events.filter(pl.col("event_time") < CHAMPION_UNTIL), new_ingest_id())
    train_and_register(ws, "conversion", task="conversion", who="test")
    commit_events(ws, events.filter(pl.col("event_time") >= CHAMPION_UNTIL), new_ingest_id())
    return root


@pytest.fixture
def ws(base_workspace: Path, tmp_path: Path) -> Workspace:
    """A private copy of the base workspace for one test."""
    root = tmp_path / "ws"
    shutil.copytree(base_workspace, root)
    return open_workspace(root)


def _set_margin(ws: Workspace, margin: float) -> Workspace:
    ws.config_path.write_text(ws.config_path.read_text().replace("margin = 0.01", f"margin = {margin}"))
    return open_workspace(ws.root)


def _snapshot(ws: Workspace) -> dict:
    registry = sorted(str(path.relative_to(ws.root)) for path in ws.registry_dir.rglob("*"))
    history = (ws.registry_dir / "conversion" / "history.jsonl").read_text()
    alerts = open_store(ws).query("SELECT COUNT(*) AS n FROM alerts")[0]["n"]
    return {
        "registry": registry,
        "history": history,
        "alerts": alerts,
        "kv": kv_get(open_store(ws), "retrain:conversion:last"),
    }


def _info_alerts(ws: Workspace) -> list[dict]:
    return open_store(ws).query("SELECT * FROM alerts WHERE rule = 'retrain' AND severity = 'info'")


def test_better_challenger_is_promoted_after_the_traffic_shift(ws: Workspace) -> None:
    from engine.registry import Registry
    from engine.scoring import load_model
    from engine.train.retrain import retrain

    result = retrain(ws, "conversion", who="test")
    assert result.decision == "promote" and result.promoted and not result.forced
    champion_auc = result.champion.metrics["roc_auc"]
    challenger_auc = result.challenger.metrics["roc_auc"]
    assert challenger_auc - champion_auc >= 0.01 and result.improvement == pytest.approx(
        challenger_auc - champion_auc
    )
    assert result.challenger.parity_ok and result.quality_problems == []
    # Both were judged on the same newest seven days, which the challenger did not train on.
    windows = result.windows
    assert windows["train"]["end"] < windows["holdout"]["start"] and windows["holdout"]["rows"] > 1000
    registry = Registry(ws)
    assert registry.champion("conversion") == result.challenger.version == 2
    retrained, trained = registry.get("conversion", 2).metadata, registry.get("conversion", 1).metadata
    assert retrained["metrics"]["holdout"]["roc_auc"] == challenger_auc
    # The same metadata contract as `shopctl train` (one builder): fingerprint, split fractions, dropped columns.
    assert set(trained) <= set(retrained) and retrained["source"]["retrain"] is True
    assert (
        len(retrained["data_fingerprint"]) == 32
        and retrained["split"]["fractions"] == trained["split"]["fractions"]
    )
    assert retrained["holdout_window"] == windows["holdout"]
    assert load_model(ws, "conversion").version == 2  # the champion loads, its sha256 checked
    actions = [(entry["action"], entry["who"]) for entry in registry.history("conversion")]
    assert actions[-2:] == [("register", "test"), ("promote", "test")]
    (alert,) = _info_alerts(ws)
    assert "promoted" in alert["message"] and alert["model"] == "conversion"
    assert kv_get(open_store(ws), "retrain:conversion:last")["decision"] == "promote"
    # One step back to the previous champion.
    registry.rollback("conversion", who="test", why="check rollback after retrain")
    assert registry.champion("conversion") == 1


def test_challenger_that_is_not_better_is_refused_and_the_reason_recorded(ws: Workspace) -> None:
    from engine.registry import Registry
    from engine.train.retrain import retrain

    retrain(ws, "conversion", who="test")  # v2 is now trained on exactly the newest window
    again = retrain(ws, "conversion", who="test")  # the same data and seed: an identical challenger
    assert again.decision == "keep" and not again.promoted
    assert again.improvement == pytest.approx(0.0, abs=1e-12)
    assert any("not better by the margin" in reason for reason in again.reasons)
    registry = Registry(ws)
    assert registry.champion("conversion") == 2 and registry.versions("conversion") == [1, 2]
    last = registry.history("conversion")[-1]
    assert last["action"] == "retrain-kept" and "not better by the margin" in last["why"]
    assert [alert["message"].split(";")[0] for alert in _info_alerts(ws)] == [
        "retrain conversion: promoted",
        "retrain conversion: kept the champion",
    ]


def test_dry_run_changes_nothing(ws: Workspace) -> None:
    from console.cli.main import app

    before = _snapshot(ws)
    result = CliRunner().invoke(app, ["retrain", "conversion", "--dry-run", "--json", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["decision"] == "promote" and payload["dry_run"] and not payload["promoted"]
    assert payload["challenger"]["version"] is None
    assert _snapshot(ws) == before


def test_force_promotes_regardless_and_is_recorded(ws: Workspace) -> None:
    from engine.registry import Registry
    from engine.train.retrain import retrain

    ws = _set_margin(ws, 0.5)
    kept = retrain(ws, "conversion", dry_run=True)
    assert kept.decision == "keep"
    forced = retrain(ws, "conversion", force=True, who="test")
    assert forced.decision == "promote" and forced.forced and forced.promoted
    assert "forced by --force" in forced.reasons
    last = Registry(ws).history("conversion")[-1]
    assert last["action"] == "promote" and last.get("forced") is True


def test_policy_min_interval_and_alert_trigger(ws: Workspace) -> None:
    from engine.scheduling import run_job_now
    from engine.train.policy import retrain_on_alerts, retrain_on_schedule

    store = open_store(ws)
    assert retrain_on_alerts(ws, "conversion") is None  # no alerts open
    store.execute(
        "INSERT INTO alerts (rule, metric, scope, model, severity, state, message, consecutive, opened, updated, "
        "detail_json) VALUES ('drift-share', 'drift_share', 'model:conversion', 'conversion', 'warning', 'open', "
        "'drift', 2, '2026-02-01T00:00:00+00:00', '2026-02-01T00:00:00+00:00', '{\"row\": {\"check_name\": \"drift\"}}')"
    )
    by_alert = retrain_on_alerts(ws, "conversion", who="daemon:test")
    assert by_alert is not None and by_alert.decision == "promote" and by_alert.trigger["alerts"]
    # At most once per min_interval_hours, whether asked by alert or by schedule.
    assert retrain_on_alerts(ws, "conversion") is None
    assert retrain_on_schedule(ws, "conversion").decision == "skipped"
    run = run_job_now(ws, "retrain")
    assert run["status"] == "ok" and run["produced"]["decisions"][0]["decision"] == "skipped"


def test_second_retrain_of_a_model_exits_4_naming_the_holder(ws: Workspace) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from engine.infra.locks import workspace_lock
                from engine.workspace import open_workspace
                with workspace_lock(open_workspace({str(ws.root)!r}), "retrain-conversion"):
                    print("held", flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        from console.cli.main import app

        result = CliRunner().invoke(app, ["retrain", "conversion", "-w", str(ws.root)])
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert result.exit_code == 4
    assert "lock 'retrain-conversion'" in result.stderr and f"pid {holder.pid}" in result.stderr


def test_monitor_and_report_jobs_record_what_they_produced(ws: Workspace) -> None:
    from engine.scheduling import run_job_now

    monitored = run_job_now(ws, "monitor")
    assert monitored["status"] == "ok", monitored["error"]
    run_id = monitored["produced"]["monitor_run"]
    assert open_store(ws).query("SELECT model FROM monitor_runs WHERE id = ?", (run_id,))
    assert monitored["produced"]["models"] == ["conversion"]
    reported = run_job_now(ws, "report")
    assert reported["status"] == "ok", reported["error"]
    report = Path(reported["produced"]["report"])
    assert report.parent == ws.state_dir / "reports" and report.read_text().startswith(
        "# shopctl monitoring report"
    )


def test_a_challenger_over_the_parity_tolerance_is_never_promoted(ws: Workspace, monkeypatch) -> None:
    import dataclasses

    import engine.train.run as train_run
    from engine.train.retrain import retrain

    export = train_run.export_onnx
    monkeypatch.setattr(
        train_run, "export_onnx", lambda trained: dataclasses.replace(export(trained), parity=0.5)
    )
    result = retrain(ws, "conversion", dry_run=True, force=True)
    assert result.decision == "keep" and not result.challenger.parity_ok
    assert result.challenger.parity_max_abs_diff == 0.5
    assert any("ONNX parity 0.5 exceeds parity_tolerance" in reason for reason in result.reasons)
