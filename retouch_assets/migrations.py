"""Numbered schema migrations, recorded in the warehouse (`meta.migrations`).

`migrate` runs once per run (the warehouse resource's setup) or once per CLI command: it applies
the migrations a warehouse has not recorded yet, each in its own transaction, and then checks
that every declared table has exactly its declared columns. A warehouse written by an earlier
layout (tables present, no `meta.migrations`) upgrades in place: migration 1 creates only what
is missing and migration 2 adds the columns that layout added with ALTER statements.

To change a table: edit its declaration in the layer's `tables.py` (new warehouses get it from
migration 1) and append a migration that brings existing warehouses to it, idempotently
(`ADD COLUMN IF NOT EXISTS`, ...).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from retouch_assets.baselines import tables as baselines_tables
from retouch_assets.business import tables as business_tables
from retouch_assets.delivery import tables as delivery_tables
from retouch_assets.gates import tables as gates_tables
from retouch_assets.ingest import tables as ingest_tables
from retouch_assets.ops import tables as ops_tables
from retouch_assets.qa import tables as qa_tables
from retouch_assets.quality import tables as quality_tables
from retouch_assets.slo import tables as slo_tables
from retouch_assets.warehouse import Table

ALL_TABLES: tuple[Table, ...] = (
    *ingest_tables.TABLES,
    *quality_tables.TABLES,
    *gates_tables.TABLES,
    *slo_tables.TABLES,
    *baselines_tables.TABLES,
    *ops_tables.TABLES,
    *business_tables.TABLES,
    *qa_tables.TABLES,
    *delivery_tables.TABLES,
)


def _create_declared_tables(con: duckdb.DuckDBPyConnection) -> None:
    for schema in dict.fromkeys(t.schema_name for t in ALL_TABLES):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table in ALL_TABLES:
        con.execute(table.ddl)


def _statements(*sql: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def run(con: duckdb.DuckDBPyConnection) -> None:
        for statement in sql:
            con.execute(statement)

    return run


def _create_tables(*tables: Table) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def run(con: duckdb.DuckDBPyConnection) -> None:
        for schema in dict.fromkeys(t.schema_name for t in tables):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for table in tables:
            con.execute(table.ddl)

    return run


def _then(
    *steps: Callable[[duckdb.DuckDBPyConnection], None],
) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def run(con: duckdb.DuckDBPyConnection) -> None:
        for step in steps:
            step(con)

    return run


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create the declared tables of every layer", _create_declared_tables),
    Migration(
        2,
        "columns the first layout added after its first release",
        _statements(
            "ALTER TABLE retouch.gated_outputs ADD COLUMN IF NOT EXISTS hold_reason VARCHAR",
            # Events written before events had a source all came from the gates.
            "ALTER TABLE ops.events ADD COLUMN IF NOT EXISTS source VARCHAR DEFAULT 'gates'",
        ),
    ),
    Migration(
        3,
        "published files carry their content hash",
        _statements(
            "ALTER TABLE retouch.gated_outputs ADD COLUMN IF NOT EXISTS output_sha256 VARCHAR"
        ),
    ),
    Migration(
        4,
        "published sidecars carry their content hash",
        _statements(
            "ALTER TABLE retouch.gated_outputs ADD COLUMN IF NOT EXISTS sidecar_sha256 VARCHAR"
        ),
    ),
    Migration(
        5,
        "CLIP scores, the text-embedding cache and template locks",
        _then(
            _statements(
                "ALTER TABLE retouch.artifact_quality "
                "ADD COLUMN IF NOT EXISTS prompt_drift_status VARCHAR",
                "ALTER TABLE retouch.artifact_quality "
                "ADD COLUMN IF NOT EXISTS clip_model_hash VARCHAR",
                "ALTER TABLE retouch.artifact_quality "
                "ADD COLUMN IF NOT EXISTS clip_untrained BOOLEAN",
            ),
            _create_tables(
                quality_tables.CLIP_SCORES,
                quality_tables.TEXT_EMBEDDINGS,
                gates_tables.TEMPLATE_LOCKS,
            ),
        ),
    ),
    Migration(
        6,
        "business layer tables",
        _statements(
            "CREATE SCHEMA IF NOT EXISTS business",
            *(table.ddl for table in business_tables.TABLES),
        ),
    ),
    Migration(7, "the QA template backlog", _create_tables(*qa_tables.TABLES)),
    Migration(
        11,
        "SLO exclusion windows: excluded events in the SLI facts and budgets, applied windows",
        _then(
            _statements(
                "ALTER TABLE slo.sli_facts ADD COLUMN IF NOT EXISTS excluded_good BIGINT DEFAULT 0",
                "ALTER TABLE slo.sli_facts "
                "ADD COLUMN IF NOT EXISTS excluded_total BIGINT DEFAULT 0",
                "ALTER TABLE slo.sli_facts ADD COLUMN IF NOT EXISTS exclusion_ids VARCHAR[]",
                "ALTER TABLE slo.error_budget ADD COLUMN IF NOT EXISTS excluded BIGINT DEFAULT 0",
            ),
            _create_tables(slo_tables.EXCLUSION_WINDOWS),
        ),
    ),
    Migration(
        12,
        "sharpness of each artifact and its master in the artifact quality rows",
        _statements(
            "ALTER TABLE retouch.artifact_quality ADD COLUMN IF NOT EXISTS sharpness DOUBLE",
            "ALTER TABLE retouch.artifact_quality ADD COLUMN IF NOT EXISTS master_sharpness DOUBLE",
            "ALTER TABLE retouch.artifact_quality ADD COLUMN IF NOT EXISTS sharpness_ratio DOUBLE",
        ),
    ),
    Migration(
        13,
        "channel renditions, the web delivery manifest, alt text and usage rights",
        _then(
            _create_tables(*delivery_tables.TABLES),
            _statements(
                *(
                    f"ALTER TABLE retouch.generations ADD COLUMN IF NOT EXISTS {name} {kind.sql}"
                    for name, kind in ingest_tables.RIGHTS_COLUMNS
                ),
                "ALTER TABLE retouch.gated_outputs "
                "ADD COLUMN IF NOT EXISTS delivery_manifest_path VARCHAR",
                "ALTER TABLE retouch.gated_outputs "
                "ADD COLUMN IF NOT EXISTS delivery_manifest_sha256 VARCHAR",
            ),
        ),
    ),
    Migration(
        14,
        "published images are C2PA-signed: the unsigned PNG's hash and the signing input's",
        _statements(
            "ALTER TABLE retouch.gated_outputs ADD COLUMN IF NOT EXISTS unsigned_sha256 VARCHAR",
            "ALTER TABLE retouch.gated_outputs ADD COLUMN IF NOT EXISTS c2pa_input_sha256 VARCHAR",
        ),
    ),
)


_LEDGER = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.migrations (
    version BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
);
"""


