"""Named queries of the QA layer: the reviews of a span of weeks and the backlog."""

from datetime import date

import duckdb

from retouch_assets.warehouse import fetch_dicts

_REVIEWS = """
SELECT week, artifact_id, attempt, generated_at, template_id, prompt_version, reviewer,
       review_seconds, review_labels
FROM retouch.generations
WHERE week >= $first AND week <= $last AND review_seconds IS NOT NULL
ORDER BY week, generated_at, artifact_id, attempt
"""
_BACKLOG = """
SELECT week, template_id, artifact_id, attempt, reviewer, review_seconds, review_labels,
       threshold_seconds
FROM qa.template_backlog WHERE week >= $first AND week <= $last
ORDER BY review_seconds DESC, artifact_id, attempt
"""


def reviews(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    """Every reviewed generation of the weeks first..last (Mondays, inclusive)."""
    return fetch_dicts(con, _REVIEWS, {"first": first, "last": last})


def backlog(con: duckdb.DuckDBPyConnection, first: date, last: date) -> list[dict]:
    """The template backlog of the weeks first..last, slowest review first."""
    return fetch_dicts(con, _BACKLOG, {"first": first, "last": last})
