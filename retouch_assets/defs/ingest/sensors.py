"""Landing sensor: a new batch folder requests a run for every week its lines touch."""

import hashlib
import json

import dagster as dg

from retouch_assets.defs.jobs import weekly_job
from retouch_assets.ingest.landing import list_batches, weeks_of_batches
from retouch_assets.partitions import partition_key, week_bounds
from retouch_assets.resources import LandingResource


def _decode_cursor(cursor: str | None) -> set[str]:
    return set(json.loads(cursor)) if cursor else set()


@dg.sensor(
    name="landing_batches_sensor",
    job=weekly_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def landing_batches_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    """Request the weekly pipeline for each week that a newly landed batch touches.

    The cursor is the set of batch ids already seen; a folder counts as landed once its
    manifest exists. Reads manifests only: the warehouse is never opened from a sensor."""
    seen = _decode_cursor(context.cursor)
    new = [batch for batch in list_batches(landing.root) if batch.batch_id not in seen]
    if not new:
        return dg.SkipReason(f"no new batches in {landing.root}")
    new_ids = sorted(batch.batch_id for batch in new)
    digest = hashlib.sha256("\n".join(new_ids).encode()).hexdigest()[:12]
    requests = [
        dg.RunRequest(
            run_key=f"{partition_key(week)}:{digest}",
            partition_key=partition_key(week),
            tags={"retouch/batches": ",".join(new_ids)[:200]},
        )
        for week in weeks_of_batches(new, week_bounds())
    ]
    context.update_cursor(json.dumps(sorted(seen | set(new_ids))))
    context.log.info(f"{len(new_ids)} new batches -> {len(requests)} weekly runs")
    return requests
