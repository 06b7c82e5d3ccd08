"""Named queries of the quality layer."""

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from retouch_assets.quality.artifact import KnownHash
from retouch_assets.quality.tables import ARTIFACT_QUALITY
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


# The week's measured rows (Parquet files from the workers, registered as `measured`) with
# the duplicates found across them (`duplicates`) in place of their NULL duplicate_of, stored
# in (artifact_id, attempt) order whatever order the workers finished in: aggregates over the
# table (sums of ΔE in baselines) then add in the same order on every path, to the last bit.
_DELETE_WEEK_QUALITY = "DELETE FROM retouch.artifact_quality WHERE week = $week"
_INSERT_MEASURED = """
INSERT INTO retouch.artifact_quality BY NAME
SELECT m.* REPLACE (coalesce(d.duplicate_of, m.duplicate_of) AS duplicate_of)
FROM measured m LEFT JOIN duplicates d ON d.artifact_id = m.artifact_id AND d.attempt = m.attempt
WHERE m.week = $week
ORDER BY m.artifact_id, m.attempt
"""
_QUALITY_SUMMARY = """
SELECT median(delta_e_mean) AS delta_e_mean_median, max(delta_e_mean) AS delta_e_mean_max,
       count(*) FILTER (WHERE NOT wcag_aa_pass) AS wcag_failures,
       count(duplicate_of) AS duplicates, count(measure_error) AS measure_errors,
       count(*) AS artifacts
FROM retouch.artifact_quality WHERE week = $week
"""
_DUPLICATES_SCHEMA = pa.schema(
    [("artifact_id", pa.string()), ("attempt", pa.int64()), ("duplicate_of", pa.string())]
)


def load_measured_week(
    con: duckdb.DuckDBPyConnection,
    week: date,
    files: Sequence[Path],
    duplicates: Mapping[tuple[str, int], str],
) -> None:
    """Replace the week's `retouch.artifact_quality` rows with those in `files` (Parquet, the
    table's Arrow schema), duplicates set, in one transaction. DuckDB reads the files in
    streaming fashion: the week's rows are never all in this process's memory."""
    import pyarrow.dataset as pads  # only this step needs it: kept out of start-up

    measured = pads.dataset([str(p) for p in files], schema=ARTIFACT_QUALITY.arrow_schema)
    found = pa.Table.from_pylist(
        [{"artifact_id": a, "attempt": n, "duplicate_of": d} for (a, n), d in duplicates.items()],
        schema=_DUPLICATES_SCHEMA,
    )
    con.register("measured", measured)
    con.register("duplicates", found)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(_DELETE_WEEK_QUALITY, {"week": week})
            con.execute(_INSERT_MEASURED, {"week": week})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister("measured")
        con.unregister("duplicates")


def quality_summary(con: duckdb.DuckDBPyConnection, week: date) -> dict:
    """What the quality asset reports about a week: ΔE spread, failures, duplicates."""
    (row,) = fetch_dicts(con, _QUALITY_SUMMARY, {"week": week})
    return row


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
