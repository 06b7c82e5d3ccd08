"""The SLO and baseline layers materialized through Dagster: a backfill in another order
reproduces the budget history of the incremental runs, and the demo tables fill."""

import dagster as dg
import duckdb

from retouch_assets.definitions import build_definitions
from retouch_assets.settings import Settings

_DEFS = build_definitions(Settings("unused.duckdb", "unused", "unused.yaml", "unused"))
ALL = [*_DEFS.assets, *_DEFS.asset_checks]
WEEKS = ["2026-10-05", "2026-10-12"]
UPSTREAM = dg.AssetSelection.groups("ingest", "quality", "gates")
SLO_LAYERS = dg.AssetSelection.groups("slo", "baselines")

HISTORY = {
    "slo.error_budget": "SELECT * EXCLUDE (week) FROM slo.error_budget ORDER BY window_end, slo, scope",
    "slo.burn_alerts": "SELECT * EXCLUDE (week) FROM slo.burn_alerts ORDER BY fired_at, slo, scope, severity, long_window",
    "slo.sli_facts": "SELECT * FROM slo.sli_facts ORDER BY week, slo, day, campaign_id, template_id, channel",
    "baselines.weekly": "SELECT * FROM baselines.weekly ORDER BY week, scope_type, scope",
}


def _materialize(resources, week, selection=None):
    result = dg.materialize(
        ALL, resources=resources, partition_key=week, selection=selection, raise_on_error=False
    )
    failures = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert (
        not any(
            step.is_failure for step in result.all_events if step.event_type_value == "STEP_FAILURE"
        )
        or failures
    )
    return result


def _history(res):
    with duckdb.connect(res["warehouse"].path, read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in HISTORY.items()}


def test_a_backfill_in_another_order_reproduces_the_incremental_budget_history(
    small_sample, tmp_path, resources
):
    from tests.conftest import (
        REPO_ROOT,
        LandingResource,
        OutputsResource,
        ReportsResource,
        RetouchConfigResource,
        WarehouseResource,
    )

    def fresh(name):
        return {
            "warehouse": WarehouseResource(path=str(tmp_path / f"{name}.duckdb")),
            "landing": LandingResource(path=str(small_sample)),
            "outputs": OutputsResource(path=str(tmp_path / name)),
            "reports": ReportsResource(path=str(tmp_path / name / "reports")),
            "retouch_config": RetouchConfigResource(path=str(REPO_ROOT / "retouch-slo.yaml")),
        }

    incremental = fresh("incremental")
    for week in WEEKS:
        _materialize(incremental, week)
    backfill = fresh("backfill")
    for week in reversed(WEEKS):
        _materialize(backfill, week, UPSTREAM)
    for week in reversed(WEEKS):
        _materialize(backfill, week, SLO_LAYERS)

    expected, actual = _history(incremental), _history(backfill)
    assert expected["slo.error_budget"], "the budget history is empty"
    for name in HISTORY:
        assert actual[name] == expected[name], name
    # And re-evaluating the first week after the second exists changes nothing (event time).
    _materialize(incremental, WEEKS[0], SLO_LAYERS)
    assert _history(incremental) == expected


def test_budgets_states_and_guardrail_fill_for_a_week(small_sample, resources):
    res = resources(small_sample)
    for week in WEEKS:
        _materialize(res, week)
    with duckdb.connect(res["warehouse"].path, read_only=True) as con:
        overall = con.execute(
            "SELECT slo, total, policy_state, burn_rates FROM slo.error_budget "
            "WHERE scope = 'overall' AND week = '2026-10-12' ORDER BY slo"
        ).fetchall()
        assert [r[0] for r in overall] == [
            "accessibility",
            "colour-fidelity",
            "delivery",
            "reprocess-success",
        ]
        assert all(r[2] in ("ok", "freeze_new_work", "slo_freeze", "exhausted") for r in overall)
        assert overall[1][1] > 0 and '"factor": 14.4' in overall[1][3]
        assert (
            con.execute(
                "SELECT count(*) FROM baselines.weekly WHERE scope_type = 'overall'"
            ).fetchone()[0]
            == 2
        )
        assert con.execute("SELECT count(*) FROM ops.applied_config").fetchone()[0] == 1


def test_the_weekly_sync_schedule_produces_the_summary_for_its_week(small_sample, resources):
    from datetime import UTC, datetime

    from retouch_assets.config import Review
    from retouch_assets.defs.ops.schedules import weekly_sync_schedule

    res = resources(small_sample)
    _materialize(res, WEEKS[0])
    schedule = weekly_sync_schedule(Review())
    # Monday 2026-10-19 09:00 in Berlin (CEST): the last complete week is 2026-10-12.
    request = schedule(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 10, 19, 7, tzinfo=UTC))
    )
    assert request.partition_key == WEEKS[1]
    _materialize(res, request.partition_key)
    report = (res["reports"].root / WEEKS[1] / "reliability_sync.md").read_text()
    assert report.startswith("# Reliability sync — week of 2026-10-12")
    for section in (
        "## SLO status",
        "## Freezes",
        "## Alerts",
        "## Incidents",
        "## Human review queue",
    ):
        assert section in report
