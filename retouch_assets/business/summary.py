"""The business lines of `retouch run`'s summary: business inputs accounted for, the worst
week-over-week CVR drop with that week's drift, and the reprocess cost of the latest month.

The worst drop is the one that lost the most conversions (the CVR change times the week's
clicks), so a small cell's noise does not outrank a large channel's real loss."""

import duckdb

from retouch_assets.business.tables import COST_MONTHLY, KPI_DAILY, OVERLAY, QUARANTINE, RUM_LCP
from retouch_assets.warehouse import fetch_dicts, fetch_value

_WORST_CVR_DROP = f"""
SELECT o.week, o.campaign_id, o.channel, o.cvr, o.cvr_wow_change, o.clicks,
       o.colour_fail_rate, o.colour_fail_rate_wow_change, o.delta_e_mean,
       p.delta_e_mean AS previous_delta_e_mean
FROM {OVERLAY.name} o
LEFT JOIN {OVERLAY.name} p
    ON p.week = o.week - INTERVAL 7 DAY AND p.campaign_id = o.campaign_id
    AND p.channel = o.channel
WHERE o.cvr_wow_change < 0
ORDER BY o.cvr_wow_change * o.clicks, o.week, o.campaign_id, o.channel
LIMIT 1
"""

_LATEST_MONTH_COST = f"""
SELECT month, currency, sum(cost) AS cost, sum(retries)::BIGINT AS retries
FROM {COST_MONTHLY.name}
WHERE month = (SELECT max(month) FROM {COST_MONTHLY.name})
GROUP BY ALL ORDER BY currency
"""


def business_summary(con: duckdb.DuckDBPyConnection, business_dir: str) -> list[str]:
    """Summary lines (each indented two spaces) from the business tables."""
    kpi = fetch_value(con, f"SELECT count(*) FROM {KPI_DAILY.name}")
    beacons = fetch_value(con, f"SELECT count(*) FROM {RUM_LCP.name}")
    reasons = con.execute(
        f"SELECT reason_code, count(*) FROM {QUARANTINE.name} GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    rows = fetch_value(con, f"SELECT count(*) FROM {OVERLAY.name}")
    quarantined = sum(n for _, n in reasons)
    if not kpi and not beacons and not quarantined:
        out = [f"  business inputs: none in {business_dir} (the overlay has quality columns only)"]
    else:
        out = [
            f"  business inputs from {business_dir}: {kpi} KPI rows, {beacons} LCP beacons, "
            f"{quarantined} quarantined"
            + (" (" + ", ".join(f"{r} {n}" for r, n in reasons) + ")" if reasons else "")
        ]
    out.append(f"  business overlay: {rows} week × campaign × channel rows")
    worst = fetch_dicts(con, _WORST_CVR_DROP)
    if worst:
        w = worst[0]
        drift = [f"colour fail rate {_pct(w['colour_fail_rate'])}"]
        if w["colour_fail_rate_wow_change"] is not None:
            drift[0] += f" ({_pp(w['colour_fail_rate_wow_change'])} week over week)"
        if w["delta_e_mean"] is not None:
            previous = w["previous_delta_e_mean"]
            drift.append(
                f"ΔE mean {w['delta_e_mean']:.2f}"
                + (f" (was {previous:.2f})" if previous is not None else "")
            )
        out.append(
            f"  worst CVR drop: week {w['week']} {w['campaign_id']} / {w['channel']}: "
            f"CVR {_pct(w['cvr'])} ({_pp(w['cvr_wow_change'])} week over week, about "
            f"{-w['cvr_wow_change'] * w['clicks']:.0f} conversions lost); "
            f"that week {', '.join(drift)}"
        )
    for c in fetch_dicts(con, _LATEST_MONTH_COST):
        out.append(
            f"  reprocess cost {c['month']:%Y-%m} (the latest month with data): "
            f"{c['cost']:,.2f} {c['currency']} for {c['retries']} retries"
        )
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _pp(value: float) -> str:
    return f"{value * 100:+.2f} pp"
