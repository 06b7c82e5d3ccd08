"""SLO layer wiring: the daily SLI facts and the weekly budget and burn-alert evaluation."""

import dagster as dg

from retouch_assets.defs.slo.assets import evaluate_slos, sli_facts
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=[sli_facts, evaluate_slos])
