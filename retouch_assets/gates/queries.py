"""Named queries of the gates layer. Status and gate names are parameters, never SQL text."""

from datetime import date, datetime

import duckdb

from retouch_assets.vocabulary import (
    FAILING_AFTER_HEALING,
    Gate,
    PolicyState,
    Status,
)
from retouch_assets.warehouse import fetch_dicts, fetch_value

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

_FINAL_GATE_ROWS = """
SELECT artifact_id, attempt, gate, metric, phase, value, threshold, passed
FROM retouch.gate_results WHERE week = $week AND final
ORDER BY artifact_id, attempt, gate, metric
"""

_NEW_WORK_FREEZES = """
SELECT slo || '/' || scope FROM slo.error_budget
WHERE window_end = $at AND policy_state = $state ORDER BY slo, scope
"""

_STATUS_COUNTS = """
SELECT status, count(*) AS n FROM retouch.gate_decisions WHERE week = $week GROUP BY 1
"""

_WORST_FAILURES = """
SELECT artifact_id, attempt, template_id, status, round(delta_e_mean, 2) AS delta_e_mean,
       array_to_string(review_reasons, ' | ') AS reasons
FROM retouch.gate_decisions
WHERE week = $week AND list_contains($failing, status)
ORDER BY delta_e_mean DESC NULLS FIRST, artifact_id LIMIT 5
"""

# Published rows with what re-measuring and the freeze rule need, and the count of final
# gate rows that failed (delivery never blocks publication).
_PUBLISHED = """
SELECT o.artifact_id, o.attempt, o.status, o.output_path, o.sidecar_path, o.output_sha256,
       o.sidecar_sha256,
       g.campaign_id, g.template_id, g.channel, g.prompt_version, g.retouch_version,
       g.generated_at, g.batch_id, g.master, g.text_layers, g.processing_ms,
       (SELECT count(*) FROM retouch.gate_results r
         WHERE r.artifact_id = o.artifact_id AND r.attempt = o.attempt AND r.final
           AND NOT r.passed AND r.gate <> $delivery) AS failed_final_gates
FROM retouch.gated_outputs o JOIN retouch.generations g USING (artifact_id, attempt)
WHERE o.week = $week AND o.output_path IS NOT NULL
ORDER BY o.artifact_id, o.attempt
"""

# The week's previous publication records: a re-run keeps a file signed from the same input.
_PREVIOUS_PUBLICATION = """
SELECT artifact_id, attempt, output_path, output_sha256, c2pa_input_sha256
FROM retouch.gated_outputs WHERE week = $week AND output_path IS NOT NULL
"""

_HELD = """
SELECT count(*) FROM retouch.gated_outputs
WHERE status = $held AND ($week IS NULL OR week = $week)
"""


def week_to_gate(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _WEEK_TO_GATE, {"week": week})


def week_to_publish(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _WEEK_TO_PUBLISH, {"week": week})


def final_gates_by_artifact(con: duckdb.DuckDBPyConnection, week: date) -> dict[tuple, list]:
    """(artifact_id, attempt) -> its final gate rows, for provenance."""
    gates: dict[tuple, list[dict]] = {}
    for row in fetch_dicts(con, _FINAL_GATE_ROWS, {"week": week}):
        key = (row.pop("artifact_id"), row.pop("attempt"))
        gates.setdefault(key, []).append(row)
    return gates


def new_work_freezes(con: duckdb.DuckDBPyConnection, at: datetime) -> list[str]:
    """`slo/scope` of every scope in freeze_new_work at `at` (surfaced, not enforced)."""
    rows = con.execute(_NEW_WORK_FREEZES, {"at": at, "state": PolicyState.FREEZE_NEW_WORK})
    return [scope for (scope,) in rows.fetchall()]


def status_counts(con: duckdb.DuckDBPyConnection, week: date) -> dict[str, int]:
    return {r["status"]: r["n"] for r in fetch_dicts(con, _STATUS_COUNTS, {"week": week})}


def worst_failures(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _WORST_FAILURES, {"week": week, "failing": list(FAILING_AFTER_HEALING)})


def published(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _PUBLISHED, {"week": week, "delivery": Gate.DELIVERY})


def held_count(con: duckdb.DuckDBPyConnection, status: Status, week: date | None = None) -> int:
    """Artifacts held from publication with `status` (in a week, or in all weeks)."""
    return fetch_value(con, _HELD, {"held": status, "week": week}) or 0


def held_by_freeze(con: duckdb.DuckDBPyConnection, week: date | None = None) -> int:
    """Artifacts held from publication by an SLO freeze (in a week, or in all weeks)."""
    return held_count(con, Status.HELD_BY_FREEZE, week)


def previous_publication(con: duckdb.DuckDBPyConnection, week: date) -> dict[tuple, dict]:
    """(artifact_id, attempt) -> its published record of the week's last publication."""
    return {
        (r["artifact_id"], r["attempt"]): r
        for r in fetch_dicts(con, _PREVIOUS_PUBLICATION, {"week": week})
    }


_HEAL_PRESET_COUNTS = """
SELECT action ->> 'preset' AS preset, count(*) AS tried,
       count(*) FILTER (WHERE (action ->> 'passed')::BOOLEAN) AS healed
FROM (SELECT unnest(from_json(heal_actions, '["JSON"]')) AS action FROM retouch.gate_decisions)
GROUP BY 1
"""


def heal_preset_counts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """Preset -> (attempts recorded, artifacts it healed) over every gated week."""
    return {p: (tried, healed) for p, tried, healed in con.execute(_HEAL_PRESET_COUNTS).fetchall()}
