"""The business overlay against hand-computed values: ratios of sums, nearest-rank P75 with
ties, week-over-week changes, LCP by template, and the Spearman companion."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from retouch_assets.business.overlay import (
    LcpRating,
    caveat,
    drift_outcome_rows,
    lcp_rating,
    ranks,
    spearman,
    week_totals,
)
from retouch_assets.business.queries import lcp_by_template, overlay_rows
from retouch_assets.business.tables import KPI_DAILY, RUM_LCP
from retouch_assets.migrations import migrate
from retouch_assets.warehouse import connect, insert

WEEK = date(2026, 10, 5)
PREVIOUS = WEEK - timedelta(weeks=1)


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        yield con


def _kpi(day: date, campaign: str, channel: str, imp, clicks, conv, revenue, tickets):
    return {
        "week": day - timedelta(days=day.weekday()),
        "date": day,
        "campaign_id": campaign,
        "channel": channel,
        "impressions": imp,
        "clicks": clicks,
        "conversions": conv,
        "revenue": Decimal(revenue),
        "support_tickets": tickets,
        "source_file": "kpi_daily.csv",
        "line_no": 2,
    }


def _beacon(day: date, lcp: float, campaign: str | None = "cmp-a", template="tpl-a"):
    moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    return {
        "week": day - timedelta(days=day.weekday()),
        "ts": moment,
        "channel": "web",
        "template_id": template,
        "campaign_id": campaign,
        "page": "/p",
        "lcp_ms": lcp,
        "source_file": "rum_lcp.csv",
        "line_no": 2,
    }


# Monday: 1000 impressions, 50 clicks, 5 conversions; Tuesday: 100, 10, 4. Ratios of sums:
# CTR 60 / 1100, CVR 9 / 60. The means of the daily ratios would be 0.075 and 0.25.
KPI = [
    _kpi(WEEK, "cmp-a", "web", 1000, 50, 5, "100.00", 1),
    _kpi(WEEK + timedelta(days=1), "cmp-a", "web", 100, 10, 4, "50.00", 2),
    _kpi(PREVIOUS, "cmp-a", "web", 1000, 100, 20, "400.00", 0),
]
# Monday's beacons P75 1200, Tuesday's 5000 (mean of daily P75s: 3100); over all ten beacons,
# sorted 1000 1200 1200 1200 3000 3000 3000 5000 5000 5000, the nearest rank is
# ceil(0.75 × 10) = 8th: 5000 (linear interpolation would give 4500).
LCP_MONDAY = [1000.0, 1200.0, 1200.0, 1200.0]
LCP_TUESDAY = [3000.0, 3000.0, 3000.0, 5000.0, 5000.0, 5000.0]


def test_ctr_and_cvr_are_ratios_of_sums_and_p75_is_nearest_rank(con):
    insert(con, KPI_DAILY, KPI)
    beacons = [_beacon(WEEK, v) for v in LCP_MONDAY]
    beacons += [_beacon(WEEK + timedelta(days=1), v) for v in LCP_TUESDAY]
    beacons.append(_beacon(WEEK, 60_000.0, campaign=None))  # outside any campaign
    insert(con, RUM_LCP, beacons)
    (row,) = overlay_rows(con, WEEK, "EUR")
    assert (row["campaign_id"], row["channel"], row["currency"]) == ("cmp-a", "web", "EUR")
    assert (row["impressions"], row["clicks"], row["conversions"]) == (1100, 60, 9)
    assert row["revenue"] == Decimal("150.0000") and row["support_tickets"] == 3
    assert row["ctr"] == pytest.approx(60 / 1100)
    assert row["cvr"] == pytest.approx(9 / 60)
    assert row["revenue_per_conversion"] == pytest.approx(150 / 9)
    assert row["lcp_p75_ms"] == 5000.0 and row["lcp_samples"] == 10
    # Week over week: the previous week's CVR was 20 / 100.
    assert row["cvr_wow_change"] == pytest.approx(9 / 60 - 0.2)
    # No artifacts in this warehouse: quality columns are empty, counts zero.
    assert (row["artifacts"], row["published"]) == (0, 0)
    assert row["colour_fail_rate"] is None and row["prompt_drift_mean"] is None
    assert row["colour_fail_rate_wow_change"] is None


def test_lcp_by_template_counts_every_beacon_including_campaignless_ones(con):
    insert(
        con,
        RUM_LCP,
        [_beacon(WEEK, v, campaign=None, template="tpl-heavy") for v in (3000.0, 4100.0, 4100.0)]
        + [_beacon(WEEK, 900.0)],
    )
    rows = {r["template_id"]: r for r in lcp_by_template(con, WEEK, 2500.0)}
    # Three beacons: nearest rank ceil(2.25) = 3rd = 4100 (a tie with the 2nd).
    assert rows["tpl-heavy"]["lcp_p75_ms"] == 4100.0 and rows["tpl-heavy"]["lcp_samples"] == 3
    assert rows["tpl-heavy"]["good_share"] == 0.0 and rows["tpl-a"]["good_share"] == 1.0


def test_a_week_without_clicks_has_no_ratios_rather_than_a_division_error(con):
    insert(con, KPI_DAILY, [_kpi(WEEK, "cmp-z", "email", 0, 0, 0, "0", 0)])
    (row,) = overlay_rows(con, WEEK, "EUR")
    assert row["ctr"] is None and row["cvr"] is None and row["revenue_per_conversion"] is None
    assert row["lcp_p75_ms"] is None and row["lcp_samples"] == 0


def test_lcp_rating_bands():
    assert lcp_rating(2500) == LcpRating.GOOD
    assert lcp_rating(2500.1) == LcpRating.NEEDS_IMPROVEMENT
    assert lcp_rating(4000) == LcpRating.NEEDS_IMPROVEMENT
    assert lcp_rating(4000.1) == LcpRating.POOR


def test_ranks_average_ties():
    assert ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]


def test_spearman_against_hand_computed_values():
    # x ranks 1 2 3 4 5; y ranks 2 1 4 3 5: d² = 1+1+1+1+0 = 4; rho = 1 - 6·4 / (5·24) = 0.8.
    assert spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # With ties: x ranks 1 2.5 2.5 4, y ranks 1 2 3 4 -> Pearson of the ranks.
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)
    assert spearman([1, 2], [1, 2]) is None  # too few pairs
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # no variation


def test_drift_outcome_rows_count_pairs_and_always_carry_a_caveat():
    rows = [
        {"colour_fail_rate": 0.1, "cvr": 0.05, "clicks": 100, "support_tickets": 1},
        {"colour_fail_rate": 0.3, "cvr": 0.04, "clicks": 200, "support_tickets": 4},
        {"colour_fail_rate": 0.5, "cvr": 0.02, "clicks": 0, "support_tickets": 0},
        {"colour_fail_rate": None, "cvr": 0.01, "clicks": 10, "support_tickets": 0},
    ]
    out = {
        (r["window_weeks"], r["drift_metric"], r["outcome_metric"]): r
        for r in drift_outcome_rows(WEEK, {1: rows})
    }
    cvr = out[(1, "colour_fail_rate", "cvr")]
    assert cvr["n"] == 3 and cvr["spearman_rho"] == pytest.approx(-1.0)
    assert "not causation" in cvr["caveat"] and "3 campaign × channel rows" in cvr["caveat"]
    tickets = out[(1, "colour_fail_rate", "support_tickets_per_1k_clicks")]
    assert tickets["n"] == 2 and tickets["spearman_rho"] is None  # clicks 0: no rate
    assert "too few rows" in tickets["caveat"]
    assert out[(1, "prompt_drift_mean", "cvr")]["n"] == 0
    assert "4 weeks" in caveat(12, 0.1, 4, WEEK, "cvr")


def test_week_totals_are_ratios_of_sums_and_leave_out_what_has_no_data():
    rows = [
        {"impressions": 1000, "clicks": 50, "conversions": 5, "delta_e_mean": 1.0, "artifacts": 3},
        {"impressions": 0, "clicks": 0, "conversions": 0, "delta_e_mean": 4.0, "artifacts": 1},
        {
            "impressions": None,
            "clicks": None,
            "conversions": None,
            "delta_e_mean": None,
            "artifacts": 2,
        },
    ]
    totals = week_totals(rows)
    assert totals == pytest.approx({"ctr": 0.05, "cvr": 0.1, "delta_e_mean": 1.75})
    assert all(type(v) is float for v in totals.values())
    assert week_totals([]) == {}
