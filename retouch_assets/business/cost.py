"""The reprocess-cost meter (the article's formula: retries × time × staff cost rate).

Every reprocessing attempt (attempt > 1) costs its processing time plus the human review time
spent on it, in hours, times the hourly staff cost rate of its template (`cost:` in
retouch-slo.yaml: `template_rates`, else `staff_rate_per_hour`). Amounts are exact decimals
rounded to 4 places per attempt (half up); weekly and monthly figures are sums of those.
Months are calendar months of `generated_at` in UTC, so a week spanning two months adds to
both. No Dagster, no SQL.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from retouch_assets.config import Cost

_PLACES = Decimal("0.0001")
_HOUR = Decimal(3600)
# A higher hourly rate is a typo; it would also overflow DECIMAL(18,4) over a month of retries.
_MAX_RATE = 1_000_000.0


def money(value: Decimal) -> Decimal:
    return value.quantize(_PLACES, rounding=ROUND_HALF_UP)


def month_of(moment: datetime) -> date:
    """The first day of the UTC calendar month of `moment`."""
    return moment.astimezone(UTC).date().replace(day=1)


def months_of_week(week: date) -> list[date]:
    """The calendar months a Monday week touches (one or two)."""
    return sorted({week.replace(day=1), (week + timedelta(days=6)).replace(day=1)})


def _rate(cost: Cost, template_id: str) -> Decimal:
    """The template's hourly rate as money; a rate that is not a finite amount (YAML `.inf`)
    is a configuration error naming the field to fix, not a decimal crash."""
    value = cost.rate_for(template_id)
    if not math.isfinite(value) or value > _MAX_RATE:
        field = (
            f"cost.template_rates.{template_id}"
            if template_id in cost.template_rates
            else "cost.staff_rate_per_hour"
        )
        raise ValueError(
            f"retouch-slo.yaml {field} is {value}: an hourly rate must be a finite amount "
            f"up to {_MAX_RATE:,.0f} {cost.currency}"
        )
    return money(Decimal(str(value)))


def attempt_costs(attempts: Iterable[Mapping[str, Any]], cost: Cost) -> list[dict[str, Any]]:
    """`business.reprocess_cost` rows: one per reprocessing attempt, with its cost."""
    rows = []
    for a in attempts:
        if int(a["attempt"]) <= 1:
            continue  # a first attempt is production, not reprocessing
        processing_s = Decimal(int(a["processing_ms"])) / 1000
        review_s = Decimal(str(a.get("review_seconds") or 0))
        rate = _rate(cost, a["template_id"])
        rows.append(
            {
                "week": a["week"],
                "month": month_of(a["generated_at"]),
                "artifact_id": a["artifact_id"],
                "attempt": int(a["attempt"]),
                "campaign_id": a["campaign_id"],
                "template_id": a["template_id"],
                "channel": a["channel"],
                "processing_seconds": float(processing_s),
                "review_seconds": float(review_s),
                "rate_per_hour": rate,
                "cost": money((processing_s + review_s) / _HOUR * rate),
                "currency": cost.currency,
            }
        )
    return rows


def weekly_costs(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`business.cost_weekly` rows: the attempts' costs summed per week, campaign, template."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["week"], r["campaign_id"], r["template_id"], r["currency"])].append(r)
    out = []
    for (week, campaign, template, currency), items in sorted(groups.items()):
        out.append(
            {
                "week": week,
                "campaign_id": campaign,
                "template_id": template,
                "retries": len(items),
                "processing_hours": sum(r["processing_seconds"] for r in items) / 3600,
                "review_hours": sum(r["review_seconds"] for r in items) / 3600,
                "cost": sum((r["cost"] for r in items), Decimal(0)),
                "currency": currency,
            }
        )
    return out
