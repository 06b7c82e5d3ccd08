"""Blocking gates on each week: stop publication when the batch is systemically broken, and
prove that nothing published violates a gate, a freeze, its recorded file, or its signed C2PA
manifest."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from retouch_assets.config import RetouchConfig
from retouch_assets.defs.shared import key_of, md, week_of_context, weekly_check
from retouch_assets.gates import audit, queries
from retouch_assets.gates.locks import active_locks, lock_violations, locked_templates
from retouch_assets.gates.publish import PNG_MIME
from retouch_assets.gates.tables import GATE_DECISIONS, GATED_OUTPUTS
from retouch_assets.ingest.queries import first_seen
from retouch_assets.partitions import week_window
from retouch_assets.quality.artifact import QualitySettings, artifact_input, measure_all
from retouch_assets.resources import (
    LandingResource,
    OutputsResource,
    ProvenanceResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.slo.governance import active_freezes
from retouch_assets.vocabulary import Status


@weekly_check(key_of(GATE_DECISIONS), "batch_not_systemically_broken", blocking=True)
def batch_not_systemically_broken(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.AssetCheckResult:
    """The share of the week's artifacts still failing after healing stays within the
    configured tolerance; otherwise nothing of the week is published."""
    week = week_of_context(context)
    tolerance = retouch_config.load().gates.systemic_failure_tolerance
    with warehouse.connect() as con:
        counts = queries.status_counts(con, week)
        worst = queries.worst_failures(con, week)
    passed, failing, share = audit.systemic_failure(counts, tolerance)
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "artifacts": sum(counts.values()),
            "failing_after_healing": failing,
            "failing_share": round(share, 4),
            "tolerance": tolerance,
            **{f"status/{k}": v for k, v in sorted(counts.items())},
            "worst_offenders": md(
                tuple(worst[0]) if worst else ("artifact_id",), [tuple(w.values()) for w in worst]
            ),
        },
    )


class PublishedCheckConfig(dg.Config):
    """Run config of `published_outputs_pass_gates` (the UI's launchpad: `ops:
    retouch__gated_outputs_published_outputs_pass_gates: config: deep_verify: true`)."""

    deep_verify: bool | None = Field(
        default=None,
        description="Re-decode and re-measure every published image as well. Unset: "
        "RETOUCH_DEEP_VERIFY (`retouch run --deep-verify`), off by default.",
    )


@weekly_check(key_of(GATED_OUTPUTS), "published_outputs_pass_gates", blocking=True)
def published_outputs_pass_gates(
    context: dg.AssetCheckExecutionContext,
    config: PublishedCheckConfig,
    warehouse: WarehouseResource,
    landing: LandingResource,
    outputs: OutputsResource,
    retouch_config: RetouchConfigResource,
) -> dg.AssetCheckResult:
    """Every published image is approved or healed, has no failed final gate, exists with its
    sidecar inside the outputs folder with its recorded sha256, and its sidecar records the
    status and final gate rows in force. With deep verification, it also passes the colour and
    accessibility gates when measured again from the published file."""
    week = week_of_context(context)
    deep = outputs.deep_verify if config.deep_verify is None else config.deep_verify
    with warehouse.connect() as con:
        published = queries.published(con, week)
        gates_of = queries.final_gates_by_artifact(con, week)
    problems = {}
    for row in published:
        key = (row["artifact_id"], row["attempt"])
        found = audit.row_problems(row) + audit.file_problems(row, outputs.root)
        problems[key] = found or audit.provenance_problems(row, gates_of.get(key, []))
    if deep:
        intact = [r for r in published if not problems[(r["artifact_id"], r["attempt"])]]
        settings = retouch_config.load()
        for m in _remeasure(intact, landing, settings):
            problems[(m.artifact_id, m.attempt)] += audit.remeasure_problems(
                m, settings.gates.colour
            )
    violations = [(*key, "; ".join(found)) for key, found in problems.items() if found]
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "published": len(published),
            "verified": "hashes, gate rows, re-measured" if deep else "hashes, gate rows",
            "violations": len(violations),
            "worst_offenders": md(("artifact_id", "attempt", "problem"), violations[:10]),
        },
    )


def _remeasure(rows: list[dict], landing: LandingResource, config: RetouchConfig) -> list:
    """The published images measured again against their masters (decodes every one)."""
    return measure_all(
        [artifact_input(r, lambda row, f: _file(row, f, landing)) for r in rows],
        QualitySettings.from_config(config),
        with_hash=False,
    )


def _file(row: dict, field: str, landing: LandingResource) -> Path:
    """The published image in place of the delivered one; the master from landing."""
    return Path(row["output_path"]) if field == "image" else landing.file(row, field)


@weekly_check(key_of(GATED_OUTPUTS), "published_images_carry_valid_c2pa", blocking=True)
def published_images_carry_valid_c2pa(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
    provenance: ProvenanceResource,
) -> dg.AssetCheckResult:
    """Every published image carries a C2PA manifest that the C2PA reader validates (Trusted
    when a trust anchor is configured, else Valid) and that names its artifact attempt: a
    tampered, stripped or swapped file fails, with its failure codes."""
    week = week_of_context(context)
    anchor = provenance.trust_anchor(retouch_config.load(), retouch_config.path)
    with warehouse.connect() as con:
        published = queries.published(con, week)
    states, failing = audit.c2pa_read_back(
        published, lambda row: (Path(row["output_path"]), PNG_MIME), anchor
    )
    violations = [(row["artifact_id"], row["attempt"], problem) for row, problem in failing]
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "published": len(published),
            **{f"state/{state}": n for state, n in sorted(states.items())},
            "trust": "the configured trust anchor (Trusted required)"
            if anchor
            else "no trust anchor configured (Valid required; signer not trusted)",
            "violations": len(violations),
            "worst_offenders": md(("artifact_id", "attempt", "problem"), violations[:10]),
        },
    )


@weekly_check(key_of(GATED_OUTPUTS), "slo_freeze_respected", blocking=True)
def slo_freeze_respected(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Nothing was published that an SLO freeze in force holds: no new prompt version and
    no new template/retouch version in a frozen scope without a release sign-off."""
    week = week_of_context(context)
    week_start, _ = week_window(week)
    with warehouse.connect() as con:
        freezes = active_freezes(con, week_start)
        violations = audit.freeze_violations(queries.published(con, week), freezes, first_seen(con))
        held = queries.held_by_freeze(con, week)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "freezes_in_force": [f.key for f in freezes],
            "held_by_freeze": held,
            "violations": len(violations),
            "worst_offenders": md(("artifact_id", "attempt", "freeze"), violations[:10]),
        },
    )


@weekly_check(key_of(GATED_OUTPUTS), "template_locks_respected", blocking=True)
def template_locks_respected(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Nothing was published from a template locked by a prompt-drift failure (generated
    after the lock began) without an unlock sign-off."""
    week = week_of_context(context)
    with warehouse.connect() as con:
        locks = active_locks(con)
        violations = lock_violations(queries.published(con, week), locks)
        held = queries.held_count(con, Status.HELD_BY_TEMPLATE_LOCK, week)
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "locked_templates": sorted(locked_templates(locks)),
            "held_by_template_lock": held,
            "violations": len(violations),
            "worst_offenders": md(("artifact_id", "attempt", "lock"), violations[:10]),
        },
    )
