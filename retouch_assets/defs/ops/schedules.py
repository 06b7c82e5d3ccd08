"""Automation: the daily pipeline, the weekly reliability sync (Monday 09:00 in the configured
timezone, for the last complete week), the monthly executive report and the alert delivery."""

from datetime import UTC, timedelta

import dagster as dg

from retouch_assets.config import Review
from retouch_assets.defs.jobs import monthly_job, weekly_job
from retouch_assets.defs.ops.assets import deliver_alerts_job
from retouch_assets.ingest.landing import week_of
from retouch_assets.partitions import month_key, partition_key

_WEEKDAYS = {"monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5}


@dg.schedule(
    name="daily_pipeline",
    job=weekly_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def daily_pipeline(context: dg.ScheduleEvaluationContext):
    """Every morning, bring the week of yesterday's generations up to date."""
    yesterday = context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)
    key = partition_key(week_of(yesterday))
    return dg.RunRequest(run_key=f"daily:{yesterday:%Y-%m-%d}", partition_key=key)


def _hour_minute(review: Review) -> tuple[int, int]:
    """The review time ("HH:MM", validated by the config) as cron fields."""
    hour, minute = (int(part) for part in review.time.split(":"))
    return hour, minute


def weekly_sync_schedule(review: Review) -> dg.ScheduleDefinition:
    """The reliability sync for the last complete week, at the configured time and zone."""
    hour, minute = _hour_minute(review)

    @dg.schedule(
        name="weekly_reliability_sync",
        job=weekly_job,
        cron_schedule=f"{minute} {hour} * * {_WEEKDAYS[review.weekday]}",
        execution_timezone=review.timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Materialize the last complete week (all layers, then the report).",
    )
    def weekly_reliability_sync(context: dg.ScheduleEvaluationContext):
        at = context.scheduled_execution_time.astimezone(UTC)
        last_complete = week_of(at) - timedelta(weeks=1)
        key = partition_key(last_complete)
        return dg.RunRequest(run_key=f"sync:{key}", partition_key=key, tags={"retouch/sync": key})

    return weekly_reliability_sync


def monthly_report_day(weekday: str) -> int:
    """The day of the month the executive report runs: the day after the sync of the
    previous month's last week. A month's last week starts on its last Monday, at the latest
    on its last day, so it ends on the 7th (00:00 UTC) at the latest and is synced on the
    first review weekday from then: the 7th plus the review weekday's offset from Monday."""
    return 8 + _WEEKDAYS[weekday] - 1


def monthly_report_schedule(review: Review) -> dg.ScheduleDefinition:
    """The executive report of the last complete month at the sync's time, on the day after
    the sync of the month's last week (`monthly_report_day`)."""
    hour, minute = _hour_minute(review)
    day = monthly_report_day(review.weekday)

    @dg.schedule(
        name="monthly_executive_report",
        job=monthly_job,
        cron_schedule=f"{minute} {hour} {day} * *",
        execution_timezone=review.timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Write the last complete month's executive report (HTML and PDF).",
    )
    def monthly_executive_report(context: dg.ScheduleEvaluationContext):
        at = context.scheduled_execution_time.astimezone(UTC)
        last_month = (at.date().replace(day=1) - timedelta(days=1)).replace(day=1)
        key = month_key(last_month)
        return dg.RunRequest(run_key=f"monthly:{key}", partition_key=key)

    return monthly_executive_report


alert_delivery = dg.ScheduleDefinition(
    name="alert_delivery",
    job=deliver_alerts_job,
    cron_schedule="*/10 * * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Deliver the alert outbox every 10 minutes.",
)
