"""Pure logic of the business overlay: the Core Web Vitals rating of an LCP P75, Spearman rank
correlation, and the drift-to-outcome rows of `business.drift_outcomes`. No Dagster, no SQL."""

import math
from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any

# Core Web Vitals thresholds for LCP at P75 (web.dev): good ≤ 2.5 s, poor > 4.0 s.
LCP_GOOD_MS = 2500.0
LCP_POOR_MS = 4000.0

DRIFT_METRICS = ("colour_fail_rate", "delta_e_mean", "prompt_drift_mean")
# Support tickets are compared per 1,000 clicks: a raw count mostly ranks campaigns by size.
OUTCOME_METRICS = ("cvr", "ctr", "lcp_p75_ms", "support_tickets_per_1k_clicks")
WINDOWS = (1, 4)  # weeks: the week alone, and the four weeks ending with it
MIN_PAIRS = 3  # fewer pairs than this: no coefficient at all


class LcpRating(StrEnum):
    """`business.lcp_weekly.rating`: the Core Web Vitals band of the P75."""

    GOOD = "good"
    NEEDS_IMPROVEMENT = "needs_improvement"
    POOR = "poor"


def lcp_rating(p75_ms: float) -> LcpRating:
    if p75_ms <= LCP_GOOD_MS:
        return LcpRating.GOOD
    if p75_ms <= LCP_POOR_MS:
        return LcpRating.NEEDS_IMPROVEMENT
    return LcpRating.POOR


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson correlation of the tie-averaged ranks); None when either side
    does not vary or there are fewer than MIN_PAIRS pairs."""
    if len(xs) != len(ys):
        raise ValueError("spearman needs pairs")
    if len(xs) < MIN_PAIRS:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _outcome(row: Mapping[str, Any], metric: str) -> float | None:
    if metric == "support_tickets_per_1k_clicks":
        tickets, clicks = row.get("support_tickets"), row.get("clicks")
        return None if tickets is None or not clicks else 1000.0 * tickets / clicks
    value = row.get(metric)
    return None if value is None else float(value)


def _strength(rho: float) -> str:
    size = abs(rho)
    word = "weak" if size < 0.3 else "moderate" if size < 0.6 else "strong"
    direction = "higher drift goes with higher" if rho > 0 else "higher drift goes with lower"
    return f"{word}: {direction}"


def caveat(n: int, rho: float | None, window_weeks: int, week: date, outcome: str) -> str:
    """The plain-language reading of one coefficient, always saying it is not causal."""
    scope = (
        f"the {n} campaign × channel rows of the week of {week}"
        if window_weeks == 1
        else f"the {n} campaign × channel × week rows of the {window_weeks} weeks to {week}"
    )
    if rho is None:
        why = "too few rows" if n < MIN_PAIRS else "one side does not vary"
        return f"No coefficient across {scope}: {why}."
    small = " With fewer than 10 rows, read it as an anecdote." if n < 10 else ""
    return (
        f"Correlation across {scope} ({_strength(rho)} {outcome}), not causation: campaigns "
        f"differ in audience, offer and timing, and any of these can move both.{small}"
    )


def drift_outcome_rows(
    week: date, rows_by_window: Mapping[int, Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """One row per window × drift metric × outcome metric: n pairs with both values, rho."""
    out = []
    for window_weeks, rows in rows_by_window.items():
        for drift in DRIFT_METRICS:
            for outcome in OUTCOME_METRICS:
                pairs = [
                    (float(r[drift]), y)
                    for r in rows
                    if r.get(drift) is not None and (y := _outcome(r, outcome)) is not None
                ]
                rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
                out.append(
                    {
                        "week": week,
                        "window_weeks": window_weeks,
                        "drift_metric": drift,
                        "outcome_metric": outcome,
                        "n": len(pairs),
                        "spearman_rho": rho,
                        "caveat": caveat(len(pairs), rho, window_weeks, week, outcome),
                    }
                )
    return out


def lcp_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`business.lcp_weekly` rows from the per-template LCP query, with their rating."""
    return [dict(r, rating=lcp_rating(float(r["lcp_p75_ms"]))) for r in rows]


def week_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The week's overall CTR and CVR (ratios of sums over campaigns and channels) and ΔE mean
    (weighted by artifacts), as floats for the Dagster UI to plot over partitions; a figure
    with no data is left out rather than shown as 0."""

    def total(name: str) -> float:
        return float(sum(r[name] or 0 for r in rows))

    impressions, clicks, conversions = total("impressions"), total("clicks"), total("conversions")
    weighted = [(r["delta_e_mean"], r["artifacts"]) for r in rows if r["delta_e_mean"] is not None]
    artifacts = sum(n for _, n in weighted)
    out: dict[str, float] = {}
    if impressions > 0:
        out["ctr"] = clicks / impressions
    if clicks > 0:
        out["cvr"] = conversions / clicks
    if artifacts > 0:
        out["delta_e_mean"] = sum(v * n for v, n in weighted) / artifacts
    return out
