"""The dbt metrics layer as Dagster assets: every table dbt builds in `dbt_metrics/` is an asset
of group `metrics` keyed as the table (`marts/fct_kpi_daily`), its sources are the Python
layers' assets (`retouch/generations`, ...), and its dbt tests are asset checks.

One weekly step runs `dbt build` for the partition's weeks, in the warehouse pool, on the
run's warehouse file: the run's own DuckDB connection is closed while dbt (a child process)
writes, and opened again afterwards.
"""

import io
import json
import shutil
import warnings
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from retouch_assets.defs.shared import WAREHOUSE_POOL
from retouch_assets.partitions import weekly_partitions
from retouch_assets.resources import WarehouseResource


def dbt_vars(start: datetime, end: datetime, warehouse_path: str) -> dict[str, str]:
    """The `--vars` of one run: its weeks [start, end) as ISO dates (a single-run backfill
    spans several weeks) and the warehouse file, absolute (dbt runs in dbt_metrics/)."""
    return {
        "week_start": start.date().isoformat(),
        "week_end": end.date().isoformat(),
        "duckdb_path": str(Path(warehouse_path).resolve()),
    }


class _DebugLines(io.TextIOBase):
    """A text stream that sends each line written to it to a logger at debug level."""

    def __init__(self, log: Any):
        self._log, self._partial = log, ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._log.debug(line)
        return len(text)


def quiet_events(events: Iterator[Any], log: Any) -> Iterator[Any]:
    """dagster-dbt echoes every dbt log line to stdout, which would bury the `retouch run`
    summary: the echo goes to the step's debug log instead (dbt.log keeps the full log), only
    while dbt's events are read, never while Dagster handles them."""
    sink = _DebugLines(log)
    while True:
        with redirect_stdout(sink):
            event = next(events, None)
        if event is None:
            return
        yield event


def build_metrics_assets(project: DbtProject) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="dbt_metrics",
        partitions_def=weekly_partitions,
        pool=WAREHOUSE_POOL,
    )
    def dbt_metrics(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """Build the dbt marts of the partition's weeks and run the dbt tests on them."""
        window = context.partition_time_window
        args = [
            "build",
            "--vars",
            json.dumps(dbt_vars(window.start, window.end, warehouse.path)),
            # Every command parses anew (new vars, its own target folder): nothing to gain from
            # saving parse state or writing artifacts that nothing reads (a second of CPU).
            "--no-partial-parse",
            "--no-write-json",
        ]
        with warehouse.released():
            with warnings.catch_warnings():
                # dagster-dbt calls its own deprecated `context.op`: nothing to act on here.
                warnings.simplefilter("ignore", DeprecationWarning)
                invocation = dbt.cli(args, context=context)
            yield from quiet_events(iter(invocation.stream()), context.log)
        # Each command has its own target folder (artifacts, dbt.log); a failed one is kept.
        shutil.rmtree(invocation.target_path, ignore_errors=True)

    return dbt_metrics
