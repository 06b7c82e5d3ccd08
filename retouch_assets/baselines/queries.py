"""Named queries of the baselines layer: a week's statistics and gate failures per scope, the
new versions' statistics, earlier baselines, recent incidents, and the regressions of a week.
Scope types and other vocabulary values reach the SQL as parameters."""

from datetime import date, datetime

import duckdb

from retouch_assets.baselines.guardrail import FIRST_SEEN_KIND, VersionStats
from retouch_assets.baselines.weekly import ALL, INCIDENT_WINDOW
from retouch_assets.ingest.queries import first_seen, versions_new_since
from retouch_assets.vocabulary import MEASURED, ScopeType, VersionKind
from retouch_assets.warehouse import fetch_dicts

_SCOPES = {
    "overall": ScopeType.OVERALL,
    "all": ALL,
    "template": ScopeType.TEMPLATE,
    "channel": ScopeType.CHANNEL,
}

_WEEK_STATS = """
WITH f AS (
    SELECT g.artifact_id, g.attempt, g.template_id, g.channel, g.processing_ms,
           q.delta_e_mean, q.wcag_aa_pass
    FROM retouch.generations g JOIN retouch.artifact_quality q USING (artifact_id, attempt)
    WHERE g.week = $week
), scoped AS (
    SELECT $overall AS scope_type, $all AS scope, * FROM f
    UNION ALL SELECT $template, template_id, * FROM f
    UNION ALL SELECT $channel, channel, * FROM f
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


def week_stats(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """Per scope of the week: artifacts, ΔE mean and p95, WCAG failure rate, reprocess times."""
    return fetch_dicts(con, _WEEK_STATS, {"week": week, **_SCOPES})


# Artifact attempts that failed a gate as measured (before healing), counted per gate.
_GATE_FAILURES = """
WITH failed AS (
    SELECT DISTINCT r.artifact_id, r.attempt, r.gate, g.template_id, g.channel
    FROM retouch.gate_results r JOIN retouch.generations g USING (artifact_id, attempt)
    WHERE r.week = $week AND r.phase = $measured AND NOT r.passed
)
SELECT $overall AS scope_type, $all AS scope, gate, count(*) AS n FROM failed GROUP BY ALL
UNION ALL SELECT $template, template_id, gate, count(*) FROM failed GROUP BY ALL
UNION ALL SELECT $channel, channel, gate, count(*) FROM failed GROUP BY ALL
"""


def gate_failures(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """Rows (scope_type, scope, gate, n) of the week's measured gate failures."""
    return fetch_dicts(con, _GATE_FAILURES, {"week": week, "measured": MEASURED, **_SCOPES})


def incidents_before(con: duckdb.DuckDBPyConnection, end: datetime) -> list[dict]:
    """Incidents (scope, root_cause_category) opened in the 30 days before `end`."""
    return fetch_dicts(
        con,
        "SELECT scope, root_cause_category FROM ops.incidents "
        "WHERE opened_at >= $since AND opened_at < $end ORDER BY opened_at, incident_id",
        {"since": end - INCIDENT_WINDOW, "end": end},
    )


# The week's statistics of the given model versions (overall) and prompt versions (per template).
_VERSION_STATS = """
WITH f AS (
    SELECT g.model_version, g.prompt_version, g.template_id, q.delta_e_mean AS de
    FROM retouch.generations g JOIN retouch.artifact_quality q USING (artifact_id, attempt)
    WHERE g.week = $week
)
SELECT $model AS kind, model_version AS version, NULL AS template_id,
       count(*) AS artifacts, avg(de) AS delta_e_mean
FROM f WHERE list_contains($models, model_version) GROUP BY ALL
UNION ALL
SELECT $prompt, prompt_version, template_id, count(*), avg(de)
FROM f WHERE list_contains($prompts, prompt_version) GROUP BY ALL
ORDER BY kind, version
"""


def new_versions(con: duckdb.DuckDBPyConnection, week: date, start: datetime) -> list[VersionStats]:
    """Model and prompt versions first generated at or after `start` (the week's start), with
    their statistics in the week."""
    seen = first_seen(con)
    new = {
        kind: sorted(versions_new_since(seen, start, kinds=(FIRST_SEEN_KIND[kind],)))
        for kind in VersionKind
    }
    params = {
        "week": week,
        "model": VersionKind.MODEL,
        "prompt": VersionKind.PROMPT,
        "models": new[VersionKind.MODEL],
        "prompts": new[VersionKind.PROMPT],
    }
    return [VersionStats(**row) for row in fetch_dicts(con, _VERSION_STATS, params)]


def previous_baselines(con: duckdb.DuckDBPyConnection, week: date, weeks: int) -> list[dict]:
    """`baselines.weekly` rows (scope_type, scope, delta_e_mean, artifacts) of the `weeks`
    weeks before `week`."""
    return fetch_dicts(
        con,
        "SELECT scope_type, scope, delta_e_mean, artifacts FROM baselines.weekly "
        "WHERE week >= $first AND week < $week",
        {"week": week, "first": week.fromordinal(week.toordinal() - 7 * weeks)},
    )


def regressions(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    """The week's regressed versions."""
    return fetch_dicts(
        con,
        "SELECT kind, version, artifacts, delta_e_mean, baseline_delta_e_mean, note "
        "FROM baselines.version_guardrail WHERE week = $week AND regressed "
        "ORDER BY kind, version",
        {"week": week},
    )
