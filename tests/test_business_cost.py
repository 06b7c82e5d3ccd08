"""The reprocess-cost meter against a hand-computed week, its monthly roll-up, and the `cost:`
section of retouch-slo.yaml."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from retouch_assets.business.cost import attempt_costs, months_of_week, weekly_costs
from retouch_assets.business.queries import write_costs
from retouch_assets.config import ConfigError, Cost, parse_config
from retouch_assets.migrations import migrate
from retouch_assets.warehouse import connect, fetch_dicts

WEEK = date(2026, 9, 28)  # Monday 28 September to Sunday 4 October: two months
COST = Cost(currency="EUR", staff_rate_per_hour=65.0, template_rates={"tpl-b": 80.0})


def _attempt(artifact, attempt, campaign, template, processing_ms, review, day):
    return {
        "week": WEEK,
        "artifact_id": artifact,
        "attempt": attempt,
        "campaign_id": campaign,
        "template_id": template,
        "channel": "web",
        "generated_at": datetime(2026, 9 if day > 20 else 10, day, 10, tzinfo=UTC),
        "processing_ms": processing_ms,
        "review_seconds": review,
    }


ATTEMPTS = [
    # A first attempt is production, not reprocessing: never counted.
    _attempt("a1", 1, "cmp-a", "tpl-a", 30_000, 100.0, 29),
    # 36 s + 144 s = 180 s = 0.05 h × 65 = 3.25
    _attempt("a1", 2, "cmp-a", "tpl-a", 36_000, 144.0, 29),
    # 9 s, no review = 0.0025 h × 80 (the template's own rate) = 0.20
    _attempt("a2", 3, "cmp-a", "tpl-b", 9_000, None, 30),
    # 1 s + 0.5 s = 1.5 s / 3600 × 65 = 0.027083… -> 0.0271; in October
    _attempt("a3", 2, "cmp-b", "tpl-a", 1_000, 0.5, 2),
]


def test_attempt_costs_match_a_hand_computed_week():
    rows = attempt_costs(ATTEMPTS, COST)
    assert [(r["artifact_id"], r["attempt"], r["cost"]) for r in rows] == [
        ("a1", 2, Decimal("3.2500")),
        ("a2", 3, Decimal("0.2000")),
        ("a3", 2, Decimal("0.0271")),
    ]
    assert [r["rate_per_hour"] for r in rows] == [Decimal(65), Decimal(80), Decimal(65)]
    assert [r["month"] for r in rows] == [date(2026, 9, 1), date(2026, 9, 1), date(2026, 10, 1)]
    assert {r["currency"] for r in rows} == {"EUR"}
    weekly = {(r["campaign_id"], r["template_id"]): r for r in weekly_costs(rows)}
    assert weekly[("cmp-a", "tpl-a")]["cost"] == Decimal("3.25")
    assert weekly[("cmp-a", "tpl-a")]["processing_hours"] == pytest.approx(0.01)
    assert weekly[("cmp-a", "tpl-a")]["review_hours"] == pytest.approx(0.04)
    assert weekly[("cmp-a", "tpl-b")]["retries"] == 1
    assert sum(r["cost"] for r in weekly.values()) == Decimal("3.4771")


def test_a_week_spanning_two_months_rolls_up_into_both_and_rewrites_idempotently(tmp_path):
    assert months_of_week(WEEK) == [date(2026, 9, 1), date(2026, 10, 1)]
    assert months_of_week(date(2026, 10, 5)) == [date(2026, 10, 1)]
    rows = attempt_costs(ATTEMPTS, COST)
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        for _ in range(2):  # a re-run of the week replaces, never adds
            write_costs(con, WEEK, rows, weekly_costs(rows), months_of_week(WEEK))
        monthly = fetch_dicts(
            con,
            "SELECT month, sum(cost) AS cost, sum(retries) AS retries, max(weeks) AS weeks "
            "FROM business.cost_monthly GROUP BY 1 ORDER BY 1",
        )
        weekly_total = fetch_dicts(con, "SELECT sum(cost) AS c FROM business.cost_weekly")
    assert [(m["month"], m["cost"], m["retries"], m["weeks"]) for m in monthly] == [
        (date(2026, 9, 1), Decimal("3.4500"), 2, 1),
        (date(2026, 10, 1), Decimal("0.0271"), 1, 1),
    ]
    assert weekly_total[0]["c"] == Decimal("3.4771")


def test_cost_section_is_validated_with_field_paths():
    config = parse_config({"cost": {"staff_rate_per_hour": 50, "currency": "CHF"}}, "x.yaml")
    assert config.cost.rate_for("any") == 50 and config.cost.currency == "CHF"
    assert config.business.currency == "EUR"
    for bad, path in (
        ({"cost": {"currency": "eur"}}, "cost.currency"),
        ({"cost": {"template_rates": {"tpl-a": -1}}}, "cost.template_rates.tpl-a"),
        ({"cost": {"rate": 1}}, "cost.rate"),
        ({"business": {"currency": "EURO"}}, "business.currency"),
    ):
        with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
            parse_config(bad, "x.yaml")
