"""Ops layer wiring: the outbox, incident and report assets, the weekly and delivery jobs, and
the schedules (daily pipeline, weekly reliability sync, alert delivery)."""

from pathlib import Path

import dagster as dg

from retouch_assets.config import Review, load_config
from retouch_assets.defs.jobs import weekly_job
from retouch_assets.defs.ops.assets import (
    alert_outbox,
    deliver_alerts_job,
    reliability_report,
    track_incidents,
)
from retouch_assets.defs.ops.schedules import alert_delivery, daily_pipeline, weekly_sync_schedule
from retouch_assets.settings import Settings


def _review(settings: Settings) -> Review:
    """The sync schedule's day, time and zone: the one config section read at load time (a
    small YAML file; an invalid one fails the load with its field and fix)."""
    if not Path(settings.slo_config).is_file():
        return Review()
    return load_config(settings.slo_config).review


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[alert_outbox, track_incidents, reliability_report],
        jobs=[weekly_job, deliver_alerts_job],
        schedules=[daily_pipeline, weekly_sync_schedule(_review(settings)), alert_delivery],
    )
