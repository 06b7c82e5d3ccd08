"""SLO math: burn-rate factors, budgets, policy transitions, a multi-week budget history and
multi-window multi-burn-rate alerts, all in event time."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from retouch_assets.config import BudgetPolicy, Indicator, RetouchConfig, Slo
from retouch_assets.slo import engine as e

WINDOWS = RetouchConfig().alerting.windows
POLICY = BudgetPolicy()


@pytest.mark.parametrize(
    ("period_days", "expected"), [(30, [14.4, 6.0, 3.0, 1.0]), (28, [13.44, 5.6, 2.8, 0.9333])]
)
def test_burn_rate_factors_of_the_sre_workbook(period_days, expected):
    factors = [e.burn_factor(w, timedelta(days=period_days)) for w in WINDOWS]
    assert factors == pytest.approx(expected, abs=1e-4)
    assert [w.short for w in WINDOWS] == [w.long / 12 for w in WINDOWS]
    # Error-ratio threshold = factor × (1 − objective): 14.4 × 0.001 = 0.0144 for 30 days.
    assert factors[0] * (1 - 0.999) == pytest.approx(expected[0] / 1000)


def test_budget_consumed_is_one_minus_sli_over_one_minus_objective():
    assert e.budget_consumed(95, 100, 0.95) == pytest.approx(1.0)
    assert e.budget_consumed(98, 100, 0.95) == pytest.approx(0.4)
    assert e.budget_consumed(0, 0, 0.95) == 0.0


@pytest.mark.parametrize(
    ("consumed", "state"),
    [
        (0.0, "ok"),
        (0.5999, "ok"),
        (0.6, "freeze_new_work"),
        (0.8999, "freeze_new_work"),
        (0.9, "slo_freeze"),
        (0.9999, "slo_freeze"),
        (1.0, "exhausted"),
        (3.0, "exhausted"),
    ],
)
def test_policy_transitions_exactly_at_60_90_100_percent(consumed, state):
    assert e.policy_state(consumed, POLICY) == state


SLO = Slo(
    name="colour-fidelity",
    indicator=Indicator(metric="delta_e_mean", op="<=", threshold=1.0),
    objective=0.95,
    window="28d",
    dimensions=["template_id"],
)
START = datetime(2026, 10, 5, tzinfo=UTC)


def _facts(weeks: list[tuple[int, int]], per_day_hours=(9, 13, 17)) -> pd.DataFrame:
    """Each week: (events, bad events), spread over the week's days; bad ones first."""
    rows = []
    for w, (events, bad) in enumerate(weeks):
        for k in range(events):
            moment = START + timedelta(weeks=w, days=k % 7, hours=per_day_hours[k % 3], minutes=k)
            rows.append(
                {
                    "artifact_id": f"a{w}-{k}",
                    "attempt": 1,
                    "generated_at": moment,
                    "campaign_id": "c",
                    "template_id": "t1" if k % 2 else "t2",
                    "channel": "web",
                    "delta_e_mean": 2.0 if k < bad else 0.3,
                    "processing_seconds": 10.0,
                    "hist_delta": 1.0,
                    "min_contrast_ratio": 7.0,
                    "wcag_aa_pass": True,
                    "final_delta_e_mean": 0.3,
                    "passed_gates": True,
                }
            )
    return pd.DataFrame(rows)


def test_a_multi_week_budget_history_known_in_advance():
    # 100 events a week, 2, 4, 6, 0 bad: the 28-day window at each week's end holds them all.
    facts = _facts([(100, 2), (100, 4), (100, 6), (100, 0)])
    consumed, states = [], []
    for w in range(4):
        overall = e.evaluate_budget(facts, SLO, START + timedelta(weeks=w + 1), WINDOWS, POLICY)[0]
        consumed.append(round(overall.budget_consumed, 6))
        states.append(overall.policy_state)
        assert overall.total == 100 * (w + 1)
    assert consumed == [0.4, 0.6, 0.8, 0.6]
    assert states == ["ok", "freeze_new_work", "freeze_new_work", "freeze_new_work"]
    # Five weeks on, the first week has left the 28-day window: 10 bad of 300.
    fifth = e.evaluate_budget(facts, SLO, START + timedelta(weeks=5), WINDOWS, POLICY)[0]
    assert (fifth.good, fifth.total) == (290, 300)


