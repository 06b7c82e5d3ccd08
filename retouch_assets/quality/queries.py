"""Named queries of the quality layer."""

from datetime import date

import duckdb

from retouch_assets.quality.artifact import KnownHash
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
