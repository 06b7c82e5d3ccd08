"""The analysts' snapshot: the last step of every weekly run publishes a read-only copy of the
warehouse (marts included) in a storage format DuckDB 1.4 clients open, whoever started the
run (`retouch run`, the UI, a schedule or the landing sensor).

It depends on every asset without children, so it runs after everything else of the run, and
only when all of it succeeded (a failed step or blocking check skips it: readers keep the last
good snapshot). It is not a layer package: `definitions.py` adds it once the layers are known.
"""

from collections.abc import Iterable

import dagster as dg

from retouch_assets.defs.shared import OWNERS, WAREHOUSE_POOL
from retouch_assets.partitions import monthly_partitions, weekly_partitions
from retouch_assets.resources import AnalyticsSnapshotResource, WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["analytics", "snapshot"])


def snapshot_asset(upstream: Iterable[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=SNAPSHOT_KEY,
        deps=list(upstream),
        group_name="ops",
        kinds={"duckdb"},
        owners=OWNERS,
        partitions_def=weekly_partitions,
        pool=WAREHOUSE_POOL,
    )
    def analytics_snapshot(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        analytics_snapshot: AnalyticsSnapshotResource,
    ) -> dg.MaterializeResult:
        """A read-only copy of the whole warehouse for analysts and BI tools, published
        atomically (readers see the previous copy or the new one, never a partial file)."""
        from retouch_assets.warehouse import write_snapshot

        # The run's own connection is closed while the copy reads the file (read-only).
        with warehouse.released():
            path = write_snapshot(
                warehouse.path,
                analytics_snapshot.path,
                storage_version=analytics_snapshot.storage_version,
                lock_timeout_s=warehouse.lock_timeout_s,
            )
        context.log.info(f"analyst snapshot published: {path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path.resolve())),
                "storage_version": analytics_snapshot.storage_version,
                "bytes": path.stat().st_size,
            }
        )

    return analytics_snapshot


def sinks(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The assets of `defs` no other asset depends on (read from their specs: resolving the
    graph would need the resources)."""
    keys: set[dg.AssetKey] = set()
    upstream: set[dg.AssetKey] = set()
    for definition in defs.assets or ():
        if getattr(definition, "partitions_def", None) == monthly_partitions:
            continue  # the monthly report is no part of a weekly run
        if isinstance(definition, dg.AssetsDefinition):
            specs = list(definition.specs)
        elif isinstance(definition, dg.AssetSpec):
            specs = [definition]
        else:
            continue
        for spec in specs:
            keys.add(spec.key)
            upstream.update(dep.asset_key for dep in spec.deps)
    return sorted(keys - upstream, key=lambda k: k.to_user_string())
