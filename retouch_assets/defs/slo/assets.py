"""SLO layer: SLI facts, error budgets with burn rates and policy states, burn-rate alerts."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from retouch_assets.defs.shared import (
    ARTIFACT_QUALITY,
    BURN_ALERTS,
    ERROR_BUDGET,
    GATE_RESULTS,
    GENERATIONS,
    SLI_FACTS,
    WAREHOUSE_POOL,
    layer_spec,
    markdown_table,
    week_window,
    weekly_asset,
)
from retouch_assets.partitions import week_from_key, weekly_partitions
from retouch_assets.resources import RetouchConfigResource, WarehouseResource
from retouch_assets.slo.engine import (
    FACTS_SQL,
    FROZEN_STATES,
    daily_sli_rows,
    evaluate_alerts,
    evaluate_budget,
    frozen_since,
    within,
)
from retouch_assets.slo.governance import apply_config
from retouch_assets.warehouse import arrow_rows, replace_weeks

# The longest SLO window is 30 days by default; budgets read that far back, and the freeze
# start up to 12 weeks before it.
FREEZE_LOOKBACK_WEEKS = 12
_HISTORY = dg.TimeWindowPartitionMapping(start_offset=-(FREEZE_LOOKBACK_WEEKS + 5))
_FACT_DEPS = [
    dg.AssetDep(key, partition_mapping=_HISTORY)
    for key in (GENERATIONS, ARTIFACT_QUALITY, GATE_RESULTS)
]


def load_facts(con, start: datetime, end: datetime) -> pd.DataFrame:
    """Artifact facts with start <= generated_at < end (see slo.engine.FACTS_SQL)."""
    return con.execute(FACTS_SQL, {"start": start, "end": end}).df()


@dg.asset(
    key=SLI_FACTS,
    deps=[GENERATIONS, ARTIFACT_QUALITY, GATE_RESULTS],
    **weekly_asset("slo"),
)
def sli_facts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """Good and total events per SLO × day × campaign × template × channel (event time =
    generated_at)."""
    week = week_from_key(context.partition_key)
    config = retouch_config.load()
    start, end = week_window(week)
    with warehouse.connect() as con:
        facts = load_facts(con, start, end)
        rows = daily_sli_rows(facts, config.slos, week)
        replace_weeks(con, week, {"slo.sli_facts": arrow_rows("slo.sli_facts", rows)})
    totals = Counter()
    for row in rows:
        totals[(row["slo"], "good")] += row["good"]
        totals[(row["slo"], "total")] += row["total"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "week_sli": dg.MetadataValue.md(
                markdown_table(
                    ("slo", "good", "total"),
                    [
                        (s.name, totals[(s.name, "good")], totals[(s.name, "total")])
                        for s in config.slos
                    ],
                )
            ),
        }
    )


def _budget_record(week, row, window_end, window_days, since) -> dict:
    return {
        "week": week,
        "slo": row.slo,
        "scope": row.scope,
        "dimension": row.dimension,
        "window_end": window_end,
        "window_days": window_days,
        "good": row.good,
        "total": row.total,
        "sli": row.sli,
        "objective": row.objective,
        "budget_consumed": row.budget_consumed,
        "burn_rates": json.dumps(row.burn),
        "policy_state": row.policy_state,
        "frozen_since": since,
        "low_traffic": row.low_traffic,
    }


@dg.multi_asset(
    name="evaluate_slos",
    specs=[
        layer_spec(
            ERROR_BUDGET,
            "slo",
            "Per SLO and scope (overall, each campaign, template, channel) at the end "
            "of the week in event time: good, total, SLI, budget consumed, burn rate of every "
            "alert window, policy state (ok, freeze_new_work, slo_freeze, exhausted).",
            _FACT_DEPS,
        ),
        layer_spec(
            BURN_ALERTS,
            "slo",
            "Multi-window multi-burn-rate alert episodes of the week (SRE Workbook): "
            "fired when both the long and the short window burn faster than the factor.",
            _FACT_DEPS,
        ),
    ],
    partitions_def=weekly_partitions,
    pool=WAREHOUSE_POOL,
)
def evaluate_slos(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    retouch_config: RetouchConfigResource,
):
    """Error budgets, policy states and burn-rate alerts for the week, from artifact facts."""
    week = week_from_key(context.partition_key)
    config = retouch_config.load()
    start, end = week_window(week)
    windows, policy = config.alerting.windows, config.budget_policy
    longest = max([*(s.window for s in config.slos), *(w.long for w in windows)])
    history_start = start - longest - timedelta(weeks=FREEZE_LOOKBACK_WEEKS + 1)
    with warehouse.connect() as con:
        apply_config(con, config, retouch_config.path, datetime.now(UTC))
        facts = load_facts(con, history_start, end)

    budgets, alerts, events = [], [], []
    for slo in config.slos:
        previous = {r.scope: r for r in evaluate_budget(facts, slo, start, windows, policy)}
        for row in evaluate_budget(facts, slo, end, windows, policy):
            since = None
            if row.policy_state in FROZEN_STATES:
                since = frozen_since(
                    facts, slo, end, windows, policy, row.scope, lookback=FREEZE_LOOKBACK_WEEKS
                )
            budgets.append(
                _budget_record(week, row, end, slo.window.total_seconds() / 86400, since)
            )
            before = previous[row.scope].policy_state if row.scope in previous else "ok"
            if before != row.policy_state:
                events.append(_policy_event(week, end, row, before))
        for episode in evaluate_alerts(
            within(facts, start - longest, end), slo, start, end, windows, policy
        ):
            alerts.append({"week": week, **episode.__dict__})

    with warehouse.connect() as con:
        replace_weeks(
            con,
            week,
            {
                "slo.error_budget": arrow_rows("slo.error_budget", budgets),
                "slo.burn_alerts": arrow_rows("slo.burn_alerts", alerts),
                "ops.events": arrow_rows("ops.events", events),
            },
            events_source="slo",
        )

    overall = [b for b in budgets if b["scope"] == "overall"]
    states = Counter(b["policy_state"] for b in budgets)
    context.log.info(
        "budgets at "
        + end.isoformat()
        + ": "
        + ", ".join(f"{b['slo']} {b['budget_consumed']:.0%} {b['policy_state']}" for b in overall)
    )
    yield dg.MaterializeResult(
        asset_key=ERROR_BUDGET,
        metadata={
            "dagster/row_count": len(budgets),
            "window_end": end.isoformat(),
            "overall": dg.MetadataValue.md(
                markdown_table(
                    ("slo", "good", "total", "SLI", "objective", "budget consumed", "state"),
                    [
                        (
                            b["slo"],
                            b["good"],
                            b["total"],
                            f"{b['sli']:.4f}" if b["sli"] is not None else "n/a",
                            b["objective"],
                            f"{b['budget_consumed']:.1%}",
                            b["policy_state"],
                        )
                        for b in overall
                    ],
                )
            ),
            **{f"scopes/{state}": n for state, n in sorted(states.items())},
            "freeze_new_work_scopes": [
                f"{b['slo']}/{b['scope']}"
                for b in budgets
                if b["policy_state"] == "freeze_new_work"
            ][:50],
        },
    )
    fired = [a for a in alerts if not a["low_traffic"]]
    yield dg.MaterializeResult(
        asset_key=BURN_ALERTS,
        metadata={
            "dagster/row_count": len(alerts),
            "pages": sum(1 for a in fired if a["severity"] == "page"),
            "tickets": sum(1 for a in fired if a["severity"] == "ticket"),
            "low_traffic_flagged": len(alerts) - len(fired),
        },
    )


def _policy_event(week, at: datetime, row, before: str) -> dict:
    import hashlib

    key = f"{week}|policy|{row.slo}|{row.scope}|{before}->{row.policy_state}"
    return {
        "event_id": hashlib.sha256(key.encode()).hexdigest()[:32],
        "week": week,
        "event_time": at,
        "event_type": "policy_state_changed",
        "template_id": row.scope.split("=", 1)[1] if row.dimension == "template_id" else None,
        "campaign_id": row.scope.split("=", 1)[1] if row.dimension == "campaign_id" else None,
        "channel": row.scope.split("=", 1)[1] if row.dimension == "channel" else None,
        "details": json.dumps(
            {
                "slo": row.slo,
                "scope": row.scope,
                "from": before,
                "to": row.policy_state,
                "budget_consumed": round(row.budget_consumed, 4),
                "low_traffic": row.low_traffic,
            }
        ),
        "source": "slo",
    }
