"""Gates layer wiring: gate decisions, publication and the blocking publication checks."""

import dagster as dg

from retouch_assets.defs.gates.assets import evaluate_gates, gated_outputs
from retouch_assets.defs.gates.checks import (
    batch_not_systemically_broken,
    published_images_carry_valid_c2pa,
    published_outputs_pass_gates,
    slo_freeze_respected,
    template_locks_respected,
)
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[evaluate_gates, gated_outputs],
        asset_checks=[
            batch_not_systemically_broken,
            published_outputs_pass_gates,
            published_images_carry_valid_c2pa,
            slo_freeze_respected,
            template_locks_respected,
        ],
    )
