"""The one partitioning of the project: Monday weeks in UTC, keyed by the week's Monday."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from retouch_assets.ingest.landing import WeekBounds, week_of

FIRST_WEEK = date(2025, 1, 6)  # a Monday; generations before it are quarantined

# day_offset=1: Monday weeks (Dagster's default is Sunday), matching DuckDB date_trunc('week').
# end_offset=1: the current, still open week is a partition too, so today's batches ingest now.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=FIRST_WEEK.isoformat(), day_offset=1, end_offset=1, timezone="UTC"
)

# The monthly executive report's months (UTC), the current month included like the weeks.
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_WEEK.replace(day=1).isoformat(), end_offset=1, timezone="UTC"
)


def month_key(month: date) -> str:
    return month.replace(day=1).isoformat()


def add_months(month: date, n: int) -> date:
    """The first day of the month `n` months after `month`'s (before it when n < 0)."""
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def weeks_of_month(month: date) -> list[date]:
    """The Monday weeks of a month: those whose Monday falls in it (as the executive report
    and `retouch run` count a week in a month)."""
    first = month + timedelta(days=(7 - month.weekday()) % 7)
    following = add_months(month, 1)
    return [first + timedelta(weeks=i) for i in range(6) if first + timedelta(weeks=i) < following]


def week_bounds(now: datetime | None = None) -> WeekBounds:
    """The weeks that exist as partitions at `now`."""
    return WeekBounds(first=FIRST_WEEK, last=week_of(now or datetime.now(UTC)))


def partition_key(week: date) -> str:
    return week.isoformat()


def week_from_key(key: str) -> date:
    return date.fromisoformat(key)


def week_window(week: date) -> tuple[datetime, datetime]:
    """[Monday 00:00 UTC, next Monday 00:00 UTC) of a week's date."""
    start = datetime.combine(week, datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=7)
