"""Named queries of the SLO layer: the artifact facts SLIs count, the freezes in force, and
the governance records. Vocabulary values reach the SQL as parameters."""

from datetime import datetime

import duckdb
import polars as pl

from retouch_assets.vocabulary import BLOCKING_GATES, FROZEN_STATES, Gate, SignoffKind
from retouch_assets.warehouse import fetch_dicts

# The colour gate's metric an SLI may read after healing (`final_delta_e_mean`).
_FINAL_COLOUR_METRIC = "delta_e_mean"

# One row per artifact attempt with everything an SLI may count. `passed_gates`: no blocking
# gate failed in its final measurement (colour, accessibility, input integrity).
# `delivery_ok`: no final delivery-gate row failed (processing time, channel renditions).
_FACTS = """
SELECT g.artifact_id, g.attempt, g.generated_at, g.campaign_id, g.template_id, g.channel,
       g.processing_ms / 1000.0 AS processing_seconds,
       q.delta_e_mean, q.hist_delta, q.min_contrast_ratio, q.wcag_aa_pass,
       fc.final_delta_e_mean, fd.prompt_drift,
       coalesce(ff.failed, 0) = 0 AS passed_gates,
       coalesce(fdl.failed, 0) = 0 AS delivery_ok
FROM retouch.generations g
JOIN retouch.artifact_quality q USING (artifact_id, attempt)
LEFT JOIN (
    SELECT artifact_id, attempt, count(*) AS failed FROM retouch.gate_results
    WHERE final AND NOT passed AND list_contains($blocking_gates, gate)
    GROUP BY ALL
) ff USING (artifact_id, attempt)
LEFT JOIN (
    -- The delivery gate: processing time, and every channel rendition within its byte budget
    -- and quality floor (its rows of phase `rendition`, written by the renditions step).
    SELECT artifact_id, attempt, count(*) AS failed FROM retouch.gate_results
    WHERE final AND NOT passed AND gate = $delivery_gate
    GROUP BY ALL
) fdl USING (artifact_id, attempt)
LEFT JOIN (
    SELECT artifact_id, attempt, value AS final_delta_e_mean FROM retouch.gate_results
    WHERE final AND gate = $colour_gate AND metric = $colour_metric
) fc USING (artifact_id, attempt)
LEFT JOIN (
    -- Only judged drift has a gate row (a trained model and an approved prompt).
    SELECT artifact_id, attempt, value AS prompt_drift FROM retouch.gate_results
    WHERE final AND gate = $drift_gate
) fd USING (artifact_id, attempt)
WHERE g.generated_at >= $start AND g.generated_at < $end
ORDER BY g.generated_at, g.artifact_id, g.attempt
"""


def load_facts(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """Artifact facts with start <= generated_at < end, in event-time order; `generated_at`
    in UTC whatever the session's time zone (days are UTC days)."""
    params = {
        "blocking_gates": list(BLOCKING_GATES),
        "colour_gate": Gate.COLOUR_FIDELITY,
        "colour_metric": _FINAL_COLOUR_METRIC,
        "drift_gate": Gate.PROMPT_DRIFT,
        "delivery_gate": Gate.DELIVERY,
        "start": start,
        "end": end,
    }
    facts = con.sql(_FACTS, params=params).pl()
    return facts.with_columns(pl.col("generated_at").dt.convert_time_zone("UTC"))


# Frozen, enforceable budgets at `at` that no release sign-off (for the scope, or `<slo>/*`)
# effective since the freeze began has released. Low-traffic scopes are flagged, never enforced.
_ACTIVE_FREEZES = """
SELECT b.slo, b.scope, b.dimension, b.frozen_since
FROM slo.error_budget b
WHERE b.window_end = $at AND list_contains($frozen, b.policy_state)
  AND NOT b.low_traffic
  AND NOT EXISTS (
      SELECT 1 FROM ops.signoffs s
      WHERE s.kind = $release
        AND (s.scope = b.slo || '/' || b.scope OR s.scope = b.slo || '/*')
        AND s.effective_from >= b.frozen_since
  )
ORDER BY b.slo, b.scope
"""


def frozen_budgets(con: duckdb.DuckDBPyConnection, at: datetime) -> list[dict]:
    """Rows (slo, scope, dimension, frozen_since) of the freezes in force at `at`."""
    params = {"at": at, "frozen": list(FROZEN_STATES), "release": SignoffKind.RELEASE_FREEZE}
    return fetch_dicts(con, _ACTIVE_FREEZES, params)


def last_applied_config(con: duckdb.DuckDBPyConnection) -> tuple[datetime, str] | None:
    """(applied_at, config JSON) of the configuration applied last, if any."""
    rows = con.execute(
        "SELECT applied_at, config FROM ops.applied_config ORDER BY applied_at DESC LIMIT 1"
    ).fetchall()  # fetchall: an unread result would block the next statement on `con`
    return rows[0] if rows else None


def signed_scopes(con: duckdb.DuckDBPyConnection, kind: SignoffKind, after: datetime) -> set[str]:
    """Scopes with a sign-off of `kind` made after `after`."""
    rows = con.execute(
        "SELECT scope FROM ops.signoffs WHERE kind = $kind AND signed_at > $after",
        {"kind": kind, "after": after},
    ).fetchall()
    return {scope for (scope,) in rows}


def signoffs_by_scope(con: duckdb.DuckDBPyConnection, kind: SignoffKind) -> dict[str, str]:
    """Scope → id of its latest sign-off of `kind`."""
    rows = con.execute(
        "SELECT scope, arg_max(signoff_id, signed_at) FROM ops.signoffs WHERE kind = $kind "
        "GROUP BY scope",
        {"kind": kind},
    ).fetchall()
    return dict(rows)


# The exclusion windows applied and not retired since: the previous runs' recorded set.
_ACTIVE_EXCLUSIONS = """
SELECT exclusion_id, reason, approved_by FROM slo.exclusion_windows
WHERE retired_at IS NULL ORDER BY exclusion_id
"""


def active_exclusions(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """exclusion_id → (reason, approved_by) of every applied, not retired window."""
    return {row["exclusion_id"]: row for row in fetch_dicts(con, _ACTIVE_EXCLUSIONS)}


def retire_exclusions(con: duckdb.DuckDBPyConnection, ids: list[str], at: datetime) -> None:
    con.execute(
        "UPDATE slo.exclusion_windows SET retired_at = $at "
        "WHERE retired_at IS NULL AND list_contains($ids, exclusion_id)",
        {"at": at, "ids": ids},
    )


def update_exclusion_notes(
    con: duckdb.DuckDBPyConnection, exclusion_id: str, reason: str, approved_by: str
) -> None:
    """The reason and approver of an applied window: not part of its id, so edited in place."""
    con.execute(
        "UPDATE slo.exclusion_windows SET reason = $reason, approved_by = $approved_by "
        "WHERE retired_at IS NULL AND exclusion_id = $id",
        {"id": exclusion_id, "reason": reason, "approved_by": approved_by},
    )
