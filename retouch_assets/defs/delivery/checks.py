"""Blocking check on each week's renditions: every file carries a valid C2PA manifest."""

from pathlib import Path

import dagster as dg

from retouch_assets.defs.shared import key_of, md, week_of_context, weekly_check
from retouch_assets.delivery.queries import week_renditions
from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.gates import audit
from retouch_assets.resources import ProvenanceResource, RetouchConfigResource, WarehouseResource


@weekly_check(key_of(RENDITIONS), "renditions_carry_valid_c2pa", blocking=True)
def renditions_carry_valid_c2pa(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
    provenance: ProvenanceResource,
) -> dg.AssetCheckResult:
    """Every rendition file carries a C2PA manifest the C2PA reader validates (Trusted when a
    trust anchor is configured, else Valid) and that names its artifact attempt; blocking, so
    publication does not list a tampered, stripped or swapped rendition."""
    week = week_of_context(context)
    anchor = provenance.trust_anchor(retouch_config.load(), retouch_config.path)
    with warehouse.connect() as con:
        rows = [r for rs in week_renditions(con, week).values() for r in rs]
    states, failing = audit.c2pa_read_back(
        rows, lambda row: (Path(row["path"]), row["mime"]), anchor
    )
    violations = [
        (row["artifact_id"], row["attempt"], _name(row), problem) for row, problem in failing
    ]
    return dg.AssetCheckResult(
        passed=not violations,
        metadata={
            "renditions": len(rows),
            **{f"state/{state}": n for state, n in sorted(states.items())},
            "violations": len(violations),
            "worst_offenders": md(
                ("artifact_id", "attempt", "rendition", "problem"), violations[:10]
            ),
        },
    )


def _name(row: dict) -> str:
    return f"{row['channel']}/{row['format']}/{row['width']}w"
