"""Named queries over the ingest layer's tables, used by the layers downstream."""

from datetime import date, datetime

import duckdb

from retouch_assets.warehouse import fetch_dicts

# When each model version, prompt version and template/retouch-version pair was first generated.
_FIRST_SEEN = """
SELECT 'model' AS kind, model_version AS version, min(generated_at) AS first_seen
FROM retouch.generations GROUP BY model_version
UNION ALL
SELECT 'prompt', prompt_version, min(generated_at)
FROM retouch.generations GROUP BY prompt_version
UNION ALL
SELECT 'template', template_id || '@' || retouch_version, min(generated_at)
FROM retouch.generations GROUP BY template_id, retouch_version
"""

FirstSeen = dict[tuple[str, str], datetime]


def first_seen(con: duckdb.DuckDBPyConnection) -> FirstSeen:
    """(kind, version) -> first generated_at; kinds: model, prompt, template (a
    `template_id@retouch_version` pair)."""
    return {(k, v): t for k, v, t in con.execute(_FIRST_SEEN).fetchall()}


def versions_new_since(seen: FirstSeen, since: datetime, kinds=("model", "prompt")) -> set[str]:
    return {version for (kind, version), t in seen.items() if kind in kinds and t >= since}


def generations_of_week(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(
        con,
        "SELECT * FROM retouch.generations WHERE week = $week ORDER BY artifact_id, attempt",
        {"week": week},
    )
