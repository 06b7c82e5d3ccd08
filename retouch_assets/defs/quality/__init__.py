"""Quality layer wiring: CLIP scores, the per-artifact measurement asset, and the warning
check that says when prompt drift cannot be judged."""

import dagster as dg

from retouch_assets.defs.quality.assets import artifact_quality, clip_model_configured, clip_scores
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[clip_scores, artifact_quality], asset_checks=[clip_model_configured]
    )
