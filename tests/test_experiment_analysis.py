"""`shopctl experiment` end to end on the simulator's experiment scenarios: the true lift is recovered within its
interval, the SRM bug is flagged, results are stored once, the daemon task alerts once, bad input exits 2."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from console.cli.main import app
from engine.ingest import ingest_files
from engine.ingest.options import IngestOptions
from engine.simulator import simulate, write_simulation
from engine.workspace import Workspace, init_workspace

START = date(2026, 3, 2)
DAYS, PER_DAY, CHANGE = 36, 1200, date(2026, 3, 14)  # 24 days of experiment, ~14,000 sessions per variant
runner = CliRunner()


def _workspace(root: Path, scenario: str, *, via_config: bool) -> tuple[Workspace, dict]:
    sim = simulate(
        DAYS, seed=21, scenario=scenario, start=START, sessions_per_day=PER_DAY, scenario_day=CHANGE
    )
    written = write_simulation(sim, root / f"{scenario}.parquet")
    ws, _ = init_workspace(root / scenario)
    if via_config:  # the variant as a configured dimension (the default schedule watches experiments)
        text = ws.config_path.read_text().replace(
            'dimensions = { channel = "channel", device = "device", country = "country" }',
            'dimensions = { channel = "channel", device = "device", country = "country", variant = "ab_group" }',
        )
        assert "[schedule.jobs.experiments]" in text
        ws.config_path.write_text(text)
        ws.reload_settings()
        ingest_files(ws, [written["events"]])
    else:  # the variant mapped at ingest only, like `shopctl ingest FILE --dimension variant=ab_group`
        ingest_files(ws, [written["events"]], IngestOptions(dimensions={"variant": "ab_group"}))
    return ws, sim.ground_truth


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    return _workspace(tmp_path_factory.mktemp("clean"), "experiment", via_config=False)


@pytest.fixture(scope="module")
def srm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, dict]:
    return _workspace(tmp_path_factory.mktemp("srm"), "experiment_srm", via_config=True)


def _analyze(ws: Workspace, *args: str) -> dict:
    result = runner.invoke(
        app, ["experiment", "analyze", "--dimension", "variant", *args, "-w", str(ws.root), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--unit", "user"),
        ("--unit", "user", "--cuped"),
        ("--unit", "user", "--sequential"),
        ("--metric", "revenue_per_session"),
    ],
)
def test_true_lift_lies_in_the_interval_and_the_split_is_ok(
    clean: tuple[Workspace, dict], args: tuple[str, ...]
) -> None:
    ws, truth = clean
    payload = _analyze(ws, *args)
    true_lift = truth["experiment"]["true_relative_lift"]["B"]
    (row,) = payload["comparisons"]
    source = row["sequential"] if "--sequential" in args else row
    assert source["relative_lower"] < true_lift < source["relative_upper"], row
    assert row["relative_lift"] > 0 and row["chance_to_beat_control"] > 0.5
    assert payload["srm"]["mismatch"] is False and payload["trustworthy"] is True
    assert payload["experiment"]["first_session"][:10] == CHANGE.isoformat()
    if "--cuped" in args:
        assert 0 < payload["cuped"]["variance_reduction"] < 1


def test_srm_bug_is_flagged_and_the_verdict_refuses_to_trust_the_lift(srm: tuple[Workspace, dict]) -> None:
    ws, truth = srm
    assert truth["experiment"]["srm_bug"]["variant"] == "B"
    payload = _analyze(ws, "--unit", "session")
    assert payload["srm"]["mismatch"] is True and payload["srm"]["p_value"] < 0.001
    assert payload["srm"]["counts"]["B"] < payload["srm"]["counts"]["A"]
    assert payload["trustworthy"] is False and "cannot be trusted" in payload["verdict"]
    human = runner.invoke(
        app, ["experiment", "analyze", "--dimension", "variant", "-w", str(ws.root), "--no-save"]
    )
    assert human.exit_code == 0 and "MISMATCH" in human.stdout and "cannot be trusted" in human.stdout


def test_results_are_stored_once_and_the_daemon_task_alerts_once(srm: tuple[Workspace, dict]) -> None:
    from engine.analytics.experiment_watch import list_experiments
    from engine.monitoring.alerts import list_alerts
    from engine.scheduling import run_job_now

    ws, _ = srm
    for _ in range(2):
        _analyze(ws, "--unit", "session")
    stored = [row for row in list_experiments(ws) if row["unit"] == "session"]
    assert len(stored) == 1 and stored[0]["latest"]["srm_mismatch"] is True
    first = run_job_now(ws, "experiments")
    second = run_job_now(ws, "experiments")
    assert first["status"] == "ok", first

    def actions(run: dict) -> dict[str, str]:
        return {row["experiment"]: row["srm_alert"] for row in run["produced"]["analysed"]}

    label = "variant (conversion_rate by session)"
    assert actions(first)[label] == "opened" and actions(second)[label] == "held"
    alerts = [alert for alert in list_alerts(ws) if alert.rule == "experiment-srm"]
    assert len(alerts) == 1 and alerts[0].severity == "critical" and "cannot be trusted" in alerts[0].message
    listed = runner.invoke(app, ["experiment", "list", "-w", str(ws.root), "--json"])
    assert listed.exit_code == 0 and all(row["status"] == "running" for row in json.loads(listed.stdout))


def test_plan_days_at_the_workspace_traffic(clean: tuple[Workspace, dict]) -> None:
    ws, _ = clean
    result = runner.invoke(
        app, ["experiment", "plan", "--baseline", "0.03", "--mde", "0.1", "-w", str(ws.root), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (
        payload["sessions_per_variant"] == 53182
    )  # statsmodels NormalIndPower, see test_experiment_stats.py
    assert 0.8 * PER_DAY < payload["sessions_per_day"] < 1.2 * PER_DAY
    assert payload["days"] == -(-2 * 53182 // payload["sessions_per_day"]) or payload["days"] > 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dimension", "nope"], "dimension 'nope' has no values"),
        (["--dimension", "channel"], None),  # a real dimension with many values is a valid (odd) experiment
        (["--dimension", "variant", "--control", "Z"], "--control 'Z' is not a variant"),
        (["--dimension", "variant", "--since", "2020-01-01", "--until", "2020-01-31"], "no events between"),
        (
            ["--dimension", "variant", "--since", "2026-03-01", "--until", "2026-03-10"],
            "has no values in the window",
        ),
        (["--dimension", "variant", "--metric", "clicks"], "--metric 'clicks' is unknown"),
        (["--dimension", "variant", "--cuped"], "--cuped adjusts per-user metrics"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    clean: tuple[Workspace, dict], args: list[str], fragment: str | None
) -> None:
    ws, _ = clean
    result = runner.invoke(app, ["experiment", "analyze", *args, "-w", str(ws.root), "--no-save"])
    if fragment is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and result.stdout == ""


def test_one_variant_only_is_refused(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "ws")
    source = tmp_path / "one.csv"
    source.write_text(
        "event_time,event_type,user_id,session_id,price,quantity,ab_group\n"
        "2026-03-02T10:00:00Z,view,u1,s1,10,1,A\n"
        "2026-03-02T10:01:00Z,purchase,u1,s1,10,1,A\n"
        "2026-03-02T11:00:00Z,view,u2,s2,10,1,A\n"
    )
    ingest_files(ws, [source], IngestOptions(dimensions={"variant": "ab_group"}))
    result = runner.invoke(app, ["experiment", "analyze", "--dimension", "variant", "-w", str(ws.root)])
    assert result.exit_code == 2
    assert "one variant only ('A')" in result.stderr and len(result.stderr.strip().splitlines()) == 1
