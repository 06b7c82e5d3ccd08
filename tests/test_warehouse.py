"""The warehouse: one declaration per table, numbered migrations (fresh and in-place upgrade of
the first layout), connections that always close, partitions replaced atomically."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from retouch_assets.ingest.tables import QUARANTINE
from retouch_assets.migrations import (
    ALL_TABLES,
    MIGRATIONS,
    SchemaDrift,
    check_schema,
    migrate,
    schema_differences,
)
from retouch_assets.warehouse import WarehouseLocked, connect, replace_partition

LEGACY = Path(__file__).parent / "data" / "legacy_layout.sql"


def _quarantine_rows(n, week, reason="x"):
    return [
        {
            "batch_id": "b",
            "line_no": i,
            "artifact_id": None,
            "reason_code": reason,
            "reason": "x: y",
            "raw": "{}",
            "week": week,
        }
        for i in range(n)
    ]


def test_every_table_is_declared_once_and_its_ddl_and_arrow_schema_agree():
    names = [t.name for t in ALL_TABLES]
    assert len(names) == len(set(names))
    assert {"retouch.clip_scores", "retouch.text_embeddings", "retouch.template_locks"} <= set(
        names
    )
    for table in ALL_TABLES:
        assert table.arrow_schema.names == table.column_names
        assert all(c.name in table.ddl for c in table.columns)


def test_a_fresh_warehouse_gets_every_migration_once(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        assert migrate(con) == [m.version for m in MIGRATIONS]
        assert migrate(con) == []  # recorded: nothing runs twice
        assert schema_differences(con) == []
        recorded = con.execute("SELECT version FROM meta.migrations ORDER BY 1").fetchall()
    assert [v for (v,) in recorded] == [m.version for m in MIGRATIONS]


def test_a_warehouse_of_the_first_layout_upgrades_in_place(tmp_path):
    week = date(2026, 10, 5)
    with connect(tmp_path / "old.duckdb") as con:
        con.execute(LEGACY.read_text())
        # Before its hold_reason ALTER, the first layout had no such column.
        con.execute("ALTER TABLE retouch.gated_outputs DROP COLUMN hold_reason")
        con.execute(
            "INSERT INTO retouch.quarantine VALUES ('b', 1, NULL, 'x', 'x: y', '{}', $w)",
            {"w": week},
        )
        con.execute(
            "INSERT INTO retouch.gated_outputs VALUES ('a', 1, $w, 'approved', [], '[]', 0.1, "
            "'/o/a.png', '/o/a.json')",
            {"w": week},
        )
        assert schema_differences(con)  # not yet the declared schema
        applied = migrate(con)
        assert applied == [m.version for m in MIGRATIONS]
        assert schema_differences(con) == []
        assert con.execute("SELECT count(*) FROM retouch.quarantine").fetchone() == (1,)
        row = con.execute(
            "SELECT output_path, hold_reason, output_sha256, sidecar_sha256 "
            "FROM retouch.gated_outputs"
        ).fetchone()
    assert row == ("/o/a.png", None, None, None)


def test_a_column_added_in_one_place_only_is_caught(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        con.execute("ALTER TABLE retouch.quarantine ADD COLUMN sneaky VARCHAR")
        with pytest.raises(SchemaDrift, match="retouch.quarantine: extra \\['sneaky'\\]"):
            check_schema(con)


def test_connection_closes_when_the_body_raises(tmp_path):
    with pytest.raises(RuntimeError), connect(tmp_path / "w.duckdb") as con:
        held = con
        raise RuntimeError("asset failed")
    with pytest.raises(duckdb.ConnectionException):
        held.execute("SELECT 1")


def test_replacing_a_week_is_idempotent_and_leaves_other_weeks(tmp_path):
    week, other = date(2026, 10, 5), date(2026, 10, 12)
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        replace_partition(con, {QUARANTINE: _quarantine_rows(2, other)}, week=other)
        for _ in range(2):
            replace_partition(con, {QUARANTINE: _quarantine_rows(3, week)}, week=week)
        counts = con.execute(
            "SELECT week, count(*) FROM retouch.quarantine GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert counts == [(week, 3), (other, 2)]


def test_a_failed_replace_keeps_the_previous_rows(tmp_path):
    week = date(2026, 10, 5)
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        replace_partition(con, {QUARANTINE: _quarantine_rows(2, week)}, week=week)
        with pytest.raises(duckdb.ConstraintException):  # NOT NULL violated
            replace_partition(con, {QUARANTINE: _quarantine_rows(1, week, None)}, week=week)
        assert con.execute("SELECT count(*) FROM retouch.quarantine").fetchone() == (2,)


def test_a_second_writer_waits_then_names_the_lock(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        migrate(con)
    import subprocess
    import sys

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True);"
            " time.sleep(30)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseLocked) as err, connect(path, lock_timeout_s=0.3):
            pass
        message = str(err.value)
        assert str(path) in message and "still locked" in message and "Fix:" in message
        assert str(holder.pid) in message  # DuckDB names the holding process
    finally:
        holder.kill()
        holder.wait()


def test_timestamps_come_back_in_utc_whatever_the_host_zone(tmp_path):
    """Reports and rollback-plan folder names are made from TIMESTAMPTZ values: the session
    zone is UTC even on a host in another zone."""
    code = (
        "from retouch_assets.warehouse import connect\n"
        f"with connect({str(tmp_path / 'w.duckdb')!r}) as con:\n"
        "    (t,) = con.execute(\"SELECT TIMESTAMPTZ '2026-01-01 10:00:00+00'\").fetchone()\n"
        "print(t.isoformat())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TZ": "Asia/Tokyo"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "2026-01-01T10:00:00+00:00"
