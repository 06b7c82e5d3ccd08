"""Event-based SLIs over per-artifact facts, error budgets, multi-window multi-burn-rate
alerts (Google SRE Workbook, "Alerting on SLOs") and budget policy states.

Everything is computed in event time (`generated_at`) for a given evaluation instant, never
the wall clock, so a backfill reproduces the history the incremental runs wrote.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from retouch_assets.config import AlertWindow, BudgetPolicy, Slo

OK, FREEZE_NEW_WORK, SLO_FREEZE, EXHAUSTED = "ok", "freeze_new_work", "slo_freeze", "exhausted"
FROZEN_STATES = (SLO_FREEZE, EXHAUSTED)
OVERALL = "overall"

# The facts an SLI can read, as columns of the facts frame (see FACTS_SQL).
_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}

# One row per artifact attempt with everything an SLI may count. `passed_gates`: no blocking
# gate failed in its final measurement (colour, accessibility, input integrity).
FACTS_SQL = """
SELECT g.artifact_id, g.attempt, g.generated_at, g.campaign_id, g.template_id, g.channel,
       g.processing_ms / 1000.0 AS processing_seconds,
       q.delta_e_mean, q.hist_delta, q.min_contrast_ratio, q.wcag_aa_pass,
       fc.final_delta_e_mean,
       coalesce(ff.failed, 0) = 0 AS passed_gates
FROM retouch.generations g
JOIN retouch.artifact_quality q USING (artifact_id, attempt)
LEFT JOIN (
    SELECT artifact_id, attempt, count(*) AS failed FROM retouch.gate_results
    WHERE final AND NOT passed AND gate IN ('colour_fidelity', 'accessibility', 'input_integrity')
    GROUP BY ALL
) ff USING (artifact_id, attempt)
LEFT JOIN (
    SELECT artifact_id, attempt, value AS final_delta_e_mean FROM retouch.gate_results
    WHERE final AND gate = 'colour_fidelity' AND metric = 'delta_e_mean'
) fc USING (artifact_id, attempt)
WHERE g.generated_at >= $start AND g.generated_at < $end
ORDER BY g.generated_at, g.artifact_id, g.attempt
"""


def burn_factor(window: AlertWindow, period: timedelta) -> float:
    """Burn rate at which `budget_consumed` of the period's budget is spent in the long window:
    0.02 × 30 d / 1 h = 14.4."""
    return window.budget_consumed * (period / window.long)


def budget_consumed(good: int, total: int, objective: float) -> float:
    """(1 − SLI) / (1 − objective); 0 with no events."""
    if total == 0:
        return 0.0
    return (1.0 - good / total) / (1.0 - objective)


def policy_state(consumed: float, policy: BudgetPolicy) -> str:
    if consumed >= policy.exhausted_at:
        return EXHAUSTED
    if consumed >= policy.slo_freeze_at:
        return SLO_FREEZE
    if consumed >= policy.freeze_new_work_at:
        return FREEZE_NEW_WORK
    return OK


def sli_events(facts: pd.DataFrame, slo: Slo) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, good) masks over the facts rows for one SLO."""
    metric = slo.indicator.metric
    if metric == "reprocess_success":
        values = facts["passed_gates"].to_numpy(dtype=object)
        eligible = facts["attempt"].to_numpy() > 1
    else:
        values = facts[metric].to_numpy(dtype=object)
        eligible = pd.notna(facts[metric]).to_numpy()
    good = np.zeros(len(facts), dtype=bool)
    if eligible.any():
        chosen = values[eligible]
        threshold = slo.indicator.threshold
        chosen = chosen.astype(bool) if isinstance(threshold, bool) else chosen.astype(float)
        good[eligible] = _OPS[slo.indicator.op](chosen, threshold)
    return eligible, good & eligible


def scopes(facts: pd.DataFrame, slo: Slo) -> list[tuple[str, str | None, np.ndarray]]:
    """(scope label, dimension, row mask): overall, then each value of each dimension."""
    result = [(OVERALL, None, np.ones(len(facts), dtype=bool))]
    for dimension in slo.dimensions:
        for value in sorted(facts[dimension].dropna().unique()):
            result.append(
                (f"{dimension}={value}", dimension, (facts[dimension] == value).to_numpy())
            )
    return result