def test_later_events_never_change_an_earlier_evaluation():
    early = _facts([(100, 2)])
    later = _facts([(100, 2), (100, 50)])
    at = START + timedelta(weeks=1)
    assert e.evaluate_budget(early, SLO, at, WINDOWS, POLICY) == e.evaluate_budget(
        later, SLO, at, WINDOWS, POLICY
    )


def test_scopes_cover_overall_and_each_dimension_value():
    rows = e.evaluate_budget(_facts([(100, 10)]), SLO, START + timedelta(weeks=1), WINDOWS, POLICY)
    assert [r.scope for r in rows] == ["overall", "template_id=t1", "template_id=t2"]
    assert rows[1].total + rows[2].total == rows[0].total
    assert all(len(r.burn) == len(WINDOWS) for r in rows)


def test_a_burst_fires_a_page_in_both_windows_and_resolves():
    # Steady good traffic every minute, then 20 minutes where half the events are bad.
    times = [START + timedelta(minutes=m) for m in range(0, 3 * 24 * 60)]
    bad = {m for m in range(24 * 60, 24 * 60 + 20) if m % 2 == 0}
    facts = pd.DataFrame(
        {
            "artifact_id": [f"a{i}" for i in range(len(times))],
            "attempt": 1,
            "generated_at": times,
            "campaign_id": "c",
            "template_id": "t",
            "channel": "web",
            "delta_e_mean": [2.0 if i in bad else 0.2 for i in range(len(times))],
        }
    )
    slo = Slo(
        name="colour-fidelity",
        indicator=Indicator(metric="delta_e_mean", op="<=", threshold=1.0),
        objective=0.999,
        window="30d",
        dimensions=[],
    )
    episodes = e.evaluate_alerts(facts, slo, START, START + timedelta(days=3), WINDOWS, POLICY)
    pages = [ep for ep in episodes if ep.severity == "page" and ep.long_window == "1h"]
    assert len(pages) == 1
    page = pages[0]
    assert START + timedelta(days=1) <= page.fired_at <= START + timedelta(days=1, minutes=25)
    assert page.resolved_at is not None and page.resolved_at < START + timedelta(days=1, hours=2)
    assert page.peak_burn_long > 14.4 and page.peak_burn_short > 14.4 and not page.low_traffic


def test_low_traffic_alerts_are_flagged_not_paged():
    facts = _facts([(6, 6)])  # six events, all bad
    episodes = e.evaluate_alerts(facts, SLO, START, START + timedelta(weeks=1), WINDOWS, POLICY)
    assert episodes and all(ep.low_traffic for ep in episodes)


def test_reprocess_success_counts_only_later_attempts():
    facts = _facts([(10, 0)])
    facts.loc[:3, "attempt"] = 2
    facts.loc[0, "passed_gates"] = False
    slo = Slo(
        name="reprocess-success",
        indicator=Indicator(metric="reprocess_success", op="==", threshold=True),
        objective=0.98,
    )
    eligible, good = e.sli_events(facts, slo)
    assert eligible.sum() == 4 and good.sum() == 3


def test_daily_sli_rows_sum_to_the_totals():
    facts = _facts([(30, 3)])
    rows = e.daily_sli_rows(facts, [SLO], START.date())
    assert sum(r["total"] for r in rows) == 30 and sum(r["good"] for r in rows) == 27
    assert len({r["day"] for r in rows}) == 7


def test_window_counts_are_half_open():
    times = np.array([0.0, 10.0, 20.0])
    counts = e.window_counts(
        times, np.array([True, False, True]), np.array([20.0, 21.0, 31.0]), 10.0
    )
    # [10, 20) holds t=10 (bad); [11, 21) holds t=20 (good); [21, 31) holds nothing.
    assert counts.total.tolist() == [1, 1, 0] and counts.good.tolist() == [0, 1, 0]
