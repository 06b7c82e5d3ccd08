"""Event-based SLIs over per-artifact facts, error budgets, multi-window multi-burn-rate
alerts (Google SRE Workbook, "Alerting on SLOs") and budget policy states.

The facts are a polars frame, one row per artifact attempt (`slo.queries.load_facts`); the
window arithmetic is numpy over sorted event times. Everything is computed in event time
(`generated_at`) for a given evaluation instant, never the wall clock, so a backfill reproduces
the history the incremental runs wrote.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from retouch_assets.config import (
    AlertWindow,
    BudgetPolicy,
    ExclusionWindow,
    RetouchConfig,
    Slo,
    format_duration,
)
from retouch_assets.ops.events import event_row
from retouch_assets.vocabulary import (
    FROZEN_STATES,
    OVERALL,
    AlertSeverity,
    EventSource,
    EventType,
    PolicyState,
)

# Budgets are evaluated once a week; a freeze's start is searched this many weeks back.
EVALUATION_STEP = timedelta(weeks=1)
FREEZE_LOOKBACK_WEEKS = 12

_OPS: dict[str, Callable[[np.ndarray, float | bool], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
}

# The inventory columns a daily SLI row is cut by.
_DAILY_KEYS = ["day", "campaign_id", "template_id", "channel"]


def burn_factor(window: AlertWindow, period: timedelta) -> float:
    """Burn rate at which `budget_consumed` of the period's budget is spent in the long window:
    0.02 × 30 d / 1 h = 14.4."""
    return window.budget_consumed * (period / window.long)


def budget_consumed(good: int, total: int, objective: float) -> float:
    """(1 − SLI) / (1 − objective); 0 with no events."""
    if total == 0:
        return 0.0
    return (1.0 - good / total) / (1.0 - objective)


def policy_state(consumed: float, policy: BudgetPolicy) -> PolicyState:
    if consumed >= policy.exhausted_at:
        return PolicyState.EXHAUSTED
    if consumed >= policy.slo_freeze_at:
        return PolicyState.SLO_FREEZE
    if consumed >= policy.freeze_new_work_at:
        return PolicyState.FREEZE_NEW_WORK
    return PolicyState.OK


def _present(column: pl.Series) -> pl.Series:
    """Rows where a fact exists: not null (and, for floats, not NaN)."""
    present = column.is_not_null()
    if column.dtype.is_float():
        present &= ~column.is_nan().fill_null(True)
    return present


def sli_events(facts: pl.DataFrame, slo: Slo) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, good) masks over the facts rows for one SLO."""
    metric, threshold = slo.indicator.metric, slo.indicator.threshold
    if metric == "reprocess_success":
        values = facts["passed_gates"]
        eligible = (facts["attempt"] > 1).to_numpy()
    else:
        values = facts[metric]
        eligible = _present(values).to_numpy()
    good = np.zeros(len(facts), dtype=bool)
    if eligible.any():
        chosen = values.filter(pl.Series(eligible))
        chosen = chosen.cast(pl.Boolean if isinstance(threshold, bool) else pl.Float64)
        good[eligible] = _OPS[slo.indicator.op](chosen.to_numpy(), threshold)
    return eligible, good & eligible


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def exclusion_ids(
    facts: pl.DataFrame, slo: Slo, exclusions: Sequence[ExclusionWindow]
) -> np.ndarray:
    """Per facts row, the id of the exclusion window of `slo` its event falls in (start <=
    generated_at < end, and in the window's scope), or None. Where windows overlap, the one
    starting first (then the lower id) claims the event."""
    ids = np.full(len(facts), None, dtype=object)
    if not exclusions or facts.is_empty():
        return ids
    # Whole microseconds on both sides: the bounds compare exactly, whatever the time zones.
    micros = facts["generated_at"].dt.epoch("us").to_numpy()
    for window in sorted(exclusions, key=lambda w: (w.start, w.exclusion_id)):
        target = window.target
        if target.slo is not None and target.slo != slo.name:
            continue
        start = (window.start - _EPOCH) // _MICROSECOND
        end = (window.end - _EPOCH) // _MICROSECOND
        inside = (micros >= start) & (micros < end) & (ids == None)  # noqa: E711 (elementwise)
        if target.dimension is not None:
            inside &= (facts[target.dimension] == target.value).fill_null(False).to_numpy()
        ids[inside] = window.exclusion_id
    return ids


