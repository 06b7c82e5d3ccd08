"""Delivery layer wiring: channel renditions of every approved or healed image."""

import dagster as dg

from retouch_assets.defs.delivery.assets import renditions
from retouch_assets.defs.delivery.checks import renditions_carry_valid_c2pa
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=[renditions], asset_checks=[renditions_carry_valid_c2pa])
