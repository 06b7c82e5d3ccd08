"""Gates layer: decide each artifact (approve, heal, human review, reject), then publish."""

from collections import Counter

import dagster as dg

from retouch_assets import faults
from retouch_assets.defs.shared import (
    key_of,
    md,
    progress_logger,
    table_spec,
    week_of_context,
    weekly_multi_asset,
    weekly_table_asset,
)
from retouch_assets.delivery.manifest import attach_manifests, published_without_alt_text
from retouch_assets.delivery.queries import week_renditions
from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.faults import checkpoint
from retouch_assets.gates import queries
from retouch_assets.gates.locks import active_locks
from retouch_assets.gates.publish import PublicationPlan, publish_week, week_folder
from retouch_assets.gates.tables import (
    GATE_DECISIONS,
    GATE_RESULTS,
    GATED_OUTPUTS,
    REVIEW_QUEUE,
    TEMPLATE_LOCKS,
)
from retouch_assets.gates.week import (
    decision_rows,
    event_rows,
    final_pixels,
    gate_input,
    gate_rows,
    gate_week,
    review_rows,
    template_lock_rows,
)
from retouch_assets.ingest.queries import first_seen
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.ops.tables import EVENTS
from retouch_assets.partitions import week_window
from retouch_assets.quality.measures import hex_to_rgb
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.resources import (
    LandingResource,
    OutputsResource,
    ProvenanceResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.safe_paths import remove_stale
from retouch_assets.slo.governance import active_freezes
from retouch_assets.slo.tables import ERROR_BUDGET
from retouch_assets.vocabulary import GATE_STATUSES, DriftStatus, EventSource, Status
from retouch_assets.warehouse import insert, replace_partition

_MEASURED = [key_of(ARTIFACT_QUALITY), key_of(GENERATIONS)]


@weekly_multi_asset(
    "evaluate_gates",
    [
        table_spec(GATE_RESULTS, "gates", _MEASURED),
        table_spec(GATE_DECISIONS, "gates", _MEASURED),
        table_spec(REVIEW_QUEUE, "gates", _MEASURED),
        table_spec(TEMPLATE_LOCKS, "gates", _MEASURED),
        table_spec(EVENTS, "gates", _MEASURED),
    ],
)
def evaluate_gates(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
):
    """Apply the colour, accessibility, prompt-drift and delivery gates, healing colour
    failures and locking templates whose prompts drifted."""
    week = week_of_context(context)
    with warehouse.connect() as con:
        items = [gate_input(row, landing.file) for row in queries.week_to_gate(con, week)]
    decisions = gate_week(items, retouch_config.load(), on_done=progress_logger(context, "gated"))
    tables = {
        GATE_RESULTS: gate_rows(week, items, decisions),
        GATE_DECISIONS: decision_rows(week, items, decisions),
        REVIEW_QUEUE: review_rows(week, items, decisions),
        EVENTS: event_rows(week, items, decisions),
    }
    locks = template_lock_rows(week, items, decisions)
    with warehouse.connect() as con:
        # Locks are appended, never replaced: a re-run that no longer judges drift (no model,
        # another threshold) must not lift a lock only a sign-off may end.
        insert(con, TEMPLATE_LOCKS, locks, skip_existing=("cause_artifact_id", "cause_attempt"))
        replace_partition(con, tables, week=week, source=EventSource.GATES)

    statuses = Counter(d.status for d in decisions)
    context.log.info(f"week {week}: {dict(statuses)}")
    failed = Counter(g for d in decisions for g in d.failed_gates)
    events = Counter(e["event_type"] for e in tables[EVENTS])
    metadata = {
        GATE_RESULTS: {"failed_gates": md(("gate", "artifacts"), failed.most_common())},
        GATE_DECISIONS: {f"status/{s}": statuses.get(s, 0) for s in GATE_STATUSES},
        REVIEW_QUEUE: {},
        TEMPLATE_LOCKS: {
            "drifted_artifacts": len(locks),
            "templates_locked_this_week": sorted({r["template_id"] for r in locks}),
            "prompt_drift_not_judged": sum(
                1 for i in items if i.measurement.prompt_drift_status != DriftStatus.SCORED
            ),
        },
        EVENTS: {"event_types": md(("event", "count"), events.most_common())},
    }
    rows = {**tables, TEMPLATE_LOCKS: locks}
    for table, extra in metadata.items():
        yield dg.MaterializeResult(
            asset_key=key_of(table), metadata={"dagster/row_count": len(rows[table]), **extra}
        )


@weekly_table_asset(
    GATED_OUTPUTS,
    "gates",
    deps=[
        key_of(GATE_DECISIONS),
        key_of(GATE_RESULTS),
        # Publication carries the renditions of what it publishes (its delivery manifests).
        key_of(RENDITIONS),
        # Freezes in force for a week are those of the previous week's budget evaluation.
        dg.AssetDep(
            key_of(ERROR_BUDGET),
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
        ),
    ],
)
def gated_outputs(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    outputs: OutputsResource,
    retouch_config: RetouchConfigResource,
    provenance: ProvenanceResource,
) -> dg.MaterializeResult:
    """Publish approved and healed images not held by an SLO freeze (a prompt version, or a
    template/retouch version, first seen after the freeze began) or a template lock, each
    with a signed C2PA manifest, atomically; files of the previous publication go only once
    the new rows are committed."""
    week = week_of_context(context)
    config = retouch_config.load()
    # Before anything is written: without a working signing identity nothing is published.
    signer = provenance.signer(config, retouch_config.path)
    background = hex_to_rgb(config.quality.alpha_background)
    week_start, _ = week_window(week)
    with warehouse.connect() as con:
        previous = queries.previous_publication(con, week)
        plan = PublicationPlan(
            freezes=active_freezes(con, week_start),
            first_seen=first_seen(con),
            gates_of=queries.final_gates_by_artifact(con, week),
            pixels=lambda row: final_pixels(landing.file(row, "image"), row, background),
            source=lambda row: landing.file(row, "image"),
            locks=active_locks(con),
            signer=signer,
            master=lambda row: landing.file(row, "master"),
            previous=previous,
        )
        new_work = queries.new_work_freezes(con, week_start)
        rows = queries.week_to_publish(con, week)
        renditions_of = week_renditions(con, week)
    folder = week_folder(outputs.root, week)
    records = publish_week(rows, plan, outputs.root, week)
    records = attach_manifests(
        records, rows, renditions_of, config.channels, config.renditions.base_url, folder, week
    )
    checkpoint(faults.PUBLICATION_FILES_WRITTEN)
    with warehouse.connect() as con:
        replace_partition(con, {GATED_OUTPUTS: records}, week=week)
    checkpoint(faults.PUBLICATION_COMMITTED)
    removed = remove_stale(folder, keep=[p for r in records for p in _paths(r)])
    published = sum(1 for r in records if r.get("output_path"))
    kept = sum(1 for r in records if r.get("output_path") and _unchanged(r, previous))
    context.log.info(f"week {week}: published {published} of {len(rows)} to {folder}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(records),
            "published": published,
            "held_by_freeze": sum(1 for r in records if r["status"] == Status.HELD_BY_FREEZE),
            "held_by_template_lock": sum(
                1 for r in records if r["status"] == Status.HELD_BY_TEMPLATE_LOCK
            ),
            "template_locks_in_force": sorted({lock.template_id for lock in plan.locks}),
            "stale_files_removed": len(removed),
            "c2pa_signed_now": published - kept,
            "c2pa_kept_unchanged": kept,
            "c2pa_signer": signer.identity.describe(),
            "delivery_manifests": sum(1 for r in records if r.get("delivery_manifest_path")),
            "published_without_alt_text": published_without_alt_text(records, rows),
            "slo_freezes_in_force": [f.key for f in plan.freezes],
            "freeze_new_work_scopes": new_work,
            "outputs_folder": dg.MetadataValue.path(str(folder)),
        }
    )


def _paths(record: dict) -> list[str]:
    kinds = ("output_path", "sidecar_path", "delivery_manifest_path")
    return [record[k] for k in kinds if record.get(k)]


def _unchanged(record: dict, previous: dict[tuple, dict]) -> bool:
    """Whether the record's signed file is the previous publication's (not signed again)."""
    before = previous.get((record["artifact_id"], record["attempt"]))
    return before is not None and before["output_sha256"] == record["output_sha256"]
