"""Named queries over the ingest layer's tables, used by the layers downstream."""

from datetime import date, datetime

import duckdb

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


_GENERATIONS_OF_WEEK = (
    "SELECT * FROM retouch.generations WHERE week = $week ORDER BY artifact_id, attempt"
)


def generations_frame(con: duckdb.DuckDBPyConnection, week: date):
    """The week's generations as the pandas frame great-expectations validates (DuckDB builds
    it; retouch_assets does not import pandas)."""
    return con.execute(_GENERATIONS_OF_WEEK, {"week": week}).df()
