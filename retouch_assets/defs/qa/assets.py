"""QA layer: every review slower than `review.slow_review_seconds` feeds the template
backlog (article §4.3), one week at a time."""

import dagster as dg

from retouch_assets.defs.shared import key_of, md, week_of_context, weekly_table_asset
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.qa import queries
from retouch_assets.qa.stats import backlog_rows, percentile
from retouch_assets.qa.tables import TEMPLATE_BACKLOG
from retouch_assets.resources import RetouchConfigResource, WarehouseResource
from retouch_assets.warehouse import replace_partition


@weekly_table_asset(TEMPLATE_BACKLOG, "qa", deps=[key_of(GENERATIONS)])
def template_backlog(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """The week's slow QA reviews, replaced as a whole (a re-run gives the same rows)."""
    week = week_of_context(context)
    slow = retouch_config.load().review.slow_review_seconds
    with warehouse.connect() as con:
        reviewed = queries.reviews(con, week, week)
        rows = backlog_rows(reviewed, slow)
        replace_partition(con, {TEMPLATE_BACKLOG: rows}, week=week)
    seconds = [float(r["review_seconds"]) for r in reviewed]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "reviews": len(reviewed),
            "review_p50_s": dg.MetadataValue.float(percentile(seconds, 50) or 0.0),
            "review_p95_s": dg.MetadataValue.float(percentile(seconds, 95) or 0.0),
            "slow_review_seconds": dg.MetadataValue.float(float(slow)),
            "backlog": md(
                ("template", "artifact", "reviewer", "seconds", "labels"),
                [
                    (
                        r["template_id"],
                        r["artifact_id"],
                        r["reviewer"],
                        f"{r['review_seconds']:.0f}",
                        ", ".join(r["review_labels"]),
                    )
                    for r in rows[:20]
                ],
            ),
        }
    )
