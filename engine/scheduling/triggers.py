"""APScheduler triggers built from `[schedule.jobs.<id>]`, and the fire times a stopped daemon missed.

Interval triggers are anchored to a start time kept in the store, so a restart keeps the same phase
(a 15-minute job that ran at :00, :15 still runs at :30 after a restart at :20). Cron triggers are UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from engine.config import JobConfig
from engine.errors import ConfigError
from engine.store.jobs import utc_now

UTC_ZONE = "UTC"
MAX_MISSED_COUNTED = 10_000


def interval_seconds(job_id: str, config: JobConfig) -> float:
    """Total seconds of an interval job (seconds + minutes + hours), checked to be positive."""
    total = (config.seconds or 0) + (config.minutes or 0) * 60 + (config.hours or 0) * 3600
    if total <= 0:
        raise ConfigError(
            f"config.toml: key 'schedule.jobs.{job_id}': an interval job needs seconds, minutes or hours > 0"
        )
    return float(total)


def describe_trigger(job_id: str, config: JobConfig) -> str:
    """A short, stable description of a job's trigger, e.g. 'interval 900s' or 'cron 0 3 * * 1'."""
    if config.trigger == "cron":
        return f"cron {' '.join(config.cron.split())}"
    seconds = interval_seconds(job_id, config)
    return f"interval {seconds:g}s"


def build_trigger(job_id: str, config: JobConfig, anchor: datetime | None = None) -> BaseTrigger:
    """The APScheduler trigger of a job; interval triggers count from anchor (default: now)."""
    if config.trigger == "cron":
        if not config.cron.strip():
            raise ConfigError(
                f"config.toml: key 'schedule.jobs.{job_id}.cron': a cron job needs cron = 'm h dom mon dow'"
            )
        try:
            return CronTrigger.from_crontab(config.cron, timezone=UTC_ZONE)
        except ValueError as error:
            raise ConfigError(
                f"config.toml: key 'schedule.jobs.{job_id}.cron': {config.cron!r} is not a cron expression "
                f"({error}); use five fields 'minute hour day month weekday', e.g. '0 3 * * 1'"
            ) from None
    seconds = interval_seconds(job_id, config)
    return IntervalTrigger(seconds=seconds, start_date=anchor or utc_now(), timezone=UTC_ZONE)


def missed_fire_times(trigger: BaseTrigger, after: datetime, before: datetime) -> tuple[list[datetime], int]:
    """Fire times strictly between after and before (at most MAX_MISSED_COUNTED) and how many there were."""
    fire_times: list[datetime] = []
    count = 0
    previous = after
    while count < MAX_MISSED_COUNTED:
        fire_time = trigger.get_next_fire_time(previous, previous)
        if fire_time is None or fire_time >= before:
            break
        if fire_time <= previous:  # a trigger that does not advance would loop forever
            previous = previous + timedelta(microseconds=1)
            continue
        count += 1
        fire_times.append(fire_time)
        previous = fire_time
    return fire_times, count