def _seconds(moments) -> np.ndarray:
    """Seconds since the epoch, whatever the datetime resolution (pandas 3 keeps DuckDB's µs)."""
    series = pd.to_datetime(pd.Series(moments), utc=True)
    return (series - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


@dataclass(frozen=True)
class WindowCounts:
    good: np.ndarray
    total: np.ndarray


def window_counts(
    times: np.ndarray, good: np.ndarray, ends: np.ndarray, length: float
) -> WindowCounts:
    """Good and total events in [end − length, end) for every end (seconds; times sorted)."""
    cum_good = np.concatenate([[0], np.cumsum(good)])
    upper = np.searchsorted(times, ends, side="left")
    lower = np.searchsorted(times, ends - length, side="left")
    return WindowCounts(cum_good[upper] - cum_good[lower], upper - lower)


def burn_rates(counts: WindowCounts, objective: float) -> np.ndarray:
    bad = counts.total - counts.good
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(counts.total > 0, bad / np.maximum(counts.total, 1), 0.0)
    return ratio / (1.0 - objective)


@dataclass(frozen=True)
class BudgetRow:
    slo: str
    scope: str
    dimension: str | None
    good: int
    total: int
    sli: float | None
    objective: float
    budget_consumed: float
    policy_state: str
    low_traffic: bool
    burn: list[dict]


def evaluate_budget(
    facts: pd.DataFrame,
    slo: Slo,
    window_end: datetime,
    windows: list[AlertWindow],
    policy: BudgetPolicy,
) -> list[BudgetRow]:
    """The error budget of every scope at `window_end` over the SLO's rolling window, with
    the burn rate of each alert window (long and short) at that instant."""
    longest = max([slo.window, *(w.long for w in windows)])
    facts = within(facts, window_end - longest, window_end)
    eligible, good = sli_events(facts, slo)
    times = _seconds(facts["generated_at"]) if len(facts) else np.zeros(0)
    end = np.array([window_end.timestamp()])
    rows = []
    for label, dimension, mask in scopes(facts, slo):
        keep = mask & eligible
        t, g = times[keep], good[keep]
        budget = window_counts(t, g, end, slo.window.total_seconds())
        n_good, n_total = int(budget.good[0]), int(budget.total[0])
        burn = []
        for w in windows:
            long_c = window_counts(t, g, end, w.long.total_seconds())
            short_c = window_counts(t, g, end, w.short.total_seconds())
            factor = burn_factor(w, slo.window)
            long_rate = float(burn_rates(long_c, slo.objective)[0])
            short_rate = float(burn_rates(short_c, slo.objective)[0])
            burn.append(
                {
                    "severity": w.severity,
                    "long_window": _label(w.long),
                    "short_window": _label(w.short),
                    "factor": round(factor, 6),
                    "burn_long": round(long_rate, 6),
                    "burn_short": round(short_rate, 6),
                    "events_long": int(long_c.total[0]),
                    "firing": bool(long_rate > factor and short_rate > factor),
                }
            )
        consumed = budget_consumed(n_good, n_total, slo.objective)
        rows.append(
            BudgetRow(
                slo.name,
                label,
                dimension,
                n_good,
                n_total,
                n_good / n_total if n_total else None,
                slo.objective,
                consumed,
                policy_state(consumed, policy),
                n_total < policy.low_traffic_min_events,
                burn,
            )
        )
    return rows


@dataclass(frozen=True)
class AlertEpisode:
    slo: str
    scope: str
    severity: str
    long_window: str
    short_window: str
    factor: float
    fired_at: datetime
    resolved_at: datetime | None
    peak_burn_long: float
    peak_burn_short: float
    low_traffic: bool


def evaluate_alerts(
    facts: pd.DataFrame,
    slo: Slo,
    start: datetime,
    end: datetime,
    windows: list[AlertWindow],
    policy: BudgetPolicy,
    step: timedelta = timedelta(minutes=5),
) -> list[AlertEpisode]:
    """Replay the multi-window multi-burn-rate alerts over [start, end) in event time, every
    `step`: an alert fires while the burn rates over both the long and the short window exceed
    the factor, and resolves when either drops below. Scopes with fewer events than the
    low-traffic minimum in the long window are flagged (`low_traffic`), never paged."""
    facts = within(facts, start - max(w.long for w in windows), end)
    eligible, good = sli_events(facts, slo)
    times = _seconds(facts["generated_at"]) if len(facts) else np.zeros(0)
    ticks = np.arange(
        start.timestamp() + step.total_seconds(), end.timestamp() + 1, step.total_seconds()
    )
    episodes = []
    for label, _, mask in scopes(facts, slo):
        keep = mask & eligible
        t, g = times[keep], good[keep]
        for w in windows:
            factor = burn_factor(w, slo.window)
            long_c = window_counts(t, g, ticks, w.long.total_seconds())
            short_c = window_counts(t, g, ticks, w.short.total_seconds())
            long_rate, short_rate = (
                burn_rates(long_c, slo.objective),
                burn_rates(short_c, slo.objective),
            )
            firing = (long_rate > factor) & (short_rate > factor)
            low = long_c.total < policy.low_traffic_min_events
            episodes += _episodes(
                slo.name, label, w, factor, ticks, firing, low, long_rate, short_rate
            )
    return episodes


def _episodes(
    slo_name, label, w, factor, ticks, firing, low, long_rate, short_rate
) -> list[AlertEpisode]:
    result = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], firing.astype(np.int8), [0]])))
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):
        resolved = _utc(ticks[stop]) if stop < len(ticks) else None
        result.append(
            AlertEpisode(
                slo_name,
                label,
                w.severity,
                _label(w.long),
                _label(w.short),
                round(factor, 6),
                _utc(ticks[begin]),
                resolved,
                round(float(long_rate[begin:stop].max()), 6),
                round(float(short_rate[begin:stop].max()), 6),
                bool(low[begin:stop].all()),
            )
        )
    return result


