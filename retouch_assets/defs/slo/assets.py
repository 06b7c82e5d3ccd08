"""SLO layer: SLI facts, error budgets with burn rates and policy states, burn-rate alerts."""

from collections import Counter
from datetime import UTC, datetime

import dagster as dg

from retouch_assets import faults
from retouch_assets.defs.shared import (
    key_of,
    md,
    table_spec,
    week_of_context,
    weekly_multi_asset,
    weekly_table_asset,
)
from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.faults import checkpoint
from retouch_assets.gates.tables import GATE_RESULTS
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.ops.tables import EVENTS
from retouch_assets.partitions import week_window
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.resources import RetouchConfigResource, WarehouseResource
from retouch_assets.slo.engine import (
    FREEZE_LOOKBACK_WEEKS,
    daily_sli_rows,
    evaluate_week,
    history_start,
)
from retouch_assets.slo.governance import apply_config, refuse_unsigned_exclusions
from retouch_assets.slo.queries import load_facts
from retouch_assets.slo.tables import BURN_ALERTS, ERROR_BUDGET, SLI_FACTS
from retouch_assets.vocabulary import OVERALL, AlertSeverity, EventSource, PolicyState
from retouch_assets.warehouse import replace_partition

# Renditions: their delivery-gate rows (in gate_results) count toward the delivery SLO, so the
# facts wait for them (see defs/delivery/assets.py for why this makes no cycle).
_FACTS = [key_of(t) for t in (GENERATIONS, ARTIFACT_QUALITY, GATE_RESULTS, RENDITIONS)]
# Budgets read the longest SLO window (30 days by default, 5 weeks) before each of the weeks
# a freeze's start is searched back over.
_HISTORY = dg.TimeWindowPartitionMapping(start_offset=-(FREEZE_LOOKBACK_WEEKS + 5))
_FACT_HISTORY = [dg.AssetDep(key, partition_mapping=_HISTORY) for key in _FACTS]


@weekly_table_asset(SLI_FACTS, "slo", deps=_FACTS)
def sli_facts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Good and total events of every SLO per day, campaign, template and channel; events
    inside an exclusion window counted apart (refused while a retroactive window is not
    signed off)."""
    week = week_of_context(context)
    config = retouch_config.load()
    slos = config.slos
    with warehouse.connect() as con:
        refuse_unsigned_exclusions(con, config, retouch_config.path, datetime.now(UTC))
        facts = load_facts(con, *week_window(week))
        rows = daily_sli_rows(facts, slos, week, config.exclusions)
        replace_partition(con, {SLI_FACTS: rows}, week=week)
    good, total, excluded = Counter(), Counter(), Counter()
    for row in rows:
        good[row["slo"]] += row["good"]
        total[row["slo"]] += row["total"]
        excluded[row["slo"]] += row["excluded_total"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "week_sli": md(
                ("slo", "good", "total", "excluded"),
                [(s.name, good[s.name], total[s.name], excluded[s.name]) for s in slos],
            ),
            "excluded_events": excluded.total(),
        }
    )


@weekly_multi_asset(
    "evaluate_slos",
    [table_spec(ERROR_BUDGET, "slo", _FACT_HISTORY), table_spec(BURN_ALERTS, "slo", _FACT_HISTORY)],
)
def evaluate_slos(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
):
    """Record the configuration and its exclusion windows (refusing unapproved relaxations and
    retroactive exclusions), then the week's error budgets, policy states and burn-rate alerts
    from artifact facts, in event time, without the excluded events; policy changes go to
    `ops.events`."""
    week = week_of_context(context)
    config = retouch_config.load()
    start, end = week_window(week)
    with warehouse.connect() as con:
        apply_config(con, config, retouch_config.path, datetime.now(UTC))
        facts = load_facts(con, history_start(config, start), end)
    result = evaluate_week(facts, config, week, start, end)
    tables = {ERROR_BUDGET: result.budgets, BURN_ALERTS: result.alerts, EVENTS: result.events}
    checkpoint(faults.SLO_EVALUATED)
    with warehouse.connect() as con:
        replace_partition(con, tables, week=week, source=EventSource.SLO)
    overall = [b for b in result.budgets if b["scope"] == OVERALL]
    context.log.info(
        f"budgets at {end.isoformat()}: "
        + ", ".join(f"{b['slo']} {b['budget_consumed']:.0%} {b['policy_state']}" for b in overall)
    )
    yield dg.MaterializeResult(
        asset_key=key_of(ERROR_BUDGET), metadata=_budget_metadata(result.budgets, end)
    )
    yield dg.MaterializeResult(
        asset_key=key_of(BURN_ALERTS), metadata=_alert_metadata(result.alerts)
    )


def _budget_metadata(budgets: list[dict], end: datetime) -> dict:
    overall = [b for b in budgets if b["scope"] == OVERALL]
    states = Counter(b["policy_state"] for b in budgets)
    return {
        "dagster/row_count": len(budgets),
        "window_end": end.isoformat(),
        "overall": md(
            ("slo", "good", "total", "excluded", "SLI", "objective", "budget consumed", "state"),
            [
                (
                    b["slo"],
                    b["good"],
                    b["total"],
                    b["excluded"],
                    f"{b['sli']:.4f}" if b["sli"] is not None else "n/a",
                    b["objective"],
                    f"{b['budget_consumed']:.1%}",
                    b["policy_state"],
                )
                for b in overall
            ],
        ),
        # Floats per SLO, so the UI plots them over the weekly partitions.
        **{
            f"sli/{b['slo']}": dg.MetadataValue.float(float(b["sli"]))
            for b in overall
            if b["sli"] is not None
        },
        **{
            f"budget_consumed/{b['slo']}": dg.MetadataValue.float(float(b["budget_consumed"]))
            for b in overall
        },
        **{f"scopes/{state}": n for state, n in sorted(states.items())},
        "freeze_new_work_scopes": [
            f"{b['slo']}/{b['scope']}"
            for b in budgets
            if b["policy_state"] == PolicyState.FREEZE_NEW_WORK
        ][:50],
    }


def _alert_metadata(alerts: list[dict]) -> dict:
    fired = Counter(a["severity"] for a in alerts if not a["low_traffic"])
    return {
        "dagster/row_count": len(alerts),
        "pages": fired[AlertSeverity.PAGE],
        "tickets": fired[AlertSeverity.TICKET],
        "low_traffic_flagged": len(alerts) - fired.total(),
    }
