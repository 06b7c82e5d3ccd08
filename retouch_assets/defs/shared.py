"""Names and small helpers every layer's wiring shares."""

import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from retouch_assets.partitions import weekly_partitions

# Every step that opens the DuckDB file runs in this pool; dagster.yaml limits it to one.
WAREHOUSE_POOL = "retouch_warehouse"
OWNERS = ["team:creative-ops-data"]

GENERATIONS = dg.AssetKey(["retouch", "generations"])
QUARANTINE = dg.AssetKey(["retouch", "quarantine"])
ARTIFACT_QUALITY = dg.AssetKey(["retouch", "artifact_quality"])
GATE_RESULTS = dg.AssetKey(["retouch", "gate_results"])
GATE_DECISIONS = dg.AssetKey(["retouch", "gate_decisions"])
REVIEW_QUEUE = dg.AssetKey(["retouch", "review_queue"])
EVENTS = dg.AssetKey(["ops", "events"])
GATED_OUTPUTS = dg.AssetKey(["retouch", "gated_outputs"])
SLI_FACTS = dg.AssetKey(["slo", "sli_facts"])
ERROR_BUDGET = dg.AssetKey(["slo", "error_budget"])
BURN_ALERTS = dg.AssetKey(["slo", "burn_alerts"])
WEEKLY_BASELINES = dg.AssetKey(["baselines", "weekly"])
VERSION_GUARDRAIL = dg.AssetKey(["baselines", "version_guardrail"])
ALERT_OUTBOX = dg.AssetKey(["ops", "alert_outbox"])
INCIDENTS = dg.AssetKey(["ops", "incidents"])
INCIDENT_EVENTS = dg.AssetKey(["ops", "incident_events"])
RELIABILITY_REPORT = dg.AssetKey(["ops", "reliability_report"])


def weekly_asset(group: str, kinds: tuple[str, ...] = ("duckdb", "python")) -> dict:
    """The keyword arguments every weekly warehouse asset shares: its layer, kinds, owners,
    Monday-week partitions and the single-writer pool."""
    return {
        "group_name": group,
        "kinds": set(kinds),
        "owners": OWNERS,
        "partitions_def": weekly_partitions,
        "pool": WAREHOUSE_POOL,
    }


def layer_spec(key: dg.AssetKey, group: str, description: str, deps=()) -> dg.AssetSpec:
    """One output of a multi-asset step, in its layer (the step carries partitions and pool)."""
    return dg.AssetSpec(
        key,
        description=description,
        deps=list(deps),
        group_name=group,
        kinds={"duckdb", "python"},
        owners=OWNERS,
    )


def weekly_check(asset: dg.AssetKey, name: str, blocking: bool = False):
    """A partition-aware asset check on one week, in the warehouse pool.

    Partition-aware checks are a Dagster 1.13 preview that this project relies on on purpose;
    its PreviewWarning is silenced here and only here."""

    def decorate(fn):
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


def week_window(week) -> tuple["datetime", "datetime"]:
    """[Monday 00:00 UTC, next Monday 00:00 UTC) of a week's date."""
    start = datetime.combine(week, datetime.min.time(), tzinfo=UTC)
    return start, start + timedelta(days=7)


def markdown_table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def progress_logger(
    context: dg.OpExecutionContext, what: str, every_s: float = 5.0
) -> Callable[[int, int], None]:
    """A progress callback that logs `done/total` at most every few seconds, and at the end."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= every_s:
            last[0] = now
            context.log.info(f"{what}: {done}/{total}")

    return report


def fetch_dicts(con, sql: str, params: dict) -> list[dict]:
    """Rows of a parameterised query as dicts."""
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
