"""Baselines layer wiring: weekly baselines, the version guardrail and its warning check."""

import dagster as dg

from retouch_assets.defs.baselines.assets import (
    no_version_regression,
    version_guardrail,
    weekly_baselines,
)
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[weekly_baselines, version_guardrail], asset_checks=[no_version_regression]
    )