def _utc(seconds: float) -> datetime:
    return pd.Timestamp(seconds, unit="s", tz="UTC").to_pydatetime()


def _label(value: timedelta) -> str:
    from retouch_assets.config import format_duration

    return format_duration(value)


def within(facts: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The facts with start <= generated_at < end."""
    moments = pd.to_datetime(facts["generated_at"], utc=True)
    return facts[(moments >= pd.Timestamp(start)) & (moments < pd.Timestamp(end))]


def daily_sli_rows(facts: pd.DataFrame, slos: list[Slo], week) -> list[dict]:
    """`slo.sli_facts`: good and total per SLO × day × campaign × template × channel."""
    rows = []
    if facts.empty:
        return rows
    day = pd.to_datetime(facts["generated_at"], utc=True).dt.date
    for slo in slos:
        eligible, good = sli_events(facts, slo)
        frame = pd.DataFrame(
            {
                "day": day,
                "campaign_id": facts["campaign_id"],
                "template_id": facts["template_id"],
                "channel": facts["channel"],
                "good": good.astype(int),
                "total": eligible.astype(int),
            }
        )[eligible]
        grouped = frame.groupby(["day", "campaign_id", "template_id", "channel"], sort=True).sum()
        for (d, campaign, template, channel), counts in grouped.iterrows():
            rows.append(
                {
                    "week": week,
                    "slo": slo.name,
                    "day": d,
                    "campaign_id": campaign,
                    "template_id": template,
                    "channel": channel,
                    "good": int(counts["good"]),
                    "total": int(counts["total"]),
                }
            )
    return rows


def frozen_since(
    facts: pd.DataFrame,
    slo: Slo,
    window_end: datetime,
    windows: list[AlertWindow],
    policy: BudgetPolicy,
    scope: str,
    step: timedelta = timedelta(days=7),
    lookback: int = 12,
) -> datetime:
    """When the current uninterrupted freeze of `scope` began: the earliest weekly evaluation
    instant, going back from `window_end`, at which the scope was frozen without a break."""
    since = window_end
    for k in range(1, lookback + 1):
        earlier = window_end - k * step
        rows = {r.scope: r for r in evaluate_budget(facts, slo, earlier, windows, policy)}
        row = rows.get(scope)
        if row is None or row.policy_state not in FROZEN_STATES:
            break
        since = earlier
    return since
