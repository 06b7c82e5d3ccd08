"""What every layer's Dagster wiring shares: asset keys from table declarations, the keyword
arguments of weekly assets and checks, Markdown metadata and progress logging."""

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import dagster as dg

from retouch_assets.ops.markup import markdown_text
from retouch_assets.partitions import week_from_key, weekly_partitions
from retouch_assets.warehouse import Table

# Every step that opens the DuckDB file runs in this pool; dagster.yaml limits it to one.
WAREHOUSE_POOL = "retouch_warehouse"
# CLIP scoring (the only GPU work) runs in its own pool, so two runs never share the GPU; its
# short warehouse reads and writes wait for the file's lock like any writer.
GPU_POOL = "retouch_gpu"
# Under dagster-celery a step goes to the queue its op tag names (no run config can route it):
# GPU steps to the `gpu` queue, served by workers on GPU machines (docs/deployment.md); other
# executors ignore the tag. The name is `dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG`.
CELERY_QUEUE_TAG = "dagster-celery/queue"
GPU_QUEUE = "gpu"
POOL_OP_TAGS = {GPU_POOL: {CELERY_QUEUE_TAG: GPU_QUEUE}}
OWNERS = ["team:creative-ops-data"]


def key_of(table: Table) -> dg.AssetKey:
    """A table's asset key: `retouch.generations` is `retouch/generations`."""
    return dg.AssetKey(table.key_path)


def weekly_keyed_asset(
    key: dg.AssetKey,
    group: str,
    deps: Iterable[dg.AssetKey | dg.AssetDep] = (),
    kinds: Iterable[str] = ("duckdb", "python"),
    description: str | None = None,
    pool: str = WAREHOUSE_POOL,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a weekly asset with an explicit key: its layer, kinds, owners, Monday-week
    partitions and its pool (the single-writer pool unless given). Without a description,
    the docstring is used."""
    return dg.asset(
        key=key,
        description=description,
        deps=list(deps),
        group_name=group,
        kinds=set(kinds),
        owners=OWNERS,
        partitions_def=weekly_partitions,
        pool=pool,
        op_tags=POOL_OP_TAGS.get(pool),
    )


def weekly_table_asset(
    table: Table,
    group: str,
    deps: Iterable[dg.AssetKey | dg.AssetDep] = (),
    kinds: Iterable[str] = ("duckdb", "python"),
    pool: str = WAREHOUSE_POOL,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """Decorate a weekly asset that writes `table`: its key and description (from the table
    declaration), layer, kinds, owners, Monday-week partitions and pool."""
    return weekly_keyed_asset(
        key_of(table), group, deps=deps, kinds=kinds, description=table.description, pool=pool
    )


def table_spec(table: Table, group: str, deps: Iterable = ()) -> dg.AssetSpec:
    """One output of a multi-asset step (the step carries partitions and pool)."""
    return dg.AssetSpec(
        key_of(table),
        description=table.description,
        deps=list(deps),
        group_name=group,
        kinds={"duckdb", "python"},
        owners=OWNERS,
    )


def weekly_multi_asset(
    name: str, specs: Sequence[dg.AssetSpec]
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """A step writing several tables of one week in one transaction."""
    return dg.multi_asset(
        name=name, specs=list(specs), partitions_def=weekly_partitions, pool=WAREHOUSE_POOL
    )


def weekly_check(
    asset: dg.AssetKey, name: str, blocking: bool = False
) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """A partition-aware asset check on one week, in the warehouse pool.

    Partition-aware checks are a Dagster 1.13 preview that this project relies on on purpose;
    its PreviewWarning is silenced here and only here."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetChecksDefinition:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(
                asset=asset,
                name=name,
                blocking=blocking,
                partitions_def=weekly_partitions,
                pool=WAREHOUSE_POOL,
            )(fn)

    return decorate


def week_of_context(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext):
    return week_from_key(context.partition_key)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A GFM table for Dagster metadata; every cell is escaped (ids, template names and other
    input text show as text: a `|` cannot break the table, `[x](url)` links nothing)."""
    lines = ["| " + " | ".join(markdown_text(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(markdown_text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md(header: Sequence[str], rows: Iterable[Sequence]) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(header, rows))


def progress_logger(context, what: str, every_s: float = 5.0) -> Callable[[int, int], None]:
    """A progress callback that logs `done/total` at most every few seconds, and at the end."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= every_s:
            last[0] = now
            context.log.info(f"{what}: {done}/{total}")

    return report