def excluded_mask(
    facts: pl.DataFrame, slo: Slo, exclusions: Sequence[ExclusionWindow]
) -> np.ndarray:
    """Rows whose event an exclusion window of `slo` leaves out."""
    return exclusion_ids(facts, slo, exclusions) != None  # noqa: E711 (elementwise)


def counted_events(
    facts: pl.DataFrame, slo: Slo, exclusions: Sequence[ExclusionWindow]
) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, good) masks like `sli_events`, less the events an exclusion window of `slo`
    leaves out: they count neither for nor against anything."""
    eligible, good = sli_events(facts, slo)
    counted = eligible & ~excluded_mask(facts, slo, exclusions)
    return counted, good & counted


def scopes(facts: pl.DataFrame, slo: Slo) -> list[tuple[str, str | None, np.ndarray]]:
    """(scope label, dimension, row mask): overall, then each value of each dimension."""
    result: list[tuple[str, str | None, np.ndarray]] = [
        (OVERALL, None, np.ones(len(facts), dtype=bool))
    ]
    for dimension in slo.dimensions:
        column = facts[dimension]
        for value in column.drop_nulls().unique().sort():
            result.append((f"{dimension}={value}", dimension, (column == value).to_numpy()))
    return result


def _seconds(facts: pl.DataFrame) -> np.ndarray:
    """`generated_at` as seconds since the epoch (float), whatever its unit and time zone."""
    return facts["generated_at"].dt.epoch("us").to_numpy() / 1e6


def within(facts: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The facts with start <= generated_at < end, in event-time order (the window counts
    search sorted times)."""
    moment = pl.col("generated_at")
    return facts.filter((moment >= start) & (moment < end)).sort(
        "generated_at", maintain_order=True
    )


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
    policy_state: PolicyState
    low_traffic: bool
    burn: list[dict]
    excluded: int = 0  # eligible events of the SLO window left out by exclusion windows


def evaluate_budget(
    facts: pl.DataFrame,
    slo: Slo,
    window_end: datetime,
    windows: list[AlertWindow],
    policy: BudgetPolicy,
    exclusions: Sequence[ExclusionWindow] = (),
) -> list[BudgetRow]:
    """The error budget of every scope at `window_end` over the SLO's rolling window, with
    the burn rate of each alert window (long and short) at that instant. Events inside an
    exclusion window count in neither (only in `excluded`)."""
    longest = max([slo.window, *(w.long for w in windows)])
    facts = within(facts, window_end - longest, window_end)
    eligible, good = sli_events(facts, slo)
    excluded = excluded_mask(facts, slo, exclusions)
    times = _seconds(facts)
    end = np.array([window_end.timestamp()])
    period = slo.window.total_seconds()
    rows = []
    for label, dimension, mask in scopes(facts, slo):
        keep = mask & eligible & ~excluded
        t, g = times[keep], good[keep]
        budget = window_counts(t, g, end, period)
        n_good, n_total = int(budget.good[0]), int(budget.total[0])
        left_out = mask & eligible & excluded
        n_excluded = int(window_counts(times[left_out], good[left_out], end, period).total[0])
        burn = []
        for w in windows:
            long_c = window_counts(t, g, end, w.long.total_seconds())
            short_c = window_counts(t, g, end, w.short.total_seconds())
            factor = burn_factor(w, slo.window)
            long_rate = float(burn_rates(long_c, slo.objective)[0])
            short_rate = float(burn_rates(short_c, slo.objective)[0])
            burn.append(
                {
                    "severity": AlertSeverity(w.severity),
                    "long_window": format_duration(w.long),
                    "short_window": format_duration(w.short),
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
                n_excluded,
            )
        )
    return rows


@dataclass(frozen=True)
class AlertEpisode:
    slo: str
    scope: str
    severity: AlertSeverity
    long_window: str
    short_window: str
    factor: float
    fired_at: datetime
    resolved_at: datetime | None
    peak_burn_long: float
    peak_burn_short: float
    low_traffic: bool


