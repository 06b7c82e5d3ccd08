"""The DuckDB warehouse: how a table is declared (once: its DDL and its Arrow schema both come
from the declaration), connections that always close, idempotent partition writes (delete the
partition, insert it again, in one transaction), and queries returning plain rows.

Each layer declares its own tables in its `tables.py`; `retouch_assets.migrations` creates and
upgrades them. No Dagster import: assets reach the warehouse through the `Warehouse` resource.
"""

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from retouch_assets.errors import WarehouseLocked

# DuckDB allows one writer per file; a second process gets one of these while the lock is held.
_LOCK_MESSAGES = ("Could not set lock on file", "Conflicting lock is held")


@dataclass(frozen=True)
class ColumnType:
    """A column type in both worlds: DuckDB SQL and Arrow."""

    sql: str
    arrow: pa.DataType


VARCHAR = ColumnType("VARCHAR", pa.string())
JSON = ColumnType("JSON", pa.string())  # written as JSON text, stored as DuckDB JSON
BIGINT = ColumnType("BIGINT", pa.int64())
INTEGER = ColumnType("INTEGER", pa.int32())
DOUBLE = ColumnType("DOUBLE", pa.float64())
FLOAT = ColumnType("FLOAT", pa.float32())
BOOLEAN = ColumnType("BOOLEAN", pa.bool_())
DATE = ColumnType("DATE", pa.date32())
TIMESTAMPTZ = ColumnType("TIMESTAMPTZ", pa.timestamp("us", tz="UTC"))


def list_of(item: ColumnType) -> ColumnType:
    return ColumnType(f"{item.sql}[]", pa.list_(item.arrow))


def struct_of(**fields: ColumnType) -> ColumnType:
    sql = ", ".join(f"{name} {t.sql}" for name, t in fields.items())
    return ColumnType(f"STRUCT({sql})", pa.struct([(n, t.arrow) for n, t in fields.items()]))


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True
    default: str | None = None  # a SQL literal, e.g. "0"


def column(name: str, type_: ColumnType, *, required: bool = False, default: str | None = None):
    return Column(name, type_, nullable=not required, default=default)


@dataclass(frozen=True)
class Table:
    """One warehouse table: its columns, and the columns one write replaces (its partition).

    No PRIMARY KEY constraints: DuckDB checks them eagerly, so deleting a week and inserting the
    same keys again in one transaction would fail. Uniqueness is enforced by the code that builds
    the rows and verified by checks. Statements are built only from these constant names, never
    from a key, a config value or file contents; values are always parameters.
    """

    name: str  # "<schema>.<table>"
    columns: tuple[Column, ...]
    description: str
    partition_by: tuple[str, ...] = ("week",)

    @property
    def schema_name(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def key_path(self) -> list[str]:
        """The asset key of the table's asset: its schema and name."""
        return self.name.split(".")

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.type.arrow) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column_ddl(self, c: Column) -> str:
        not_null = "" if c.nullable else " NOT NULL"
        default = f" DEFAULT {c.default}" if c.default is not None else ""
        return f"{c.name} {c.type.sql}{default}{not_null}"

    @property
    def ddl(self) -> str:
        body = ",\n    ".join(self.column_ddl(c) for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body}\n)"

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        """Rows shaped as this table's Arrow schema (missing keys become NULL)."""
        return pa.Table.from_pylist(list(rows), schema=self.arrow_schema)


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
            if not any(m in str(exc) for m in _LOCK_MESSAGES):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"{path}: still locked by another process after {lock_timeout_s:g} s "
                    f"({_holder(str(exc))}). Fix: wait for that run to finish, or raise "
                    "RETOUCH_LOCK_TIMEOUT_S"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        # TIMESTAMPTZ values come back in the session's zone: UTC, whatever the host's, so
        # reports and file names made from them are the same on every machine.
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


# Run locks this process holds, by lock file, with how many holders: a CLI run holds the lock
# and the Dagster runs it starts in the same process take it again without waiting.
_HELD: dict[Path, int] = {}
_HELD_GUARD = threading.Lock()


@contextmanager
def exclusive_run(path: str | Path, *, timeout_s: float = 60.0) -> Iterator[None]:
    """Hold `<warehouse>.run.lock` for a whole run, so two runs on one warehouse (two `retouch
    run`s, a UI materialization, a sign-off, an alert delivery) never interleave their writes.
    Another process waits up to `timeout_s`, then fails naming the holder (its pid, start time
    and command line, kept in the lock file). Re-entrant within a process."""
    lock_path = Path(f"{path}.run.lock").resolve()
    with _HELD_GUARD:
        if _HELD.get(lock_path):
            _HELD[lock_path] += 1
            held_here = True
        else:
            held_here = False
    if held_here:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[lock_path] -= 1
        return
    with _locked(lock_path, path, timeout_s):
        with _HELD_GUARD:
            _HELD[lock_path] = 1
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD.pop(lock_path, None)


