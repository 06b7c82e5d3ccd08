"""QA layer wiring: the weekly template-improvement backlog fed by slow reviews."""

import dagster as dg

from retouch_assets.defs.qa.assets import template_backlog
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=[template_backlog])
