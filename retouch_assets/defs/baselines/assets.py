"""Baselines layer: weekly baselines and the regression guardrail for new versions."""

import hashlib
import json
from collections import defaultdict

import dagster as dg

from retouch_assets.defs.shared import (
    ARTIFACT_QUALITY,
    GATE_RESULTS,
    GENERATIONS,
    VERSION_GUARDRAIL,
    WEEKLY_BASELINES,
    fetch_dicts,
    markdown_table,
    week_window,
    weekly_asset,
    weekly_check,
)
from retouch_assets.partitions import week_from_key
from retouch_assets.resources import RetouchConfigResource, WarehouseResource
from retouch_assets.slo.guardrail import VersionStats, judge, weighted_baseline
from retouch_assets.warehouse import arrow_rows, replace_weeks

_BASELINES = """
WITH f AS (
    SELECT g.artifact_id, g.attempt, g.template_id, g.channel, g.processing_ms,
           q.delta_e_mean, q.wcag_aa_pass
    FROM retouch.generations g JOIN retouch.artifact_quality q USING (artifact_id, attempt)
    WHERE g.week = $week
), scoped AS (
    SELECT 'overall' AS scope_type, 'all' AS scope, * FROM f
    UNION ALL SELECT 'template', template_id, * FROM f
    UNION ALL SELECT 'channel', channel, * FROM f
)
SELECT scope_type, scope, count(*) AS artifacts,
       avg(delta_e_mean) AS delta_e_mean,
       quantile_cont(delta_e_mean, 0.95) AS delta_e_p95,
       avg(CASE WHEN wcag_aa_pass THEN 0.0 ELSE 1.0 END) FILTER (WHERE wcag_aa_pass IS NOT NULL)
           AS wcag_failure_rate,
       avg(processing_ms) FILTER (WHERE attempt > 1) AS reprocess_ms_mean,
       max(processing_ms) FILTER (WHERE attempt > 1) AS reprocess_ms_max
FROM scoped GROUP BY ALL ORDER BY scope_type, scope
"""
_GATE_FAILURES = """
WITH failed AS (
    SELECT DISTINCT r.artifact_id, r.attempt, r.gate, g.template_id, g.channel
    FROM retouch.gate_results r JOIN retouch.generations g USING (artifact_id, attempt)
    WHERE r.week = $week AND r.phase = 'measured' AND NOT r.passed
)
SELECT 'overall' AS scope_type, 'all' AS scope, gate, count(*) AS n FROM failed GROUP BY ALL
UNION ALL SELECT 'template', template_id, gate, count(*) FROM failed GROUP BY ALL
UNION ALL SELECT 'channel', channel, gate, count(*) FROM failed GROUP BY ALL
"""
# Versions whose first generation falls in this week, with the week's measurements.
_NEW_VERSIONS = """
WITH first_model AS (
    SELECT model_version, min(generated_at) AS first_seen FROM retouch.generations GROUP BY 1
), first_prompt AS (
    SELECT prompt_version, min(generated_at) AS first_seen FROM retouch.generations GROUP BY 1
), f AS (
    SELECT g.*, q.delta_e_mean AS de FROM retouch.generations g
    JOIN retouch.artifact_quality q USING (artifact_id, attempt) WHERE g.week = $week
)
SELECT 'model_version' AS kind, f.model_version AS version, NULL AS template_id,
       count(*) AS artifacts, avg(de) AS delta_e_mean
FROM f JOIN first_model m USING (model_version) WHERE m.first_seen >= $start GROUP BY ALL
UNION ALL
SELECT 'prompt_version', f.prompt_version, f.template_id, count(*), avg(de)
FROM f JOIN first_prompt p USING (prompt_version) WHERE p.first_seen >= $start GROUP BY ALL
ORDER BY kind, version
"""
_PREVIOUS_BASELINES = """
SELECT scope_type, scope, delta_e_mean, artifacts FROM baselines.weekly
WHERE week >= $first AND week < $week
"""


