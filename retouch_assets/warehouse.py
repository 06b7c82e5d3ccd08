"""The DuckDB warehouse: connections that always close, the table definitions, and idempotent
partition writes (delete the week, insert it again, in one transaction).

No Dagster import: assets call these functions through the `Warehouse` resource.
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

# DuckDB allows one writer per file; a second process gets this error while the lock is held.
_LOCK_MESSAGES = ("Could not set lock on file", "Conflicting lock is held")

TEXT_LAYER_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("fg", pa.string()),
        ("bg", pa.string()),
        ("bbox", pa.list_(pa.int32())),
        ("font_px", pa.float64()),
        ("bold", pa.bool_()),
    ]
)

GENERATIONS_SCHEMA = pa.schema(
    [
        ("artifact_id", pa.string()),
        ("attempt", pa.int64()),
        ("campaign_id", pa.string()),
        ("template_id", pa.string()),
        ("channel", pa.string()),
        ("retouch_version", pa.string()),
        ("model_version", pa.string()),
        ("prompt", pa.string()),
        ("prompt_version", pa.string()),
        ("prompt_hash", pa.string()),
        ("negative_prompt", pa.string()),
        ("sampler", pa.string()),
        ("seed", pa.int64()),
        ("steps", pa.int64()),
        ("cfg_scale", pa.float64()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
        ("processing_ms", pa.int64()),
        ("image", pa.string()),
        ("master", pa.string()),
        ("text_layers", pa.list_(TEXT_LAYER_TYPE)),
        ("reviewer", pa.string()),
        ("review_seconds", pa.float64()),
        ("review_labels", pa.list_(pa.string())),
        ("batch_id", pa.string()),
        ("line_no", pa.int64()),
        ("week", pa.date32()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("batch_id", pa.string()),
        ("line_no", pa.int64()),
        ("artifact_id", pa.string()),
        ("reason_code", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("week", pa.date32()),
    ]
)

# No PRIMARY KEY constraints: DuckDB checks them eagerly, so deleting a week and inserting the
# same keys again in one transaction would fail. Uniqueness is enforced by the ingest triage
# and verified by the batch expectations.
DDL = """
CREATE SCHEMA IF NOT EXISTS retouch;
CREATE TABLE IF NOT EXISTS retouch.generations (
    artifact_id VARCHAR NOT NULL,
    attempt BIGINT NOT NULL,
    campaign_id VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    retouch_version VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    prompt VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    prompt_hash VARCHAR NOT NULL,
    negative_prompt VARCHAR,
    sampler VARCHAR,
    seed BIGINT NOT NULL,
    steps BIGINT NOT NULL,
    cfg_scale DOUBLE NOT NULL,
    generated_at TIMESTAMPTZ NOT NULL,
    processing_ms BIGINT NOT NULL,
    image VARCHAR NOT NULL,
    master VARCHAR NOT NULL,
    text_layers STRUCT(
        id VARCHAR, text VARCHAR, fg VARCHAR, bg VARCHAR, bbox INTEGER[], font_px DOUBLE,
        bold BOOLEAN
    )[],
    reviewer VARCHAR,
    review_seconds DOUBLE,
    review_labels VARCHAR[],
    batch_id VARCHAR NOT NULL,
    line_no BIGINT NOT NULL,
    week DATE NOT NULL
);
CREATE TABLE IF NOT EXISTS retouch.quarantine (
    batch_id VARCHAR NOT NULL,
    line_no BIGINT NOT NULL,
    artifact_id VARCHAR,
    reason_code VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    raw VARCHAR NOT NULL,
    week DATE NOT NULL
);
"""

# Table name -> the only statement that may clear one week of it. Kept as literals so no SQL is
# ever assembled from a key or a config value.
_DELETE_WEEK = {
    "retouch.generations": "DELETE FROM retouch.generations WHERE week = $week",
    "retouch.quarantine": "DELETE FROM retouch.quarantine WHERE week = $week",
}
_INSERT_ALL = {
    "retouch.generations": "INSERT INTO retouch.generations BY NAME SELECT * FROM incoming",
    "retouch.quarantine": "INSERT INTO retouch.quarantine BY NAME SELECT * FROM incoming",
}


@contextmanager
def connect(
    path: str | Path, *, read_only: bool = False, lock_timeout_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting up to `lock_timeout_s` for another writer to finish, and
    close the connection whatever happens (DuckDB holds the file lock until close)."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not any(m in str(exc) for m in _LOCK_MESSAGES) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def replace_weeks(
    con: duckdb.DuckDBPyConnection, week: date, tables: Mapping[str, pa.Table]
) -> None:
    """Replace one week of each table with the given rows, all in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, rows in tables.items():
            con.execute(_DELETE_WEEK[table], {"week": week})
            con.register("incoming", rows)
            con.execute(_INSERT_ALL[table])
            con.unregister("incoming")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        con.unregister("incoming")  # a view of the caller's Arrow table; harmless if absent
        raise
