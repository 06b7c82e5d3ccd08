"""Ops layer wiring: the outbox, incident and report assets, the weekly, monthly and delivery
jobs, and the schedules (daily pipeline, weekly reliability sync, monthly executive report,
alert delivery)."""

from pathlib import Path

import dagster as dg

from retouch_assets.config import Review, load_config
from retouch_assets.defs.jobs import monthly_job, weekly_job
from retouch_assets.defs.ops.assets import alert_outbox, deliver_alerts_job, track_incidents
from retouch_assets.defs.ops.reports import executive_report, reliability_report
from retouch_assets.defs.ops.schedules import (
    alert_delivery,
    daily_pipeline,
    monthly_report_schedule,
    weekly_sync_schedule,
)
from retouch_assets.settings import Settings


def _review(settings: Settings) -> Review:
    """The sync schedule's day, time and zone: the one config section read at load time (a
    small YAML file; an invalid one fails the load with its field and fix)."""
    if not Path(settings.slo_config).is_file():
        return Review()
    return load_config(settings.slo_config).review


def build_defs(settings: Settings) -> dg.Definitions:
    review = _review(settings)
    return dg.Definitions(
        assets=[alert_outbox, track_incidents, reliability_report, executive_report],
        jobs=[weekly_job, monthly_job, deliver_alerts_job],
        schedules=[
            daily_pipeline,
            weekly_sync_schedule(review),
            monthly_report_schedule(review),
            alert_delivery,
        ],
    )
