"""SLO math: burn-rate factors, budgets, policy transitions, a multi-week budget history,
multi-window multi-burn-rate alerts and a week's evaluation, all in event time."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from retouch_assets.config import BudgetPolicy, Indicator, RetouchConfig, Slo
from retouch_assets.migrations import migrate
from retouch_assets.slo import engine as e
from retouch_assets.slo.queries import load_facts
from retouch_assets.vocabulary import EventSource, EventType, PolicyState
from retouch_assets.warehouse import connect

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


def _facts(weeks: list[tuple[int, int]], per_day_hours=(9, 13, 17)) -> pl.DataFrame:
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
    return pl.DataFrame(rows)


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
    facts = pl.DataFrame(
        {
            "artifact_id": [f"a{i}" for i in range(len(times))],
            "generated_at": times,
            "delta_e_mean": [2.0 if i in bad else 0.2 for i in range(len(times))],
        }
    ).with_columns(
        attempt=1, campaign_id=pl.lit("c"), template_id=pl.lit("t"), channel=pl.lit("web")
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
    row = pl.int_range(pl.len())
    facts = _facts([(10, 0)]).with_columns(
        attempt=pl.when(row <= 3).then(2).otherwise(1), passed_gates=row != 0
    )
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


def test_event_order_of_the_input_does_not_matter():
    facts = _facts([(100, 7), (100, 3)])
    shuffled = facts.sample(fraction=1.0, shuffle=True, seed=3)
    at = START + timedelta(weeks=2)
    assert e.evaluate_budget(shuffled, SLO, at, WINDOWS, POLICY) == e.evaluate_budget(
        facts, SLO, at, WINDOWS, POLICY
    )


def test_a_week_evaluation_records_budgets_alerts_and_policy_changes():
    # 0.4 of the budget at the first week's end, 0.6 at the second's: a policy change overall.
    config = RetouchConfig(slos=[SLO])
    facts = _facts([(100, 2), (100, 4)])
    start, end = START + timedelta(weeks=1), START + timedelta(weeks=2)
    week = start.date()
    result = e.evaluate_week(facts, config, week, start, end)

    assert [b["scope"] for b in result.budgets] == ["overall", "template_id=t1", "template_id=t2"]
    overall = result.budgets[0]
    assert (overall["week"], overall["window_end"], overall["window_days"]) == (week, end, 28.0)
    assert overall["budget_consumed"] == pytest.approx(0.6)
    assert overall["policy_state"] == PolicyState.FREEZE_NEW_WORK
    assert overall["frozen_since"] is None
    assert len(json.loads(overall["burn_rates"])) == len(WINDOWS)

    changed = {json.loads(ev["details"])["scope"]: ev for ev in result.events}
    assert "overall" in changed
    event = changed["overall"]
    assert (event["event_type"], event["source"]) == (
        EventType.POLICY_STATE_CHANGED,
        EventSource.SLO,
    )
    assert json.loads(event["details"]) | {"budget_consumed": None} == {
        "slo": "colour-fidelity",
        "scope": "overall",
        "from": "ok",
        "to": "freeze_new_work",
        "budget_consumed": None,
        "low_traffic": False,
    }
    assert event["event_time"] == end and event["week"] == week
    for scope, ev in changed.items():
        if scope != "overall":
            assert ev["template_id"] == scope.split("=")[1]
    assert all(a["week"] == week for a in result.alerts)
    # Re-evaluating gives the same rows, event ids included.
    assert e.evaluate_week(facts, config, week, start, end) == result


def test_a_freeze_starts_where_the_uninterrupted_frozen_weeks_begin():
    # 5 % bad every week: the budget is spent from the first week on (nothing before START).
    config = RetouchConfig(slos=[SLO])
    facts = _facts([(100, 5), (100, 5), (100, 5)])
    start, end = START + timedelta(weeks=2), START + timedelta(weeks=3)
    overall = e.evaluate_week(facts, config, start.date(), start, end).budgets[0]
    assert overall["policy_state"] == PolicyState.EXHAUSTED
    assert overall["frozen_since"] == START + timedelta(weeks=1)


def test_facts_come_from_the_warehouse_in_utc_with_the_final_gate_outcome(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        con.execute("SET TimeZone = 'America/New_York'")
        at = datetime(2026, 10, 6, 2, 30, tzinfo=UTC)  # still Monday 5 Oct in New York
        for attempt in (1, 2):
            con.execute(
                "INSERT INTO retouch.generations (artifact_id, attempt, campaign_id, "
                "template_id, channel, retouch_version, model_version, prompt, prompt_version, "
                "prompt_hash, seed, steps, cfg_scale, generated_at, processing_ms, image, master, "
                "batch_id, line_no, week) VALUES ('a', $n, 'c', 't', 'web', 'r', 'm', 'p', 'v', "
                "'h', 1, 1, 1, $at, 1500, 'i', 'm', 'b', $n, '2026-10-05')",
                {"n": attempt, "at": at + timedelta(minutes=attempt)},
            )
            con.execute(
                "INSERT INTO retouch.artifact_quality (artifact_id, attempt, week, campaign_id, "
                "template_id, generated_at, processing_ms, delta_e_mean) VALUES ('a', $n, "
                "'2026-10-05', 'c', 't', $at, 1500, 2.0)",
                {"n": attempt, "at": at},
            )
        # Attempt 1 fails colour fidelity for good; attempt 2 is healed to ΔE 0.4.
        con.execute(
            "INSERT INTO retouch.gate_results VALUES "
            "('a', 1, '2026-10-05', 'colour_fidelity', 'delta_e_mean', 'measured', 2.0, 1.0, "
            "false, true), "
            "('a', 2, '2026-10-05', 'colour_fidelity', 'delta_e_mean', 'measured', 2.0, 1.0, "
            "false, false), "
            "('a', 2, '2026-10-05', 'colour_fidelity', 'delta_e_mean', 'heal', 0.4, 1.0, "
            "true, true)"
        )
        facts = load_facts(con, START, START + timedelta(weeks=1))
    assert facts.schema["generated_at"] == pl.Datetime("us", "UTC")
    assert facts["passed_gates"].to_list() == [False, True]
    assert facts["final_delta_e_mean"].to_list() == [2.0, 0.4]
    assert facts["processing_seconds"].to_list() == [1.5, 1.5]
    rows = e.daily_sli_rows(facts, [SLO], START.date())
    assert [r["day"] for r in rows] == [at.date()]  # the UTC day, not New York's
