"""Quality layer wiring: the per-artifact measurement asset."""

import dagster as dg

from retouch_assets.defs.quality.assets import artifact_quality
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=[artifact_quality])
