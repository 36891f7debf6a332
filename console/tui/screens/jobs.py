"""Jobs: the daemon's schedule, each job's last run, the newest runs with status and duration; run one now."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from console.tui.format import age, duration, when
from console.tui.screens.base import ConsoleScreen
from console.tui.widgets.vim_table import VimTable
from engine.dashboard import ConsoleData


class JobsScreen(ConsoleScreen):
    MODE = "jobs"
    AUTO_FOCUS = "#job-table"
    BINDINGS = [Binding("r", "run_now", "Run now", id="job_run_now")]

    def compose_body(self) -> ComposeResult:
        yield Static("", id="daemon-state")
        yield VimTable("Job", "Schedule", "Next run", "Last run", "Status", "Took", id="job-table")
        yield VimTable("Started", "Job", "Trigger", "Status", "Took", "Error", id="run-table")

    def show_data(self, data: ConsoleData) -> None:
        jobs, now = data.jobs, data.dashboard.now
        daemon = jobs.daemon
        state = Text()
        if daemon.running:
            state.append("daemon RUNNING", style="bold")
            state.append(f" · since {when(daemon.started)} · heartbeat {age(daemon.heartbeat, now)}")
        else:
            state.append("daemon NOT RUNNING", style="bold reverse")
            state.append(" — jobs run only on demand; start it with `shopctl daemon start`")
        self.query_one("#daemon-state", Static).update(state)
        table = self.query_one("#job-table", VimTable)
        table.border_title = "Schedule · r run the selected job now"
        table.show_rows(
            (
                job.id,
                (
                    job.id,
                    job.trigger if job.enabled else f"{job.trigger} (disabled)",
                    f"{job.next_run:%H:%M} ({age(job.next_run, now)})" if job.next_run else "-",
                    age(job.last_started, now),
                    (job.last_status or "never").upper(),
                    duration(job.last_seconds),
                ),
            )
            for job in jobs.jobs
        )
        runs = self.query_one("#run-table", VimTable)
        failed = sum(run.status == "failed" for run in jobs.runs)
        runs.border_title = f"Last {len(jobs.runs)} runs · {failed} FAILED"
        runs.show_rows(
            (
                str(run.id),
                (
                    when(run.started),
                    run.job_id,
                    run.trigger,
                    run.status.upper(),
                    duration(run.seconds),
                    run.error,
                ),
            )
            for run in jobs.runs
        )

    def action_run_now(self) -> None:
        job_id = self.query_one("#job-table", VimTable).selected_key
        if job_id is None:
            self.notify("No job selected.", severity="warning")
            return
        self.console.run_job(job_id)
