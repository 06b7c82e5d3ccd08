"""Ingest layer wiring: the landing-batch asset, its expectations check and the landing sensor."""

import dagster as dg

from retouch_assets.defs.ingest.assets import ingest_landing_batches
from retouch_assets.defs.ingest.checks import generations_expectations
from retouch_assets.defs.ingest.sensors import landing_batches_sensor
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[ingest_landing_batches],
        asset_checks=[generations_expectations],
        sensors=[landing_batches_sensor],
    )