@contextmanager
def _locked(lock_path: Path, path: str | Path, timeout_s: float) -> Iterator[None]:
    import fcntl
    import os
    import sys
    from datetime import UTC, datetime

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown holder"
                    raise WarehouseLocked(
                        f"{path}: another run holds it ({holder}); waited {timeout_s:g} s. "
                        "Fix: wait for that run to finish, or raise RETOUCH_LOCK_TIMEOUT_S"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()} since {started}: {' '.join(sys.argv)[:300]}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# DuckDB 1.4 LTS (what most BI drivers embed) cannot open files in the writing DuckDB's own
# storage format; a snapshot in this storage version it can.
SNAPSHOT_STORAGE_VERSION = "v1.4.0"
_STORAGE_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")


def write_snapshot(
    path: str | Path,
    target: str | Path,
    *,
    storage_version: str = SNAPSHOT_STORAGE_VERSION,
    lock_timeout_s: float = 60.0,
) -> Path:
    """Publish a read-only copy of the warehouse for analysts and BI tools at `target`: every
    schema, table and view (the dbt marts too) copied into a new file in `storage_version`'s
    format, written under a temporary name in the target's folder and renamed over the old copy
    (`os.replace`), so a reader opens either the previous snapshot or the new one, never a
    partial file, and never blocks a run. Call it while no run writes (the CLI holds the run
    lock); the warehouse is opened read-only."""
    if not _STORAGE_VERSION.match(storage_version):
        raise ValueError(f"{storage_version!r} is not a DuckDB storage version such as v1.4.0")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name per call (DuckDB must create the file itself, so only the name is reserved).
    temp = target.with_name(f".{target.name}.{os.getpid()}.{time.time_ns()}.tmp")
    try:
        with connect(path, read_only=True, lock_timeout_s=lock_timeout_s) as con:
            (source,) = con.execute("SELECT current_database()").fetchone() or ("",)
            con.execute(
                f"ATTACH {_sql_string(str(temp))} AS analytics_snapshot "
                f"(STORAGE_VERSION {_sql_string(storage_version)}, READ_WRITE)"
            )
            try:
                con.execute(f"COPY FROM DATABASE {_identifier(source)} TO analytics_snapshot")
            finally:
                con.execute("DETACH analytics_snapshot")  # checkpoints: no WAL is left behind
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        temp.chmod(0o444)  # published for reading; the next run replaces it whole
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        temp.with_name(temp.name + ".wal").unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
    return target


def _sql_string(text: str) -> str:
    """A SQL string literal (ATTACH takes no parameters): quotes doubled, NUL refused."""
    if "\x00" in text:
        raise ValueError("a path with a NUL byte")
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _holder(message: str) -> str:
    """The lock holder as DuckDB names it (process id and command line), or the message."""
    for line in message.splitlines():
        if "PID" in line or "held in" in line:
            return line.strip()
    return message.strip().splitlines()[-1] if message.strip() else "unknown holder"


def replace_partition(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[Table, Sequence[Mapping[str, Any]]],
    **partition: Any,
) -> None:
    """Replace one partition of each table with the given rows, all in one transaction.
    `partition` holds a value for every `partition_by` column (e.g. week=..., source=...)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for table, rows in tables.items():
            missing = [c for c in table.partition_by if c not in partition]
            if missing:
                raise ValueError(f"replacing {table.name} needs {', '.join(missing)}")
            where = " AND ".join(f"{c} = ${c}" for c in table.partition_by)
            con.execute(
                f"DELETE FROM {table.name} WHERE {where}",
                {c: partition[c] for c in table.partition_by},
            )
            insert(con, table, rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        _unregister(con)
        raise


def insert(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_existing: str | tuple[str, ...] | None = None,
) -> None:
    """Insert rows by column name; `skip_existing` names the key column(s) whose values
    already in the table are left as they are (append-only tables and caches)."""
    incoming = table.rows(rows)
    if incoming.num_rows == 0:
        return
    keys = (skip_existing,) if isinstance(skip_existing, str) else (skip_existing or ())
    unknown = [k for k in keys if k not in table.column_names]
    if unknown:  # key names are declared column names, never text from data
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
    match = " AND ".join(f"t.{k} = incoming.{k}" for k in keys)
    guard = f" WHERE NOT EXISTS (SELECT 1 FROM {table.name} t WHERE {match})" if keys else ""
    con.register("incoming", incoming)
    try:
        con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM incoming{guard}")
    finally:
        _unregister(con)


def _unregister(con: duckdb.DuckDBPyConnection) -> None:
    # Refused inside an aborted transaction: the caller rolls back and unregisters again.
    with suppress(duckdb.Error):
        con.unregister("incoming")


def fetch_dicts(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of a parameterised query as dicts."""
    cursor = con.execute(sql, dict(params or {}))
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def fetch_value(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> Any:
    """The first column of the first row of a parameterised query (None when no row)."""
    rows = con.execute(sql, dict(params or {})).fetchall()
    return rows[0][0] if rows else None
