"""The scheduler in this process: runs recorded, retries, misfire policy, restart, one instance at a time."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from test_daemon_support import daemon_thread, job_runs, make_workspace, wait_for

from engine.config import JobConfig
from engine.errors import ConfigError, NotFoundError
from engine.scheduling import (
    JobError,
    daemon_running,
    daemon_status,
    register_task,
    run_job_now,
    unregister_task,
)
from engine.scheduling.catchup import MISSED_REASON
from engine.scheduling.paths import pid_path, state_path
from engine.scheduling.runner import last_fire_key
from engine.scheduling.triggers import build_trigger, describe_trigger, missed_fire_times
from engine.store import open_store
from engine.store.jobs import iso, kv_get, kv_set, parse_iso, utc_now


@pytest.fixture
def tasks():
    """Register test tasks for one test and remove them afterwards."""
    names: list[str] = []

    def add(name, function):
        names.append(name)
        register_task(name, function)

    yield add
    for name in names:
        unregister_task(name)


def test_interval_job_runs_and_every_run_is_recorded(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {"for": iso(context.scheduled_for)})
    ws = make_workspace(tmp_path, "[schedule.jobs.tick]\ntrigger = 'interval'\nseconds = 1\n")
    with daemon_thread(ws):
        assert daemon_running(ws)
        assert state_path(ws).exists() and pid_path(ws).exists()
        wait_for(
            lambda: len([r for r in job_runs(ws, "tick") if r["status"] == "ok"]) >= 3, what="three runs"
        )
        status = daemon_status(ws)
        assert status["running"] and status["pid"] and status["started"]
        (job,) = status["jobs"]
        assert job["id"] == "tick" and job["trigger"] == "interval 1s" and job["next_run"]
        assert job["last_run"]["status"] in ("ok", "running")
    assert not daemon_running(ws)
    assert not state_path(ws).exists() and not pid_path(ws).exists()
    runs = [r for r in job_runs(ws, "tick") if r["status"] == "ok"]
    fire_times = [parse_iso(r["scheduled_for"]) for r in runs]
    # Each run is for its own fire time, on the one-second grid: nothing ran twice. (Under heavy load
    # APScheduler may coalesce two late fire times into one run, so gaps are whole seconds, not exactly one.)
    gaps = [(b - a).total_seconds() for a, b in zip(fire_times, fire_times[1:], strict=False)]
    assert gaps and all(gap >= 1 and gap == int(gap) for gap in gaps)
    assert all(r["trigger"] == "schedule" and r["finished"] and r["pid"] for r in runs)
    assert runs[0]["produced_json"] == f'{{"for": "{runs[0]["scheduled_for"]}"}}'
    assert daemon_status(ws)["running"] is False


def test_failing_job_is_retried_by_policy_and_daemon_survives(tmp_path: Path, tasks) -> None:
    def flaky(context):
        if context.attempt < 3:
            raise RuntimeError(f"attempt {context.attempt} broke")
        return {"attempt": context.attempt}

    def always_broken(context):
        raise JobError("the source is gone", {"partial": 1})

    tasks("flaky", flaky)
    tasks("broken", always_broken)
    tasks("tick", lambda context: {})
    ws = make_workspace(
        tmp_path,
        """
        [schedule]
        retry_attempts = 2
        retry_delay_seconds = 0.2
        [schedule.jobs.flaky]
        seconds = 3600
        [schedule.jobs.broken]
        seconds = 3600
        [schedule.jobs.tick]
        seconds = 1
        """,
    )
    with daemon_thread(ws):
        assert run_job_now(ws, "flaky", wait=True)["via"] == "daemon"
        run_job_now(ws, "broken", wait=True)
        wait_for(
            lambda: [r["status"] for r in job_runs(ws, "flaky")] == ["failed", "failed", "ok"],
            what="flaky retries",
        )
        wait_for(lambda: len(job_runs(ws, "broken")) == 3, what="broken retries")
        ticks_before = len(job_runs(ws, "tick"))
        wait_for(lambda: len(job_runs(ws, "tick")) > ticks_before, what="daemon still scheduling")
    flaky_runs = job_runs(ws, "flaky")
    assert [r["trigger"] for r in flaky_runs] == ["run-now", "retry", "retry"]
    assert flaky_runs[0]["error"] == "RuntimeError: attempt 1 broke"
    broken_runs = job_runs(ws, "broken")
    assert [r["status"] for r in broken_runs] == ["failed"] * 3  # 1 + retry_attempts, then it waits
    assert broken_runs[0]["error"] == "the source is gone"
    assert broken_runs[0]["produced_json"] == '{"partial": 1}'


def test_restart_keeps_the_interval_phase_and_runs_nothing_twice(tmp_path: Path, tasks) -> None:
    tasks("hourly", lambda context: {})
    ws = make_workspace(tmp_path, "[schedule.jobs.hourly]\nminutes = 60\n")
    with daemon_thread(ws):
        first = daemon_status(ws)["jobs"][0]["next_run"]
    with daemon_thread(ws):
        second = daemon_status(ws)["jobs"][0]["next_run"]
    assert first == second
    assert job_runs(ws, "hourly") == []


def test_runs_missed_while_down_follow_the_misfire_policy(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {"for": iso(context.scheduled_for)})
    ws = make_workspace(
        tmp_path,
        """
        [schedule]
        misfire_grace_seconds = 30
        [schedule.jobs.tick]
        minutes = 1
        """,
    )
    with daemon_thread(ws):
        pass
    store = open_store(ws)
    saved = kv_get(store, "schedule:tick:trigger")
    # Pretend the daemon went down 10 minutes ago, just after a run: ten fire times passed while down.
    anchor = utc_now() - timedelta(minutes=10, seconds=10)
    kv_set(store, "schedule:tick:trigger", {**saved, "anchor": iso(anchor)})
    kv_set(store, last_fire_key("tick"), iso(anchor))
    with daemon_thread(ws):
        wait_for(
            lambda: any(r["trigger"] == "misfire" and r["status"] == "ok" for r in job_runs(ws, "tick")),
            what="the coalesced missed run",
        )
    runs = job_runs(ws, "tick")
    skipped = [r for r in runs if r["status"] == "skipped"]
    ran = [r for r in runs if r["status"] == "ok"]
    assert len(skipped) == 1 and MISSED_REASON in skipped[0]["error"]
    assert '"missed": 9' in skipped[0]["produced_json"]  # the nine beyond the 30 s grace
    assert len(ran) == 1 and ran[0]["trigger"] == "misfire"
    assert parse_iso(ran[0]["scheduled_for"]) == anchor + timedelta(minutes=10)
    assert kv_get(store, last_fire_key("tick")) == ran[0]["scheduled_for"]


def test_missed_runs_all_beyond_grace_are_recorded_not_run(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {})
    ws = make_workspace(
        tmp_path, "[schedule]\nmisfire_grace_seconds = 1\n[schedule.jobs.tick]\nminutes = 1\n"
    )
    with daemon_thread(ws):
        pass
    store = open_store(ws)
    anchor = utc_now() - timedelta(minutes=3, seconds=30)
    kv_set(store, "schedule:tick:trigger", {**kv_get(store, "schedule:tick:trigger"), "anchor": iso(anchor)})
    kv_set(store, last_fire_key("tick"), iso(anchor))
    with daemon_thread(ws):
        wait_for(lambda: job_runs(ws, "tick"), what="the skipped record")
    (run,) = job_runs(ws, "tick")
    assert (
        run["status"] == "skipped" and run["trigger"] == "misfire" and '"missed": 3' in run["produced_json"]
    )


def test_one_instance_at_a_time(tmp_path: Path, tasks) -> None:
    release = threading.Event()
    tasks("slow", lambda context: {"released": release.wait(20)})
    ws = make_workspace(tmp_path, "[schedule.jobs.slow]\nseconds = 1\n")
    with daemon_thread(ws):
        wait_for(
            lambda: [r for r in job_runs(ws, "slow") if r["status"] == "skipped"], what="a skipped overlap"
        )
        # A run-now while the scheduled run holds the job is recorded as skipped too.
        assert run_job_now(ws, "slow")["status"] == "skipped"
        release.set()
        wait_for(lambda: [r for r in job_runs(ws, "slow") if r["status"] == "ok"], what="the slow run to end")
    runs = job_runs(ws, "slow")
    finished = sorted((r["started"], r["finished"]) for r in runs if r["status"] == "ok")
    assert all(end <= next_start for (_, end), (next_start, _) in zip(finished, finished[1:], strict=False))
    assert all("still running" in r["error"] for r in runs if r["status"] == "skipped")


def test_run_now_without_daemon_runs_in_process_and_records(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {"trigger": context.trigger})
    ws = make_workspace(tmp_path, "[schedule.jobs.tick]\nseconds = 5\n")
    run = run_job_now(ws, "tick")
    assert run["via"] == "in-process" and run["status"] == "ok" and run["produced"] == {"trigger": "run-now"}
    assert daemon_status(ws)["jobs"][0]["last_run"]["id"] == run["id"]
    with pytest.raises(NotFoundError, match="no job 'nope'"):
        run_job_now(ws, "nope")


def test_unknown_task_and_bad_trigger_are_config_errors(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, "[schedule.jobs.x]\ntask = 'no_such_task'\nseconds = 1\n")
    run = run_job_now(ws, "x")
    assert run["status"] == "failed" and "no task named 'no_such_task'" in run["error"]
    # The config model refuses them when the workspace is opened (issue 17 §10), before any daemon runs.
    with pytest.raises(ConfigError, match="schedule.jobs.x.cron"):
        make_workspace(tmp_path / "b", "[schedule.jobs.x]\ntrigger = 'cron'\ncron = 'every day'\n")
    with pytest.raises(ConfigError, match="schedule.jobs.x.cron.*higher than the maximum"):
        make_workspace(tmp_path / "b2", "[schedule.jobs.x]\ntrigger = 'cron'\ncron = '99 99 * * *'\n")
    with pytest.raises(ConfigError, match="seconds, minutes or hours"):
        make_workspace(tmp_path / "c", "[schedule.jobs.x]\ntrigger = 'interval'\n")
    # The trigger builder keeps its own checks for configs built in code.
    with pytest.raises(ConfigError, match="seconds, minutes or hours"):
        describe_trigger("x", JobConfig.model_construct(trigger="interval"))


def test_missed_fire_times_of_cron_and_interval(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, "[schedule.jobs.c]\ntrigger = 'cron'\ncron = '0 3 * * *'\n")
    start = parse_iso("2026-01-01T00:00:00+00:00")
    trigger = build_trigger("c", ws.settings.schedule.jobs["c"])
    times, count = missed_fire_times(trigger, start, start + timedelta(days=3))
    assert count == 3 and [t.isoformat() for t in times] == [
        "2026-01-01T03:00:00+00:00",
        "2026-01-02T03:00:00+00:00",
        "2026-01-03T03:00:00+00:00",
    ]
    ws = make_workspace(tmp_path / "i", "[schedule.jobs.i]\nminutes = 15\n")
    trigger = build_trigger("i", ws.settings.schedule.jobs["i"], anchor=start)
    _, count = missed_fire_times(trigger, start, start + timedelta(hours=1))
    assert count == 3  # 00:15, 00:30, 00:45 (01:00 is not before the end)


def test_config_change_reschedules_without_restart(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {})
    ws = make_workspace(tmp_path, "[schedule.jobs.tick]\nminutes = 60\n")
    with daemon_thread(ws):
        ws.config_path.write_text("[schedule.jobs.tick]\nseconds = 1\n")
        wait_for(lambda: [r for r in job_runs(ws, "tick") if r["status"] == "ok"], what="the rescheduled job")
        wait_for(lambda: daemon_status(ws)["jobs"][0]["trigger"] == "interval 1s", what="new trigger")


def test_cli_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from console.cli.main import app

    ws = make_workspace(tmp_path, "[schedule.jobs.tick]\nseconds = 5\n")
    runner = CliRunner()
    unknown = runner.invoke(app, ["daemon", "run-now", "nope", "-w", str(ws.root)])
    assert unknown.exit_code == 2 and "no job 'nope'" in unknown.stderr and "tick" in unknown.stderr
    status = runner.invoke(app, ["daemon", "status", "-w", str(ws.root), "--json"])
    assert status.exit_code == 0 and '"running": false' in status.stdout
    stop = runner.invoke(app, ["daemon", "stop", "-w", str(ws.root)])
    assert stop.exit_code == 0 and stop.stdout.strip() == "daemon not running"
    missing = runner.invoke(app, ["retrain", "nosuchmodel", "-w", str(ws.root)])
    assert missing.exit_code == 2 and "no model named 'nosuchmodel'" in missing.stderr


def test_without_coalesce_each_missed_run_within_grace_runs_in_turn(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {"for": iso(context.scheduled_for)})
    ws = make_workspace(tmp_path, "[schedule]\ncoalesce = false\n[schedule.jobs.tick]\nminutes = 1\n")
    with daemon_thread(ws):
        pass
    store = open_store(ws)
    anchor = utc_now() - timedelta(minutes=2, seconds=10)
    kv_set(store, "schedule:tick:trigger", {**kv_get(store, "schedule:tick:trigger"), "anchor": iso(anchor)})
    kv_set(store, last_fire_key("tick"), iso(anchor))
    with daemon_thread(ws):
        wait_for(
            lambda: len([r for r in job_runs(ws, "tick") if r["status"] == "ok"]) == 2,
            what="both missed runs",
        )
    runs = job_runs(ws, "tick")
    assert [(r["status"], r["trigger"]) for r in runs] == [("ok", "misfire"), ("ok", "misfire")]
    assert [parse_iso(r["scheduled_for"]) for r in runs] == [
        anchor + timedelta(minutes=1),
        anchor + timedelta(minutes=2),
    ]


def test_a_broken_config_edit_keeps_the_running_schedule(tmp_path: Path, tasks) -> None:
    tasks("tick", lambda context: {})
    ws = make_workspace(tmp_path, "[schedule.jobs.tick]\nseconds = 1\n")
    with daemon_thread(ws) as daemon:
        ws.config_path.write_text("[schedule.jobs.tick]\nseconds = 1\nsecnds = 2\n")
        wait_for(lambda: daemon._config_mtime == ws.config_path.stat().st_mtime, what="the edit to be seen")
        count = len(job_runs(ws, "tick"))
        wait_for(
            lambda: len([r for r in job_runs(ws, "tick")[count:] if r["status"] == "ok"]) >= 2,
            what="more runs",
        )
    assert all(r["status"] == "ok" for r in job_runs(ws, "tick"))
