"""The business layer inside the pipeline: the session's sample run (with its business
sample), re-runs of a week, a missing folder, and the run summary's business lines."""

import shutil
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb

from retouch_assets.business.summary import business_summary
from retouch_assets.business.tables import TABLES
from retouch_assets.defs.business.assets import (
    business_inputs_present,
    business_overlay,
    business_rows_accepted,
    drift_outcomes,
    lcp_weekly,
    read_business_inputs_step,
    reprocess_cost_meter,
)
from retouch_assets.resources import build_resources
from tests.conftest import SAMPLE_WEEKS

WEEK = SAMPLE_WEEKS[0]


def _business_files(settings) -> int:
    """Data rows in the business folder's files (header lines and blank lines aside)."""
    return sum(
        len([line for line in path.read_text().splitlines() if line.strip()]) - 1
        for path in Path(settings.business_dir).iterdir()
    )


def test_every_business_row_of_the_sample_is_accepted_or_quarantined_once(sample_run):
    (kpi, rum, quarantined) = sample_run.query(
        "SELECT (SELECT count(*) FROM business.kpi_daily), (SELECT count(*) FROM "
        "business.rum_lcp), (SELECT count(*) FROM business.quarantine)"
    )[0]
    assert kpi + rum + quarantined == _business_files(sample_run.settings)
    assert quarantined == 0  # the session's sample is clean; bad rows are tested below
    # The Monday 01:30+02:00 beacon is the first week's.
    assert sample_run.query(
        "SELECT week FROM business.rum_lcp WHERE ts = '2026-10-11 23:30:00+00'"
    ) == [(date(2026, 10, 5),)]


def test_the_overlay_joins_outcomes_to_the_weeks_artifacts(sample_run):
    rows = sample_run.query(
        "SELECT o.week, o.campaign_id, o.channel, o.artifacts, g.n, o.clicks, o.lcp_samples "
        "FROM business.overlay o LEFT JOIN (SELECT week, campaign_id, channel, count(*) AS n "
        "FROM retouch.generations GROUP BY ALL) g USING (week, campaign_id, channel) "
        "ORDER BY ALL"
    )
    assert {r[0].isoformat() for r in rows} == set(SAMPLE_WEEKS)
    assert len(rows) == 2 * 4 * 4  # every campaign and channel has KPI rows each week
    for _, _, _, artifacts, generations, clicks, samples in rows:
        assert artifacts == (generations or 0)
        assert clicks is not None and samples > 0
    # The second week has a week-over-week change everywhere.
    (changes,) = sample_run.query(
        "SELECT count(cvr_wow_change) FROM business.overlay WHERE week = $w",
        {"w": SAMPLE_WEEKS[1]},
    )[0]
    assert changes == 16
    (drift,) = sample_run.query("SELECT count(*) FROM business.drift_outcomes")[0]
    assert drift == 2 * 2 * 3 * 4  # weeks × windows × drift metrics × outcomes


def test_the_cost_meter_matches_the_generations_by_hand(sample_run):
    attempts = sample_run.query(
        "SELECT processing_ms, coalesce(review_seconds, 0) FROM retouch.generations "
        "WHERE attempt > 1"
    )
    assert attempts, "the small sample has reprocessing attempts"
    expected = sum(
        ((Decimal(ms) / 1000 + Decimal(str(review))) / 3600 * 65).quantize(
            Decimal("0.0001"), ROUND_HALF_UP
        )
        for ms, review in attempts
    )
    ((weekly, retries, monthly),) = sample_run.query(
        "SELECT (SELECT sum(cost) FROM business.cost_weekly), "
        "(SELECT sum(retries) FROM business.cost_weekly), "
        "(SELECT sum(cost) FROM business.cost_monthly)"
    )
    assert weekly == expected == monthly
    assert retries == len(attempts)


def _materialize_business(settings, week=WEEK):
    return dg.materialize(
        [
            read_business_inputs_step,
            business_overlay,
            lcp_weekly,
            drift_outcomes,
            reprocess_cost_meter,
            business_inputs_present,
            business_rows_accepted,
        ],
        resources=build_resources(settings),
        partition_key=week,
        raise_on_error=False,
    )


def _counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t.name: con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0] for t in TABLES}


def test_rerunning_a_week_is_idempotent_with_bad_and_undated_rows(sample_copy, tmp_path):
    folder = tmp_path / "business"
    shutil.copytree(sample_copy.settings.business_dir, folder)
    with (folder / "kpi_daily.csv").open("a") as kpi:
        kpi.write("2026-10-05,cmp-pet-care,web,-5,0,0,0,0\n")  # the week's: negative count
        kpi.write("2026-02-30,cmp-pet-care,web,5,0,0,0,0\n")  # no week: impossible date
    with (folder / "rum_lcp.csv").open("a") as rum:
        rum.write("yesterday,web,tpl-pet-care,,/p,1200\n")  # no week: unreadable time
    settings = replace(sample_copy.settings, business_dir=str(folder))
    counts = []
    for week in (WEEK, WEEK, SAMPLE_WEEKS[1]):
        result = _materialize_business(settings, week)
        assert result.success
        counts.append(_counts(sample_copy.db))
    assert counts[0] == counts[1] == counts[2]
    rows = sample_run_rows(sample_copy.db, "SELECT week, reason_code FROM business.quarantine")
    assert sorted(rows, key=str) == sorted(
        [(date(2026, 10, 5), "negative_count"), (None, "bad_date"), (None, "bad_timestamp")],
        key=str,
    )
    # Nothing lost, nothing twice: every data row of the folder is in exactly one table.
    tables = ("business.kpi_daily", "business.rum_lcp", "business.quarantine")
    assert sum(counts[0][t] for t in tables) == _business_files(settings)
    warned = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert warned["business_rows_accepted"] is False  # the undated rows count in every week


def sample_run_rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_missing_folder_warns_and_keeps_what_was_stored(sample_copy, tmp_path):
    before = _counts(sample_copy.db)
    settings = replace(sample_copy.settings, business_dir=str(tmp_path / "not-mounted"))
    result = _materialize_business(settings)
    assert result.success  # never a crash: the rest of the pipeline runs
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    present = evaluations["business_inputs_present"]
    assert present.passed  # the week still has the rows an earlier run stored
    assert _counts(sample_copy.db) == before


def test_an_empty_warehouse_week_warns_without_failing(sample_copy, tmp_path):
    settings = replace(sample_copy.settings, business_dir=str(tmp_path / "not-mounted"))
    with duckdb.connect(settings.duckdb_path) as con:
        con.execute("DELETE FROM business.kpi_daily")
        con.execute("DELETE FROM business.rum_lcp")
    result = _materialize_business(settings)
    assert result.success
    present = {e.check_name: e for e in result.get_asset_check_evaluations()}[
        "business_inputs_present"
    ]
    assert not present.passed and present.severity == dg.AssetCheckSeverity.WARN
    assert present.metadata["folder_exists"].value is False


def test_the_summary_names_the_worst_cvr_drop_and_the_months_cost(sample_run):
    with duckdb.connect(str(sample_run.db), read_only=True) as con:
        lines = business_summary(con, "data/business")
    text = "\n".join(lines)
    assert "0 quarantined" in text
    assert "business overlay: 32 week × campaign × channel rows" in text
    # The regression week costs social conversions: the biggest loss is there.
    assert "worst CVR drop: week 2026-10-12" in text and "/ social:" in text
    assert "reprocess cost 2026-10" in text and "EUR" in text
