"""Blocking gates on each week: stop publication when the batch is systemically broken, and
prove that nothing published violates a gate."""

from pathlib import Path

import dagster as dg

from retouch_assets.defs.shared import (
    GATE_DECISIONS,
    GATED_OUTPUTS,
    fetch_dicts,
    markdown_table,
    week_window,
    weekly_check,
)
from retouch_assets.gates.decide import NEEDS_HUMAN_REVIEW, PUBLISHABLE, REJECTED
from retouch_assets.partitions import week_from_key
from retouch_assets.quality.artifact import ArtifactInput, QualitySettings, measure_all
from retouch_assets.resources import LandingResource, RetouchConfigResource, WarehouseResource
from retouch_assets.slo.governance import FIRST_SEEN_SQL, active_freezes, held_reason

_STATUS_COUNTS = (
    "SELECT status, count(*) AS n FROM retouch.gate_decisions WHERE week = $week GROUP BY 1"
)
_WORST_FAILURES = """
SELECT artifact_id, attempt, template_id, status, round(delta_e_mean, 2) AS delta_e_mean,
       array_to_string(review_reasons, ' | ') AS reasons
FROM retouch.gate_decisions
WHERE week = $week AND status IN ('needs_human_review', 'rejected')
ORDER BY delta_e_mean DESC NULLS FIRST, artifact_id LIMIT 5
"""
_PUBLISHED = """
SELECT o.artifact_id, o.attempt, o.status, o.output_path, o.sidecar_path, g.campaign_id,
       g.generated_at, g.batch_id, g.master, g.text_layers, g.processing_ms,
       (SELECT count(*) FROM retouch.gate_results r
         WHERE r.artifact_id = o.artifact_id AND r.attempt = o.attempt AND r.final
           AND NOT r.passed AND r.gate <> 'delivery') AS failed_final_gates
FROM retouch.gated_outputs o JOIN retouch.generations g USING (artifact_id, attempt)
WHERE o.week = $week AND o.output_path IS NOT NULL
ORDER BY o.artifact_id, o.attempt
"""


@weekly_check(GATE_DECISIONS, "batch_not_systemically_broken", blocking=True)
def batch_not_systemically_broken(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.AssetCheckResult:
    """The share of the week's artifacts still failing after healing stays within the
    configured tolerance; otherwise nothing of the week is published."""
    week = week_from_key(context.partition_key)
    tolerance = retouch_config.load().gates.systemic_failure_tolerance
    with warehouse.connect() as con:
        counts = {r["status"]: r["n"] for r in fetch_dicts(con, _STATUS_COUNTS, {"week": week})}
        worst = fetch_dicts(con, _WORST_FAILURES, {"week": week})
    total = sum(counts.values())
    failing = counts.get(NEEDS_HUMAN_REVIEW, 0) + counts.get(REJECTED, 0)
    share = failing / total if total else 0.0
    return dg.AssetCheckResult(
        passed=share <= tolerance,
        metadata={
            "artifacts": total,
            "failing_after_healing": failing,
            "failing_share": round(share, 4),
            "tolerance": tolerance,
            **{f"status/{k}": v for k, v in sorted(counts.items())},
            "worst_offenders": dg.MetadataValue.md(
                markdown_table(
                    tuple(worst[0]) if worst else ("artifact_id",),
                    [tuple(w.values()) for w in worst],
                )
            ),
        },
    )


@weekly_check(GATED_OUTPUTS, "published_outputs_pass_gates", blocking=True)
def published_outputs_pass_gates(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
) -> dg.AssetCheckResult:
    """Every published image is approved or healed, has no failed final gate, exists with
    its sidecar, and passes the colour and accessibility gates when measured again from
    the published file."""
    week = week_from_key(context.partition_key)
    config = retouch_config.load()
    with warehouse.connect() as con:
        published = fetch_dicts(con, _PUBLISHED, {"week": week})
    settings = QualitySettings.from_config(config)
    colour = config.gates.colour
    problems: dict[tuple, list[str]] = {}
    present = []
    for row in published:
        key = (row["artifact_id"], row["attempt"])
        problems[key] = []
        if row["status"] not in PUBLISHABLE:
            problems[key].append(f"status {row['status']}")
        if row["failed_final_gates"]:
            problems[key].append(f"{row['failed_final_gates']} failed final gate rows")
        if Path(row["output_path"]).is_file() and Path(row["sidecar_path"]).is_file():
            present.append(row)
        else:
            problems[key].append("published file or sidecar missing")
    remeasured = measure_all(
        [
            ArtifactInput(
                r["artifact_id"],
                r["attempt"],
                r["campaign_id"],
                r["generated_at"],
                Path(r["output_path"]),
                landing.file(r, "master"),
                r["text_layers"] or [],
                r["processing_ms"],
            )
            for r in present
        ],
        settings,
        with_hash=False,
    )
    for m in remeasured:
        found = problems[(m.artifact_id, m.attempt)]
        if m.measure_error:
            found.append(m.measure_error)
            continue
        if m.delta_e_mean > colour.delta_e_mean_max or m.hist_delta > colour.hist_delta_pct_max:
            found.append(f"re-measured ΔE {m.delta_e_mean:.3f}, hist {m.hist_delta:.2f} %")
        if not m.wcag_aa_pass:
            found.append(f"re-measured contrast {m.min_contrast_ratio:.2f}:1")
    violations = [(*key, "; ".join(found)) for key, found in problems.items() if found]
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "published": len(published),
            "violations": len(violations),
            "worst_offenders": dg.MetadataValue.md(
                markdown_table(("artifact_id", "attempt", "problem"), violations[:10])
            ),
        },
    )


_PUBLISHED_WITH_VERSIONS = """
SELECT o.artifact_id, o.attempt, g.prompt_version, g.template_id, g.retouch_version,
       g.campaign_id, g.channel
FROM retouch.gated_outputs o JOIN retouch.generations g USING (artifact_id, attempt)
WHERE o.week = $week AND o.output_path IS NOT NULL
"""


@weekly_check(GATED_OUTPUTS, "slo_freeze_respected", blocking=True)
def slo_freeze_respected(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Nothing was published that an SLO freeze in force holds: no new prompt version and
    no new template/retouch version in a frozen scope without a release sign-off."""
    week = week_from_key(context.partition_key)
    week_start, _ = week_window(week)
    with warehouse.connect() as con:
        freezes = active_freezes(con, week_start)
        first_seen = {(k, v): t for k, v, t in con.execute(FIRST_SEEN_SQL).fetchall()}
        published = fetch_dicts(con, _PUBLISHED_WITH_VERSIONS, {"week": week})
        held = con.execute(
            "SELECT count(*) FROM retouch.gated_outputs WHERE week = $week "
            "AND status = 'held_by_freeze'",
            {"week": week},
        ).fetchone()[0]
    violations = [
        (row["artifact_id"], row["attempt"], reason)
        for row in published
        if (reason := held_reason(row, freezes, first_seen))
    ]
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "freezes_in_force": [f.key for f in freezes],
            "held_by_freeze": held,
            "violations": len(violations),
            "worst_offenders": dg.MetadataValue.md(
                markdown_table(("artifact_id", "attempt", "freeze"), violations[:10])
            ),
        },
    )
