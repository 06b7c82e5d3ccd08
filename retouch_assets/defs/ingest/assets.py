"""Ingest layer: landing batches become one week of `retouch.generations` and
`retouch.quarantine`."""

from collections import Counter

import dagster as dg

from retouch_assets import faults
from retouch_assets.defs.shared import (
    key_of,
    md,
    table_spec,
    week_of_context,
    weekly_multi_asset,
)
from retouch_assets.faults import checkpoint
from retouch_assets.ingest.landing import triage_landing
from retouch_assets.ingest.rows import generation_rows, quarantine_rows
from retouch_assets.ingest.tables import GENERATIONS, QUARANTINE
from retouch_assets.partitions import week_bounds
from retouch_assets.resources import LandingResource, WarehouseResource
from retouch_assets.warehouse import replace_partition


@weekly_multi_asset(
    "ingest_landing_batches",
    [table_spec(GENERATIONS, "ingest"), table_spec(QUARANTINE, "ingest")],
)
def ingest_landing_batches(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource
):
    """Validate every manifest line of the week and write accepted and quarantined rows."""
    week = week_of_context(context)
    triage = triage_landing(landing.root, week_bounds(), weeks={week})
    accepted, quarantined = generation_rows(triage.accepted), quarantine_rows(triage.quarantined)
    with warehouse.connect() as con:
        replace_partition(con, {GENERATIONS: accepted, QUARANTINE: quarantined}, week=week)
    checkpoint(faults.INGEST_WRITTEN)
    context.log.info(
        f"week {week}: {len(accepted)} accepted, {len(quarantined)} quarantined from {landing.root}"
    )
    batches = Counter(a.batch_id for a in triage.accepted)
    reasons = Counter(q.rejection.code for q in triage.quarantined)
    yield dg.MaterializeResult(
        asset_key=key_of(GENERATIONS),
        metadata={
            "dagster/row_count": len(accepted),
            "batches": md(("batch", "accepted"), sorted(batches.items())),
        },
    )
    yield dg.MaterializeResult(
        asset_key=key_of(QUARANTINE),
        metadata={
            "dagster/row_count": len(quarantined),
            "reasons": md(("reason", "lines"), reasons.most_common()),
        },
    )
