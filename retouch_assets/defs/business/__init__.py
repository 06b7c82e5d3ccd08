"""Business layer wiring: the business inputs, the overlay of outcomes on quality drift, LCP by
template, the drift-to-outcome correlations and the reprocess-cost meter."""

import dagster as dg

from retouch_assets.defs.business.assets import (
    business_inputs_present,
    business_overlay,
    business_rows_accepted,
    drift_outcomes,
    lcp_weekly,
    read_business_inputs_step,
    reprocess_cost_meter,
)
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            read_business_inputs_step,
            business_overlay,
            lcp_weekly,
            drift_outcomes,
            reprocess_cost_meter,
        ],
        asset_checks=[business_inputs_present, business_rows_accepted],
    )
