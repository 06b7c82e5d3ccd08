"""Connections always close; a week is replaced atomically."""

from datetime import date

import duckdb
import pyarrow as pa
import pytest

from retouch_assets.warehouse import QUARANTINE_SCHEMA, connect, ensure_schema, replace_weeks


def _quarantine_rows(n, week):
    rows = [
        {
            "batch_id": "b",
            "line_no": i,
            "artifact_id": None,
            "reason_code": "x",
            "reason": "x: y",
            "raw": "{}",
            "week": week,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def test_connection_closes_when_the_body_raises(tmp_path):
    with pytest.raises(RuntimeError), connect(tmp_path / "w.duckdb") as con:
        held = con
        raise RuntimeError("asset failed")
    with pytest.raises(duckdb.ConnectionException):
        held.execute("SELECT 1")


def test_replacing_a_week_is_idempotent_and_leaves_other_weeks(tmp_path):
    week, other = date(2026, 10, 5), date(2026, 10, 12)
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schema(con)
        replace_weeks(con, other, {"retouch.quarantine": _quarantine_rows(2, other)})
        for _ in range(2):
            replace_weeks(con, week, {"retouch.quarantine": _quarantine_rows(3, week)})
        counts = con.execute(
            "SELECT week, count(*) FROM retouch.quarantine GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert counts == [(week, 3), (other, 2)]


def test_a_failed_replace_keeps_the_previous_rows(tmp_path):
    week = date(2026, 10, 5)
    broken = _quarantine_rows(1, week).set_column(3, "reason_code", pa.array([None], pa.string()))
    with connect(tmp_path / "w.duckdb") as con:
        ensure_schema(con)
        replace_weeks(con, week, {"retouch.quarantine": _quarantine_rows(2, week)})
        with pytest.raises(duckdb.ConstraintException):
            replace_weeks(con, week, {"retouch.quarantine": broken})  # NOT NULL violated
        assert con.execute("SELECT count(*) FROM retouch.quarantine").fetchone() == (2,)