def evaluate_alerts(
    facts: pl.DataFrame,
    slo: Slo,
    start: datetime,
    end: datetime,
    windows: list[AlertWindow],
    policy: BudgetPolicy,
    step: timedelta = timedelta(minutes=5),
    exclusions: Sequence[ExclusionWindow] = (),
) -> list[AlertEpisode]:
    """Replay the multi-window multi-burn-rate alerts over [start, end) in event time, every
    `step`: an alert fires while the burn rates over both the long and the short window exceed
    the factor, and resolves when either drops below. Scopes with fewer events than the
    low-traffic minimum in the long window are flagged (`low_traffic`), never paged. Events
    inside an exclusion window are not counted."""
    facts = within(facts, start - max(w.long for w in windows), end)
    eligible, good = sli_events(facts, slo)
    eligible = eligible & ~excluded_mask(facts, slo, exclusions)
    times = _seconds(facts)
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
            long_rate = burn_rates(long_c, slo.objective)
            short_rate = burn_rates(
                window_counts(t, g, ticks, w.short.total_seconds()), slo.objective
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
    """One episode per run of consecutive firing ticks; still firing at the end: unresolved."""
    result = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], firing.astype(np.int8), [0]])))
    for begin, stop in zip(edges[::2], edges[1::2], strict=True):
        resolved = _utc(ticks[stop]) if stop < len(ticks) else None
        result.append(
            AlertEpisode(
                slo_name,
                label,
                AlertSeverity(w.severity),
                format_duration(w.long),
                format_duration(w.short),
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
    return datetime.fromtimestamp(float(seconds), UTC)


def daily_sli_rows(
    facts: pl.DataFrame,
    slos: list[Slo],
    week: date,
    exclusions: Sequence[ExclusionWindow] = (),
) -> list[dict]:
    """`slo.sli_facts`: good and total per SLO × day (UTC) × campaign × template × channel;
    events inside an exclusion window in excluded_good and excluded_total instead, with the
    ids of their windows."""
    if facts.is_empty():
        return []
    day = facts["generated_at"].dt.convert_time_zone("UTC").dt.date().alias("day")
    inventory = facts.select("campaign_id", "template_id", "channel").with_columns(day)
    counted, left_out = ~pl.col("excluded"), pl.col("excluded")
    rows = []
    for slo in slos:
        eligible, good = sli_events(facts, slo)
        ids = exclusion_ids(facts, slo, exclusions)
        daily = (
            inventory.with_columns(
                good=pl.Series(good, dtype=pl.Boolean),
                excluded=pl.Series(ids != None, dtype=pl.Boolean),  # noqa: E711 (elementwise)
                exclusion_id=pl.Series(ids.tolist(), dtype=pl.String),
            )
            .filter(pl.Series(eligible))
            .group_by(_DAILY_KEYS)
            .agg(
                good=(pl.col("good") & counted).sum().cast(pl.Int64),
                total=counted.sum().cast(pl.Int64),
                excluded_good=(pl.col("good") & left_out).sum().cast(pl.Int64),
                excluded_total=left_out.sum().cast(pl.Int64),
                exclusion_ids=pl.col("exclusion_id").drop_nulls().unique().sort(),
            )
            .sort(_DAILY_KEYS)
        )
        rows += [
            {"week": week, "slo": slo.name, **r, "exclusion_ids": r["exclusion_ids"] or None}
            for r in daily.to_dicts()
        ]
    return rows


@dataclass
class BudgetHistory:
    """The budgets of one SLO at `end` and at each evaluation step before it (`at(k)`: k steps
    back), each computed once and only when asked for."""

    facts: pl.DataFrame
    slo: Slo
    windows: list[AlertWindow]
    policy: BudgetPolicy
    end: datetime
    step: timedelta = EVALUATION_STEP
    exclusions: Sequence[ExclusionWindow] = ()
    _cache: dict[int, dict[str, BudgetRow]] = field(default_factory=dict, repr=False)

    def at(self, k: int) -> dict[str, BudgetRow]:
        """Scope → budget row, `k` steps before `end`."""
        if k not in self._cache:
            rows = evaluate_budget(
                self.facts,
                self.slo,
                self.end - k * self.step,
                self.windows,
                self.policy,
                self.exclusions,
            )
            self._cache[k] = {r.scope: r for r in rows}
        return self._cache[k]

    def frozen_since(self, scope: str, lookback: int = FREEZE_LOOKBACK_WEEKS) -> datetime:
        """When the current uninterrupted freeze of `scope` began: the earliest evaluation
        instant, going back from `end`, at which the scope was frozen without a break."""
        since = self.end
        for k in range(1, lookback + 1):
            row = self.at(k).get(scope)
            if row is None or row.policy_state not in FROZEN_STATES:
                break
            since = self.end - k * self.step
        return since


@dataclass(frozen=True)
class WeekEvaluation:
    """A week's rows of `slo.error_budget`, `slo.burn_alerts` and the SLO's `ops.events`."""

    budgets: list[dict]
    alerts: list[dict]
    events: list[dict]


def evaluate_week(
    facts: pl.DataFrame, config: RetouchConfig, week: date, start: datetime, end: datetime
) -> WeekEvaluation:
    """Every SLO's budgets at the end of the week (with when a freeze began), its burn-rate
    alert episodes during the week, and an event for every scope whose policy state differs
    from the previous week's; events inside the config's exclusion windows count nowhere.
    `facts` must reach back over the longest window plus the freeze lookback
    (`history_start`)."""
    windows, policy, exclusions = config.alerting.windows, config.budget_policy, config.exclusions
    budgets, alerts, events = [], [], []
    for slo in config.slos:
        history = BudgetHistory(facts, slo, windows, policy, end, exclusions=exclusions)
        previous = history.at(1)  # the budgets at the week's start
        for row in history.at(0).values():
            frozen = row.policy_state in FROZEN_STATES
            since = history.frozen_since(row.scope) if frozen else None
            budgets.append(budget_record(week, row, end, slo.window, since))
            before = previous[row.scope].policy_state if row.scope in previous else PolicyState.OK
            if before != row.policy_state:
                events.append(policy_event(week, end, row, before))
        episodes = evaluate_alerts(facts, slo, start, end, windows, policy, exclusions=exclusions)
        alerts += [{"week": week, **asdict(e)} for e in episodes]
    return WeekEvaluation(budgets, alerts, events)


def history_start(config: RetouchConfig, start: datetime) -> datetime:
    """The earliest event time `evaluate_week` reads for a week starting at `start`: the
    longest window before the oldest instant a freeze's start is searched at."""
    longest = max([*(s.window for s in config.slos), *(w.long for w in config.alerting.windows)])
    return start - longest - (FREEZE_LOOKBACK_WEEKS + 1) * EVALUATION_STEP


def budget_record(
    week: date, row: BudgetRow, window_end: datetime, window: timedelta, since: datetime | None
) -> dict:
    """One `slo.error_budget` row."""
    return {
        "week": week,
        "slo": row.slo,
        "scope": row.scope,
        "dimension": row.dimension,
        "window_end": window_end,
        "window_days": window.total_seconds() / 86400,
        "good": row.good,
        "total": row.total,
        "sli": row.sli,
        "objective": row.objective,
        "budget_consumed": row.budget_consumed,
        "burn_rates": json.dumps(row.burn),
        "policy_state": row.policy_state,
        "frozen_since": since,
        "low_traffic": row.low_traffic,
        "excluded": row.excluded,
    }


def policy_event(week: date, at: datetime, row: BudgetRow, before: PolicyState) -> dict:
    """The `ops.events` row of a scope's policy-state change (read by the alert outbox)."""
    value = row.scope.split("=", 1)[1] if row.dimension else None
    return event_row(
        week,
        at,
        EventType.POLICY_STATE_CHANGED,
        EventSource.SLO,
        ("policy", row.slo, row.scope, f"{before}->{row.policy_state}"),
        {
            "slo": row.slo,
            "scope": row.scope,
            "from": before,
            "to": row.policy_state,
            "budget_consumed": round(row.budget_consumed, 4),
            "low_traffic": row.low_traffic,
        },
        **({row.dimension: value} if row.dimension else {}),
    )