class SchemaDrift(RuntimeError):
    """The warehouse's columns differ from the declarations after every migration ran."""


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute(_LEDGER)
    return {v for (v,) in con.execute("SELECT version FROM meta.migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now."""
    done = applied_versions(con)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            migration.apply(con)
            con.execute(
                "INSERT INTO meta.migrations VALUES ($v, $name, $at)",
                {"v": migration.version, "name": migration.name, "at": datetime.now(UTC)},
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    check_schema(con)
    return applied


def schema_differences(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every declared table whose columns (names and order-insensitive types) differ."""
    actual: dict[str, dict[str, str]] = {}
    for schema, table, name, data_type in con.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
    ).fetchall():
        actual.setdefault(f"{schema}.{table}", {})[name] = data_type
    problems = []
    for table in ALL_TABLES:
        columns = actual.get(table.name)
        if columns is None:
            problems.append(f"{table.name}: missing")
            continue
        declared = {c.name: _normalise(c.type.sql) for c in table.columns}
        found = {name: _normalise(t) for name, t in columns.items()}
        if declared != found:
            extra = sorted(set(found) - set(declared))
            lacking = sorted(set(declared) - set(found))
            changed = sorted(n for n in set(found) & set(declared) if found[n] != declared[n])
            problems.append(
                f"{table.name}: extra {extra}, missing {lacking}, retyped {changed}".replace(
                    "extra [], ", ""
                )
            )
    return problems


def _normalise(sql_type: str) -> str:
    text = sql_type.upper().replace(" ", "").replace('"', "")
    return text.replace("TIMESTAMPWITHTIMEZONE", "TIMESTAMPTZ")


def check_schema(con: duckdb.DuckDBPyConnection) -> None:
    problems = schema_differences(con)
    if problems:
        raise SchemaDrift(
            "the warehouse does not match the table declarations: "
            + "; ".join(problems)
            + ". Fix: add a migration to retouch_assets/migrations.py"
        )
