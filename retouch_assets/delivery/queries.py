"""Named queries of the delivery layer. Gate names and phases reach the SQL as parameters."""

from contextlib import suppress
from datetime import date

import duckdb

from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.gates.tables import GATE_RESULTS
from retouch_assets.vocabulary import RENDITION, Gate
from retouch_assets.warehouse import fetch_dicts, insert


def replace_renditions(
    con: duckdb.DuckDBPyConnection, week: date, rows: list[dict], gate_rows: list[dict]
) -> None:
    """The week's renditions and the delivery gate's rendition rows, replaced in one
    transaction (the gate's other rows, written by `evaluate_gates`, stay as they are)."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM retouch.renditions WHERE week = $week", {"week": week})
        con.execute(
            "DELETE FROM retouch.gate_results WHERE week = $week AND gate = $gate "
            "AND phase = $phase",
            {"week": week, "gate": Gate.DELIVERY, "phase": RENDITION},
        )
        insert(con, RENDITIONS, rows)
        insert(con, GATE_RESULTS, gate_rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        with suppress(duckdb.Error):  # `insert` could not unregister inside the failed one
            con.unregister("incoming")
        raise


_WEEK_RENDITIONS = """
SELECT artifact_id, attempt, channel, format, width, height, quality, bytes, max_bytes,
       delta_e_mean, ssim, within_budget, meets_floor, mime, path, sha256, unsigned_sha256,
       c2pa_input_sha256
FROM retouch.renditions WHERE week = $week
ORDER BY artifact_id, attempt, channel, format, width
"""


def week_renditions(con: duckdb.DuckDBPyConnection, week: date) -> dict[tuple, list[dict]]:
    """(artifact_id, attempt) -> its renditions of the week."""
    out: dict[tuple, list[dict]] = {}
    for row in fetch_dicts(con, _WEEK_RENDITIONS, {"week": week}):
        out.setdefault((row["artifact_id"], row["attempt"]), []).append(row)
    return out


_SUMMARY = """
SELECT channel, count(*) AS renditions,
       count(*) FILTER (WHERE NOT within_budget) AS over_budget,
       count(*) FILTER (WHERE NOT meets_floor) AS below_floor,
       count(*) FILTER (WHERE within_budget AND meets_floor) AS ok,
       sum(bytes) AS bytes
FROM retouch.renditions
GROUP BY channel ORDER BY channel
"""


def summary_by_channel(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Renditions per channel over every week: count, over budget, below floor, ok, bytes."""
    return fetch_dicts(con, _SUMMARY)


_MISSING_ALT = """
SELECT count(*) FROM retouch.gated_outputs o
JOIN retouch.generations g USING (artifact_id, attempt)
WHERE o.output_path IS NOT NULL AND (g.alt_text IS NULL OR trim(g.alt_text) = '')
"""


def published_without_alt_text(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute(_MISSING_ALT).fetchone()[0])  # type: ignore[index]
