"""The monthly executive report as a view: one page of quality gains and budget impact (the
KPI table, budget state per SLO, incidents, cost, business effect)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from retouch_assets.reports import charts
from retouch_assets.reports.kpi import KpiRow
from retouch_assets.reports.weekly import headline, pct
from retouch_assets.vocabulary import FROZEN_STATES, PolicyState


@dataclass
class MonthlyFacts:
    month: date  # the first day
    start: datetime  # the first instant of the month's first week (UTC)
    end: datetime  # the first instant after the month's last week (UTC)
    weeks: list[date]  # Mondays in the month: the weeks the report covers
    budget_week: date | None  # the week whose budgets are shown (the month's last with data)
    budgets: list[dict]  # every scope's budget row of budget_week
    kpis: list[KpiRow]
    kpi_periods: tuple[str, str]
    incidents: list[dict]
    cost: list[dict]  # per template, the calendar month (the grain the cost is kept in)
    previous_cost: float | None
    business: list[dict]  # overlay by campaign this month
    previous_business: list[dict]
    timelines: dict[str, str]


def budget_table(budgets: list[dict]) -> list[dict]:
    """Per SLO: SLI, budget consumed and state overall, and how many scopes are frozen."""
    frozen: dict[str, int] = defaultdict(int)
    new_work: dict[str, int] = defaultdict(int)
    for b in budgets:  # every enforceable scope, overall included (as the weekly sync counts)
        if b["low_traffic"]:
            continue
        if b["policy_state"] in FROZEN_STATES:
            frozen[b["slo"]] += 1
        elif b["policy_state"] == PolicyState.FREEZE_NEW_WORK:
            new_work[b["slo"]] += 1
    return [
        {**h, "frozen_scopes": frozen[h["slo"]], "new_work_scopes": new_work[h["slo"]]}
        for h in headline(budgets)
    ]


def business_effect(now: list[dict], before: list[dict]) -> list[dict]:
    """CVR and colour failures per campaign this month, with the change since last month."""
    previous = {r["campaign_id"]: r for r in before}
    out = []
    for r in now:
        p = previous.get(r["campaign_id"])

        def delta(key, p=p, r=r):
            if p is None or p[key] is None or r[key] is None:
                return "n/a"
            return f"{(r[key] - p[key]) * 100:+.2f} pp"

        out.append(
            {
                "campaign_id": r["campaign_id"],
                "cvr": pct(r["cvr"], 2),
                "cvr_change": delta("cvr"),
                "colour": pct(r["colour_fail_rate"]),
                "colour_change": delta("colour_fail_rate"),
                "wcag": pct(r["wcag_fail_rate"]),
                "tickets": r["tickets"],
            }
        )
    return out


def monthly_view(facts: MonthlyFacts) -> dict:
    total = sum(float(r["cost"]) for r in facts.cost)
    currency = facts.cost[0]["currency"] if facts.cost else ""
    cost_chart = None
    if facts.cost:
        cost_chart = charts.bar_chart(
            "monthly-cost",
            f"Reprocess cost by template, calendar month {facts.month:%B %Y}",
            f"Reprocess cost (retries × time × staff rate) per template in {currency}, over "
            "the calendar month (the cost is kept per calendar month).",
            [(r["template_id"], float(r["cost"])) for r in facts.cost],
            lambda v: f"{v:,.2f} {currency}",
        )
    change = None
    if facts.previous_cost:
        change = (total - facts.previous_cost) / facts.previous_cost * 100
    return {
        "month": facts.month,
        "end": facts.end,
        "weeks": facts.weeks,
        "budget_week": facts.budget_week,
        "headline": headline(facts.budgets),
        "budgets": budget_table(facts.budgets),
        "kpis": facts.kpis,
        "kpi_periods": facts.kpi_periods,
        "incidents": facts.incidents,
        "timelines": facts.timelines,
        "span": f"{facts.start:%d %b} – {facts.end - timedelta(days=1):%d %b %Y}",
        "opened": sum(1 for i in facts.incidents if i["opened_at"] >= facts.start),
        "cost_total": f"{total:,.2f} {currency}".strip(),
        "cost_change": None if change is None else f"{change:+.0f} %",
        "cost_chart": cost_chart,
        "cost": facts.cost,
        "business": business_effect(facts.business, facts.previous_business),
    }
