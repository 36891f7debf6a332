"""An APScheduler 3 executor that passes each run the fire time it is for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor


class _FireTime:
    """A view of an APScheduler job whose function also receives the fire time it runs for."""

    def __init__(self, job: Any, run_time: datetime) -> None:
        self.id = job.id
        self.func = job.func
        self.args = job.args
        self.kwargs = {**job.kwargs, "scheduled_for": run_time}
        self.misfire_grace_time = job.misfire_grace_time
        self._text = str(job)

    def __str__(self) -> str:
        return self._text


class FireTimeExecutor(ThreadPoolExecutor):
    """A thread pool executor that tells each run which fire time it is for (recorded as scheduled_for).

    APScheduler 3 does not pass the scheduled time to the job; this overrides the pool submission
    (a private hook, stable across 3.x, pinned <4) and keeps APScheduler's own misfire check and events.
    """

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def run_each() -> list[Any]:
            events: list[Any] = []
            for run_time in run_times:
                events.extend(
                    run_job(_FireTime(job, run_time), job._jobstore_alias, [run_time], self._logger.name)
                )
            return events

        def callback(future: Any) -> None:
            error = future.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(run_each)
        future.add_done_callback(callback)
