"""The analyst snapshot: readable by a real DuckDB 1.4 client (which refuses the live file),
complete (every schema, table and view), and published atomically."""

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from retouch_assets.settings import SettingsError, settings_from_env
from retouch_assets.warehouse import connect, write_snapshot

REPO_ROOT = Path(__file__).resolve().parents[1]
# `make install` puts a DuckDB 1.4 LTS client here; a test session without it installs it once.
DUCKDB14 = REPO_ROOT / ".venv" / "duckdb14"
DUCKDB14_VERSION = "1.4.5"


@pytest.fixture(scope="session")
def duckdb14() -> Path:
    with (REPO_ROOT / ".venv" / ".duckdb14.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers install it once between them
        if not (DUCKDB14 / "duckdb").is_dir():
            subprocess.run(
                [
                    str(Path(sys.executable).with_name("uv")),
                    "pip",
                    "install",
                    "--quiet",
                    "--target",
                    str(DUCKDB14),
                    f"duckdb=={DUCKDB14_VERSION}",
                ],
                check=True,
            )
    return DUCKDB14


def _old_client(path: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run `script` in a Python whose `duckdb` is the 1.4 client."""
    env = dict(os.environ, PYTHONPATH=str(path))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


_READ_ALL = """
    import json, sys
    import duckdb
    assert duckdb.__version__.startswith("1.4."), duckdb.__version__
    con = duckdb.connect(sys.argv[1], read_only=True)
    tables = con.execute(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables "
        "ORDER BY 1, 2"
    ).fetchall()
    counts = {
        f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
        for s, t, _ in tables
    }
    print(json.dumps({"version": duckdb.__version__, "tables": tables, "counts": counts}))
"""


def test_a_duckdb_14_client_opens_the_snapshot_of_the_sample_run(sample_run, tmp_path, duckdb14):
    target = write_snapshot(sample_run.db, tmp_path / "analytics.duckdb")
    result = _old_client(duckdb14, _READ_ALL, str(target))
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["version"] == DUCKDB14_VERSION
    with duckdb.connect(str(sample_run.db), read_only=True) as con:
        expected = {
            f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
            for s, t in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
    assert seen["counts"] == expected  # every schema and table, every row
    assert seen["counts"]["business.overlay"] > 0 and seen["counts"]["retouch.generations"] > 0
    # The live warehouse is in the writing DuckDB's own format: the old client refuses it,
    # which is what the snapshot is for (and proves the reader really is the old one).
    live = _old_client(duckdb14, _READ_ALL, str(sample_run.db))
    assert live.returncode != 0 and "version" in live.stderr.lower()


def test_views_and_extra_schemas_are_copied_and_the_file_is_read_only(tmp_path, duckdb14):
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.fct AS SELECT range AS id, 1.5::DECIMAL(18,4) AS amount FROM range(3)"
        )
        con.execute("CREATE VIEW marts.fct_total AS SELECT sum(amount) AS total FROM marts.fct")
    target = write_snapshot(db, tmp_path / "deep" / "analytics.duckdb")
    script = """
        import sys, duckdb
        con = duckdb.connect(sys.argv[1], read_only=True)
        print(con.execute("SELECT total FROM marts.fct_total").fetchone()[0])
    """
    result = _old_client(duckdb14, script, str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4.5000"
    assert target.stat().st_mode & 0o222 == 0  # published read-only
    assert sorted(p.name for p in target.parent.iterdir()) == ["analytics.duckdb"]


def test_a_failed_snapshot_leaves_the_previous_one_and_no_temporary_file(tmp_path):
    db = tmp_path / "w.duckdb"
    with connect(db) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS v")
    target = write_snapshot(db, tmp_path / "analytics.duckdb")
    before = target.read_bytes()
    with pytest.raises(ValueError, match="storage version"):
        write_snapshot(db, target, storage_version="v1.4.0'); DROP TABLE t; --")
    with pytest.raises(duckdb.Error):
        write_snapshot(db, target, storage_version="v0.0.1")  # a version DuckDB does not know
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analytics.duckdb", "w.duckdb"]


_READER = """
    import json, sys, time
    from pathlib import Path
    import duckdb
    target, stop = sys.argv[1], Path(sys.argv[2])
    seen, errors = {}, []
    while not stop.exists():
        try:
            con = duckdb.connect(target, read_only=True)
            try:
                versions = con.execute(
                    "SELECT min(v), max(v), count(*) FROM t"
                ).fetchone()
            finally:
                con.close()
        except Exception as exc:  # a partial or missing file would land here
            errors.append(str(exc))
            continue
        key = f"{versions[0]}-{versions[1]}-{versions[2]}"
        seen[key] = seen.get(key, 0) + 1
    print(json.dumps({"seen": seen, "errors": errors[:5], "error_count": len(errors)}))
"""


def test_readers_during_publication_see_the_old_or_the_new_snapshot_never_a_partial_one(
    tmp_path,
):
    db, target, stop = tmp_path / "w.duckdb", tmp_path / "analytics.duckdb", tmp_path / "stop"
    rows = 200_000
    with connect(db) as con:
        con.execute("CREATE TABLE t AS SELECT 0 AS v, range AS i FROM range($n)", {"n": rows})
    write_snapshot(db, target)
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_READER), str(target), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for version in range(1, 9):
            with connect(db) as con:
                con.execute("UPDATE t SET v = $v", {"v": version})
            write_snapshot(db, target)
            time.sleep(0.02)
    finally:
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    report = json.loads(out)
    assert report["error_count"] == 0, report["errors"]
    # Every read saw one whole snapshot: a single version across all its rows.
    assert report["seen"], "the reader never read"
    for key in report["seen"]:
        low, high, count = key.split("-")
        assert low == high and int(count) == rows, key
    assert len(report["seen"]) > 1  # it read while publications replaced the file


def test_snapshot_settings_come_from_the_environment_and_are_checked():
    settings = settings_from_env(
        {
            "RETOUCH_ANALYTICS_PATH": "/srv/bi/analytics.duckdb",
            "RETOUCH_ANALYTICS_STORAGE_VERSION": "v1.3.0",
            "RETOUCH_BUSINESS_DIR": "/srv/business",
        }
    )
    assert settings.analytics_path == "/srv/bi/analytics.duckdb"
    assert settings.analytics_storage_version == "v1.3.0"
    assert {"analytics_path", "business_dir"} <= settings.from_env
    defaults = settings_from_env({})
    assert (defaults.analytics_path, defaults.analytics_storage_version) == (
        "data/analytics.duckdb",
        "v1.4.0",
    )
    assert defaults.business_dir == "data/business"
    with pytest.raises(SettingsError, match="RETOUCH_ANALYTICS_STORAGE_VERSION"):
        settings_from_env({"RETOUCH_ANALYTICS_STORAGE_VERSION": "1.4"})


def test_every_weekly_run_publishes_the_snapshot_whoever_starts_it(sample_run):
    """The job itself (as the UI, a schedule or the sensor run it) ends with the snapshot,
    beside the warehouse when no path is configured."""
    import dagster as dg

    snapshot = Path(sample_run.settings.analytics_file)
    assert snapshot == sample_run.db.with_name("analytics.duckdb") and snapshot.is_file()
    for result in sample_run.results.values():
        keys = {e.asset_key for e in result.get_asset_materialization_events()}
        assert dg.AssetKey(["analytics", "snapshot"]) in keys
    with duckdb.connect(str(snapshot), read_only=True) as con:
        copied = con.execute("SELECT count(*) FROM retouch.generations").fetchone()
    assert copied == sample_run.query("SELECT count(*) FROM retouch.generations")[0]