@dg.asset(
    key=WEEKLY_BASELINES,
    deps=[GENERATIONS, ARTIFACT_QUALITY, GATE_RESULTS],
    **weekly_asset("baselines", kinds=("duckdb",)),
)
def weekly_baselines(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per week, overall and per template and channel: ΔE mean and p95, WCAG failure rate,
    reprocess time mean and max, gate failure counts, incidents of the last 30 days by root
    cause (empty until incidents are recorded)."""
    week = week_from_key(context.partition_key)
    with warehouse.connect() as con:
        rows = fetch_dicts(con, _BASELINES, {"week": week})
        failures = defaultdict(dict)
        for f in fetch_dicts(con, _GATE_FAILURES, {"week": week}):
            failures[(f["scope_type"], f["scope"])][f["gate"]] = f["n"]
        for row in rows:
            row["week"] = week
            row["gate_failures"] = json.dumps(
                failures[(row["scope_type"], row["scope"])], sort_keys=True
            )
            row["incidents_30d"] = json.dumps({})
        replace_weeks(con, week, {"baselines.weekly": arrow_rows("baselines.weekly", rows)})
    overall = next((r for r in rows if r["scope_type"] == "overall"), None)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "delta_e_mean": overall["delta_e_mean"] if overall else None,
            "delta_e_p95": overall["delta_e_p95"] if overall else None,
            "wcag_failure_rate": overall["wcag_failure_rate"] if overall else None,
        }
    )


@dg.asset(
    key=VERSION_GUARDRAIL,
    deps=[
        dg.AssetDep(
            WEEKLY_BASELINES,
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-4, end_offset=-1),
        ),
        GENERATIONS,
        ARTIFACT_QUALITY,
    ],
    **weekly_asset("baselines"),
)
def version_guardrail(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Every model and prompt version first seen this week, against the previous weeks'
    baseline (overall for models, the template's for prompt versions)."""
    week = week_from_key(context.partition_key)
    rule = retouch_config.load().guardrail
    start, _ = week_window(week)
    first = week.fromordinal(week.toordinal() - 7 * rule.baseline_weeks)
    with warehouse.connect() as con:
        versions = fetch_dicts(con, _NEW_VERSIONS, {"week": week, "start": start})
        previous = fetch_dicts(con, _PREVIOUS_BASELINES, {"week": week, "first": first})
    history = defaultdict(list)
    for p in previous:
        history[(p["scope_type"], p["scope"])].append((p["delta_e_mean"], p["artifacts"]))
    rows, events = [], []
    for v in versions:
        scope = (
            ("template", v["template_id"]) if v["kind"] == "prompt_version" else ("overall", "all")
        )
        row = judge(VersionStats(**v), weighted_baseline(history[scope]), rule) | {"week": week}
        rows.append(row)
        if row["regressed"]:
            events.append(_regression_event(week, start, row))
    with warehouse.connect() as con:
        replace_weeks(
            con,
            week,
            {
                "baselines.version_guardrail": arrow_rows("baselines.version_guardrail", rows),
                "ops.events": arrow_rows("ops.events", events),
            },
            events_source="guardrail",
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "regressions": len(events),
            "new_versions": dg.MetadataValue.md(
                markdown_table(
                    ("kind", "version", "artifacts", "ΔE mean", "baseline", "note"),
                    [
                        (
                            r["kind"],
                            r["version"],
                            r["artifacts"],
                            _fmt(r["delta_e_mean"]),
                            _fmt(r["baseline_delta_e_mean"]),
                            r["note"],
                        )
                        for r in rows
                    ],
                )
            ),
        }
    )


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _regression_event(week, at, row: dict) -> dict:
    key = f"{week}|guardrail|{row['kind']}|{row['version']}"
    return {
        "event_id": hashlib.sha256(key.encode()).hexdigest()[:32],
        "week": week,
        "event_time": at,
        "event_type": "guardrail_regression",
        "template_id": row["template_id"],
        "prompt_version": row["version"] if row["kind"] == "prompt_version" else None,
        "model_version": row["version"] if row["kind"] == "model_version" else None,
        "delta_e": row["delta_e_mean"],
        "details": json.dumps(
            {
                k: row[k]
                for k in (
                    "kind",
                    "version",
                    "artifacts",
                    "baseline_delta_e_mean",
                    "worse_by_pct",
                    "note",
                )
            }
        ),
        "source": "guardrail",
    }


@weekly_check(VERSION_GUARDRAIL, "no_version_regression")
def no_version_regression(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """No model or prompt version new this week is worse than the baseline by more than
    the configured margin (a warning: it does not block publication)."""
    week = week_from_key(context.partition_key)
    with warehouse.connect() as con:
        regressed = fetch_dicts(
            con,
            "SELECT kind, version, artifacts, delta_e_mean, baseline_delta_e_mean, note "
            "FROM baselines.version_guardrail WHERE week = $week AND regressed ORDER BY 1, 2",
            {"week": week},
        )
    return dg.AssetCheckResult(
        passed=not regressed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "regressions": len(regressed),
            "versions": dg.MetadataValue.md(
                markdown_table(
                    ("kind", "version", "artifacts", "note"),
                    [(r["kind"], r["version"], r["artifacts"], r["note"]) for r in regressed],
                )
            ),
        },
    )
