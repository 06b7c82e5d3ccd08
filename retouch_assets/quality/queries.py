"""Named queries of the quality layer."""

from datetime import date

import duckdb

from retouch_assets.quality.artifact import KnownHash
from retouch_assets.vocabulary import DriftStatus
from retouch_assets.warehouse import fetch_dicts

_GENERATIONS_TO_MEASURE = """
SELECT artifact_id, attempt, campaign_id, template_id, generated_at, batch_id, image, master,
       text_layers, processing_ms
FROM retouch.generations WHERE week = $week ORDER BY artifact_id, attempt
"""
# Hashes of earlier weeks in the campaigns of this week: duplicates may reach back.
_EARLIER_HASHES = """
SELECT artifact_id, campaign_id, generated_at, phash FROM retouch.artifact_quality
WHERE week < $week AND phash IS NOT NULL
  AND campaign_id IN (SELECT DISTINCT campaign_id FROM retouch.generations WHERE week = $week)
"""


def generations_to_measure(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _GENERATIONS_TO_MEASURE, {"week": week})


def earlier_hashes(con: duckdb.DuckDBPyConnection, week: date) -> list[KnownHash]:
    return [KnownHash(**row) for row in fetch_dicts(con, _EARLIER_HASHES, {"week": week})]


_GENERATIONS_TO_SCORE = """
SELECT artifact_id, attempt, campaign_id, template_id, prompt_version, prompt, batch_id, image
FROM retouch.generations WHERE week = $week ORDER BY artifact_id, attempt
"""

_CLIP_SCORES_OF_WEEK = """
SELECT artifact_id, attempt, clip_score, prompt_drift, prompt_drift_status, model_hash, untrained
FROM retouch.clip_scores WHERE week = $week
"""

_CACHED_TEXT_EMBEDDINGS = """
SELECT prompt_hash, embedding, truncated FROM retouch.text_embeddings
WHERE model_hash = $model_hash AND text_precision = $precision
  AND list_contains($hashes, prompt_hash)
"""


def generations_to_score(con: duckdb.DuckDBPyConnection, week: date) -> list[dict]:
    return fetch_dicts(con, _GENERATIONS_TO_SCORE, {"week": week})


def clip_scores_of_week(con: duckdb.DuckDBPyConnection, week: date) -> dict[tuple, dict]:
    """(artifact_id, attempt) -> its `retouch.clip_scores` row (the CLIP step's columns)."""
    return {
        (row["artifact_id"], row["attempt"]): row
        for row in fetch_dicts(con, _CLIP_SCORES_OF_WEEK, {"week": week})
    }


def cached_text_embeddings(
    con: duckdb.DuckDBPyConnection, model_hash: str, precision: str, hashes: list[str]
) -> dict[str, tuple[list[float], bool]]:
    """prompt hash -> (embedding, truncated) already computed by this exact model's text tower
    at this precision."""
    params = {"model_hash": model_hash, "precision": precision, "hashes": hashes}
    rows = fetch_dicts(con, _CACHED_TEXT_EMBEDDINGS, params)
    return {r["prompt_hash"]: (r["embedding"], r["truncated"]) for r in rows}


_CLIP_MODELS = """
SELECT model_name, model_hash, untrained, provider, count(*) AS artifacts
FROM retouch.clip_scores WHERE model_hash IS NOT NULL GROUP BY ALL ORDER BY artifacts DESC
"""
_DRIFT_STATUSES = """
SELECT prompt_drift_status, count(*) AS n FROM retouch.clip_scores GROUP BY 1 ORDER BY 2 DESC
"""
_UNAPPROVED_TEMPLATES = """
SELECT DISTINCT template_id FROM retouch.clip_scores WHERE prompt_drift_status = $status
ORDER BY 1
"""


def clip_overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Which CLIP models scored the warehouse's artifacts, how drift was judged, and the
    templates that have no approved prompt."""
    return {
        "models": fetch_dicts(con, _CLIP_MODELS),
        "statuses": {r["prompt_drift_status"]: r["n"] for r in fetch_dicts(con, _DRIFT_STATUSES)},
        "unapproved": [
            r["template_id"]
            for r in fetch_dicts(
                con, _UNAPPROVED_TEMPLATES, {"status": DriftStatus.NO_APPROVED_PROMPT}
            )
        ],
    }
