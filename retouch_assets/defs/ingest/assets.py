"""Ingest layer: landing batches become one week of `retouch.generations` and
`retouch.quarantine`."""

from collections import Counter

import dagster as dg

from retouch_assets.defs.shared import (
    GENERATIONS,
    QUARANTINE,
    WAREHOUSE_POOL,
    layer_spec,
    markdown_table,
)
from retouch_assets.ingest.landing import triage_landing
from retouch_assets.ingest.rows import generations_table, quarantine_table
from retouch_assets.partitions import week_bounds, week_from_key, weekly_partitions
from retouch_assets.resources import LandingResource, WarehouseResource
from retouch_assets.warehouse import replace_weeks


@dg.multi_asset(
    name="ingest_landing_batches",
    specs=[
        layer_spec(
            GENERATIONS,
            "ingest",
            "Accepted generations of the week: every contract field plus batch_id, "
            "line_no and week.",
        ),
        layer_spec(
            QUARANTINE,
            "ingest",
            "Manifest lines that broke the input contract, with the reason and the original line.",
        ),
    ],
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
)
def ingest_landing_batches(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource
):
    """Validate every manifest line of the week and write accepted and quarantined rows."""
    week = week_from_key(context.partition_key)
    triage = triage_landing(landing.root, week_bounds(), weeks={week})
    generations = generations_table(triage.accepted)
    quarantine = quarantine_table(triage.quarantined)
    with warehouse.connect() as con:
        replace_weeks(
            con, week, {"retouch.generations": generations, "retouch.quarantine": quarantine}
        )
    context.log.info(
        f"week {week}: {generations.num_rows} accepted, {quarantine.num_rows} quarantined "
        f"from {landing.root}"
    )

    batches = Counter(a.batch_id for a in triage.accepted)
    reasons = Counter(q.rejection.code for q in triage.quarantined)
    yield dg.MaterializeResult(
        asset_key=GENERATIONS,
        metadata={
            "dagster/row_count": generations.num_rows,
            "batches": dg.MetadataValue.md(
                markdown_table(("batch", "accepted"), sorted(batches.items()))
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": quarantine.num_rows,
            "reasons": dg.MetadataValue.md(
                markdown_table(("reason", "lines"), reasons.most_common())
            ),
        },
    )
