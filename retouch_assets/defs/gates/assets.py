"""Gates layer: decide each artifact (approve, heal, human review, reject), then publish."""

import json
import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from retouch_assets.defs.shared import (
    ARTIFACT_QUALITY,
    ERROR_BUDGET,
    EVENTS,
    GATE_DECISIONS,
    GATE_RESULTS,
    GATED_OUTPUTS,
    GENERATIONS,
    REVIEW_QUEUE,
    WAREHOUSE_POOL,
    fetch_dicts,
    layer_spec,
    markdown_table,
    progress_logger,
    week_window,
    weekly_asset,
)
from retouch_assets.gates.decide import HELD_BY_FREEZE, PUBLISHABLE
from retouch_assets.gates.heal import Correction, apply_correction
from retouch_assets.gates.publish import TRAINED_ALGORITHMIC_MEDIA, publish_image
from retouch_assets.gates.week import (
    GateInput,
    decision_rows,
    event_rows,
    gate_rows,
    gate_week,
    measurement_from_row,
    review_rows,
)
from retouch_assets.partitions import week_from_key, weekly_partitions
from retouch_assets.quality.decode import DecodeError, decode_srgb8
from retouch_assets.quality.measures import hex_to_rgb
from retouch_assets.resources import (
    LandingResource,
    OutputsResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.slo.governance import FIRST_SEEN_SQL, active_freezes, held_reason
from retouch_assets.warehouse import arrow_rows, replace_weeks

_WEEK_TO_GATE = """
SELECT g.campaign_id, g.template_id, g.channel, g.prompt_version, g.model_version,
       g.batch_id, g.image, g.master, g.text_layers, q.*
FROM retouch.artifact_quality q
JOIN retouch.generations g USING (artifact_id, attempt)
WHERE q.week = $week
ORDER BY q.artifact_id, q.attempt
"""

_WEEK_TO_PUBLISH = """
SELECT d.artifact_id, d.attempt, d.status, d.failed_gates, d.heal_actions,
       d.final_delta_e_mean, d.final_hist_delta, g.*
       EXCLUDE (artifact_id, attempt, text_layers, review_labels, reviewer, review_seconds)
FROM retouch.gate_decisions d
JOIN retouch.generations g USING (artifact_id, attempt)
WHERE d.week = $week
ORDER BY d.artifact_id, d.attempt
"""


@dg.multi_asset(
    name="evaluate_gates",
    specs=[
        layer_spec(
            GATE_RESULTS,
            "gates",
            "Every gate measurement per artifact: gate, metric, phase (measured "
            "or the healing preset), value, threshold, passed, and whether it was final.",
            [ARTIFACT_QUALITY, GENERATIONS],
        ),
        layer_spec(
            GATE_DECISIONS,
            "gates",
            "Per artifact attempt: status (approved, healed, "
            "needs_human_review, rejected), failed and unresolved gates, heal actions.",
            [ARTIFACT_QUALITY, GENERATIONS],
        ),
        layer_spec(
            REVIEW_QUEUE,
            "gates",
            "Artifacts waiting for a person, with reasons and the proposed "
            "accessible text colours.",
            [ARTIFACT_QUALITY, GENERATIONS],
        ),
        layer_spec(
            EVENTS,
            "gates",
            "Gate events: retouch_success, gate_failed, healed, needs_human_review, "
            "rejected, queue_reprioritisation.",
            [ARTIFACT_QUALITY, GENERATIONS],
        ),
    ],
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
)
def evaluate_gates(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
):
    """Apply the colour, accessibility and delivery gates, healing colour failures."""
    week = week_from_key(context.partition_key)
    config = retouch_config.load()
    with warehouse.connect() as con:
        rows = fetch_dicts(con, _WEEK_TO_GATE, {"week": week})
    items = [
        GateInput(
            artifact_id=r["artifact_id"],
            attempt=r["attempt"],
            campaign_id=r["campaign_id"],
            template_id=r["template_id"],
            channel=r["channel"],
            prompt_version=r["prompt_version"],
            model_version=r["model_version"],
            generated_at=r["generated_at"],
            image_path=landing.file(r, "image"),
            master_path=landing.file(r, "master"),
            text_layers=r["text_layers"] or [],
            measurement=measurement_from_row(r),
        )
        for r in rows
    ]
    decisions = gate_week(items, config, on_done=progress_logger(context, "gated"))
    tables = {
        "retouch.gate_results": gate_rows(week, items, decisions),
        "retouch.gate_decisions": decision_rows(week, items, decisions),
        "retouch.review_queue": review_rows(week, items, decisions),
        "ops.events": event_rows(week, items, decisions),
    }
    with warehouse.connect() as con:
        replace_weeks(
            con,
            week,
            {name: arrow_rows(name, rows) for name, rows in tables.items()},
            events_source="gates",
        )

    statuses = Counter(d.status for d in decisions)
    failed = Counter(g for d in decisions for g in d.failed_gates)
    context.log.info(f"week {week}: {dict(statuses)}")
    yield dg.MaterializeResult(
        asset_key=GATE_RESULTS,
        metadata={
            "dagster/row_count": len(tables["retouch.gate_results"]),
            "failed_gates": dg.MetadataValue.md(
                markdown_table(("gate", "artifacts"), failed.most_common())
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=GATE_DECISIONS,
        metadata={
            "dagster/row_count": len(decisions),
            **{
                f"status/{s}": statuses.get(s, 0)
                for s in ("approved", "healed", "needs_human_review", "rejected")
            },
        },
    )
    yield dg.MaterializeResult(
        asset_key=REVIEW_QUEUE, metadata={"dagster/row_count": len(tables["retouch.review_queue"])}
    )
    yield dg.MaterializeResult(
        asset_key=EVENTS,
        metadata={
            "dagster/row_count": len(tables["ops.events"]),
            "event_types": dg.MetadataValue.md(
                markdown_table(
                    ("event", "count"),
                    Counter(e["event_type"] for e in tables["ops.events"]).most_common(),
                )
            ),
        },
    )


def _provenance(row: dict, gates: list[dict]) -> dict:
    generation = {
        k: row[k]
        for k in (
            "model_version",
            "retouch_version",
            "prompt",
            "prompt_version",
            "prompt_hash",
            "negative_prompt",
            "sampler",
            "seed",
            "steps",
            "cfg_scale",
        )
    }
    return {
        "artifact_id": row["artifact_id"],
        "attempt": row["attempt"],
        "status": row["status"],
        "campaign_id": row["campaign_id"],
        "template_id": row["template_id"],
        "channel": row["channel"],
        "generated_at": row["generated_at"].isoformat(),
        "digital_source_type": TRAINED_ALGORITHMIC_MEDIA,
        **generation,
        "final_delta_e_mean": row["final_delta_e_mean"],
        "final_hist_delta_pct": row["final_hist_delta"],
        "heal_actions": json.loads(row["heal_actions"]),
        "gates": gates,
    }


@dg.asset(
    key=GATED_OUTPUTS,
    deps=[
        GATE_DECISIONS,
        GATE_RESULTS,
        # Freezes in force for a week are those of the previous week's budget evaluation.
        dg.AssetDep(
            ERROR_BUDGET,
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
        ),
    ],
    **weekly_asset("gates"),
)
def gated_outputs(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    outputs: OutputsResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Publish approved and healed images (sRGB PNG + XMP provenance + JSON sidecar) under
    the outputs folder and record every artifact's outcome and output path. While an SLO
    freeze is in force for a scope, its artifacts with a prompt version or a template/retouch
    version first seen after the freeze began are held (`held_by_freeze`), not published."""
    week = week_from_key(context.partition_key)
    background = hex_to_rgb(retouch_config.load().quality.alpha_background)
    week_start, _ = week_window(week)
    with warehouse.connect() as con:
        freezes = active_freezes(con, week_start)
        first_seen = {(k, v): t for k, v, t in con.execute(FIRST_SEEN_SQL).fetchall()}
        new_work_freezes = [
            f"{slo}/{scope}"
            for slo, scope in con.execute(
                "SELECT slo, scope FROM slo.error_budget WHERE window_end = $at "
                "AND policy_state = 'freeze_new_work' ORDER BY 1, 2",
                {"at": week_start},
            ).fetchall()
        ]
        rows = fetch_dicts(con, _WEEK_TO_PUBLISH, {"week": week})
        gates = fetch_dicts(
            con,
            "SELECT artifact_id, attempt, gate, metric, phase, value, threshold, passed "
            "FROM retouch.gate_results WHERE week = $week AND final",
            {"week": week},
        )
    gates_of: dict[tuple, list[dict]] = {}
    for g in gates:
        key = (g.pop("artifact_id"), g.pop("attempt"))
        gates_of.setdefault(key, []).append(g)

    # The week's folder belongs to this asset: rebuilt from scratch, so re-runs are exact.
    week_dir = outputs.root / week.isoformat()
    shutil.rmtree(week_dir, ignore_errors=True)

    def publish(row: dict) -> dict:
        record = {
            k: row[k] for k in ("artifact_id", "attempt", "status", "failed_gates", "heal_actions")
        }
        record |= {
            "final_delta_e_mean": row["final_delta_e_mean"],
            "week": week,
            "output_path": None,
            "sidecar_path": None,
            "hold_reason": None,
        }
        if row["status"] not in PUBLISHABLE:
            return record
        hold = held_reason(row, freezes, first_seen)
        if hold:
            return record | {"status": HELD_BY_FREEZE, "hold_reason": hold}
        try:
            pixels = decode_srgb8(landing.file(row, "image"), background).pixels
        except DecodeError as exc:
            context.log.warning(f"{row['artifact_id']}: not published, image changed: {exc}")
            return record
        kept = [a for a in json.loads(row["heal_actions"]) if a.get("passed")]
        if kept:
            pixels = apply_correction(pixels, Correction(kept[0]["preset"], kept[0]["matrix"]))
        key = (row["artifact_id"], row["attempt"])
        image_path, sidecar = publish_image(
            pixels, week_dir / f"{key[0]}_a{key[1]}.png", _provenance(row, gates_of.get(key, []))
        )
        return record | {"output_path": str(image_path), "sidecar_path": str(sidecar)}

    # PNG encoding (zlib) and decoding release the GIL: one thread per core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        records = list(pool.map(publish, rows))
    published = sum(1 for r in records if r["output_path"])
    with warehouse.connect() as con:
        replace_weeks(
            con, week, {"retouch.gated_outputs": arrow_rows("retouch.gated_outputs", records)}
        )
    context.log.info(f"week {week}: published {published} of {len(rows)} to {week_dir}")
    held = sum(1 for r in records if r["status"] == HELD_BY_FREEZE)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(records),
            "published": published,
            "held_by_freeze": held,
            "slo_freezes_in_force": [f.key for f in freezes],
            "freeze_new_work_scopes": new_work_freezes,
            "outputs_folder": dg.MetadataValue.path(str(week_dir)),
        }
    )
