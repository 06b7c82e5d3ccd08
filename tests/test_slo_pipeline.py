"""The SLO and baseline layers materialized through Dagster: re-evaluating the SLO layers of
the sample's weeks in reverse order reproduces the history the incremental weekly runs wrote
(event time, never the wall clock), and the budget, baseline and guardrail tables fill.

The incremental history is the session's `sample_run` (both weeks through the weekly job);
the backfill reuses its upstream layers (ingest, quality, gates) on a copy and only re-runs
the layers under test."""

import json
from datetime import UTC, datetime, timedelta
from functools import cache

import dagster as dg
import duckdb

from retouch_assets.baselines.tables import WEEKLY
from retouch_assets.definitions import build_definitions
from retouch_assets.defs.shared import key_of
from retouch_assets.ops.tables import INCIDENT_EVENTS, INCIDENTS
from retouch_assets.settings import Settings
from retouch_assets.vocabulary import (
    OVERALL,
    EventSource,
    IncidentSeverity,
    IncidentStatus,
    PolicyState,
)
from retouch_assets.warehouse import connect, insert
from tests.conftest import SAMPLE_WEEKS, SampleRun

WEEKS = list(SAMPLE_WEEKS)
# The layers under test, with the incidents the weekly baselines count.
SLO_LAYERS = dg.AssetSelection.groups("slo", "baselines") | dg.AssetSelection.assets(
    key_of(INCIDENTS), key_of(INCIDENT_EVENTS)
)

HISTORY = {
    "slo.error_budget": "SELECT * EXCLUDE (week) FROM slo.error_budget "
    "ORDER BY window_end, slo, scope",
    "slo.burn_alerts": "SELECT * EXCLUDE (week) FROM slo.burn_alerts "
    "ORDER BY fired_at, slo, scope, severity, long_window",
    "slo.sli_facts": "SELECT * FROM slo.sli_facts "
    "ORDER BY week, slo, day, campaign_id, template_id, channel",
    "baselines.weekly": "SELECT * FROM baselines.weekly ORDER BY week, scope_type, scope",
    "ops.events": "SELECT * FROM ops.events WHERE source = $slo ORDER BY event_id",
}
# Not compared: the version guardrail judges a week against the weekly baselines of the weeks
# before it (a declared dependency), so evaluating it before them differs by design.
_EVENT_SOURCES = {"slo": EventSource.SLO, "guardrail": EventSource.GUARDRAIL}
_CLEARED = (
    "DELETE FROM slo.sli_facts",
    "DELETE FROM slo.error_budget",
    "DELETE FROM slo.burn_alerts",
    "DELETE FROM baselines.weekly",
    "DELETE FROM baselines.version_guardrail",
    "DELETE FROM ops.incidents",
    "DELETE FROM ops.incident_events",
)


@cache
def _definitions(settings: Settings) -> dg.Definitions:
    return build_definitions(settings)


def _history(run: SampleRun) -> dict[str, list]:
    return {
        name: run.query(sql, {"slo": EventSource.SLO} if "$" in sql else None)
        for name, sql in HISTORY.items()
    }


def _materialize(run: SampleRun, week: str, selection: dg.AssetSelection) -> None:
    defs = _definitions(run.settings)
    keys = selection.resolve(defs.resolve_asset_graph())
    job = defs.resolve_job_def("retouch_weekly")
    assert job.execute_in_process(partition_key=week, asset_selection=list(keys)).success


def test_a_backfill_in_another_order_reproduces_the_incremental_budget_history(
    sample_run: SampleRun, sample_copy: SampleRun
):
    expected = _history(sample_run)
    assert expected["slo.error_budget"], "the budget history is empty"
    with duckdb.connect(str(sample_copy.db)) as con:
        for statement in _CLEARED:
            con.execute(statement)
        con.execute("DELETE FROM ops.events WHERE source IN ($slo, $guardrail)", _EVENT_SOURCES)
    for week in reversed(WEEKS):
        _materialize(sample_copy, week, SLO_LAYERS)
    # Week 1 was evaluated after week 2 existed, and rewrote the rows it had: event time, and
    # idempotent writes.
    actual = _history(sample_copy)
    for name in HISTORY:
        assert actual[name] == expected[name], name


def test_budgets_states_and_guardrail_fill_for_a_week(sample_run: SampleRun):
    overall = sample_run.query(
        "SELECT slo, total, policy_state, burn_rates FROM slo.error_budget "
        "WHERE scope = $overall AND week = $week ORDER BY slo",
        {"overall": OVERALL, "week": WEEKS[1]},
    )
    assert [r[0] for r in overall] == [
        "accessibility",
        "colour-fidelity",
        "delivery",
        "prompt-fidelity",
        "reprocess-success",
    ]
    assert all(r[2] in tuple(PolicyState) for r in overall)
    # No CLIP model is configured in the sample run: no judged drift, no prompt-fidelity events.
    assert overall[3][1] == 0
    assert overall[1][1] > 0 and json.loads(overall[1][3])[0]["factor"] == 14.4
    weeks = sample_run.query(
        "SELECT count(*) FROM baselines.weekly WHERE scope_type = $overall", {"overall": OVERALL}
    )
    assert weeks == [(2,)]
    assert sample_run.query("SELECT count(*) FROM baselines.version_guardrail")[0][0] > 0
    assert sample_run.query("SELECT count(*) FROM ops.applied_config") == [(1,)]


def test_weekly_baselines_count_the_incidents_of_the_30_days_before_the_week_end(
    sample_copy: SampleRun,
):
    # Dagster runs the week's incidents first: the baselines depend on them, this week included.
    baselines = _definitions(sample_copy.settings).resolve_assets_def(key_of(WEEKLY))
    mapping = baselines.get_partition_mapping(key_of(INCIDENTS))
    assert (mapping.start_offset, mapping.end_offset) == (-4, 0)

    # The sample pages no one (too little traffic): add incidents by hand, then re-run.
    [(template,)] = sample_copy.query(
        "SELECT min(template_id) FROM retouch.generations WHERE week = $week", {"week": WEEKS[1]}
    )
    end = datetime.fromisoformat(WEEKS[1]).replace(tzinfo=UTC) + timedelta(weeks=1)
    incidents = [
        (f"template_id={template}", "prompt", end - timedelta(days=2)),
        (f"template_id={template}", "model", end - timedelta(days=29)),
        ("channel=nowhere", "prompt", end - timedelta(days=3)),
        (OVERALL, "model", end - timedelta(days=31)),  # before the 30 days
    ]
    rows = [
        {
            "incident_id": f"RETINC-{n}",
            "number": n,
            "incident_key": f"test-{n}",
            "slo": "colour-fidelity",
            "scope": scope,
            "severity": IncidentSeverity.SEV2,
            "status": IncidentStatus.OPEN,
            "opened_at": opened,
            "alerts": 1,
            "root_cause": "test",
            "root_cause_category": category,
            "postmortem_due": opened,
        }
        for n, (scope, category, opened) in enumerate(incidents, start=900)
    ]
    with connect(sample_copy.db) as con:
        insert(con, INCIDENTS, rows)
    _materialize(sample_copy, WEEKS[1], dg.AssetSelection.assets(key_of(WEEKLY)))
    recorded = dict(
        sample_copy.query(
            "SELECT scope, incidents_30d FROM baselines.weekly WHERE week = $week",
            {"week": WEEKS[1]},
        )
    )
    assert json.loads(recorded["all"]) == {"model": 1, "prompt": 2}
    assert json.loads(recorded[template]) == {"model": 1, "prompt": 1}
    assert all(json.loads(v) == {} for k, v in recorded.items() if k not in ("all", template))


def test_the_weekly_sync_schedule_produces_the_summary_for_its_week(sample_run: SampleRun):
    from retouch_assets.config import Review
    from retouch_assets.defs.ops.schedules import weekly_sync_schedule

    schedule = weekly_sync_schedule(Review())
    # Monday 2026-10-19 09:00 in Berlin (CEST): the last complete week is 2026-10-12.
    request = schedule(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 10, 19, 7, tzinfo=UTC))
    )
    assert request.partition_key == WEEKS[1] and schedule.job_name == "retouch_weekly"
    # The weekly job ran that partition in the sample run: its summary is there.
    assert sample_run.results[WEEKS[1]].success
    report = (sample_run.reports / WEEKS[1] / "reliability_sync.md").read_text()
    assert report.startswith("# Reliability sync — week of 2026-10-12")
    for section in (
        "## SLO status",
        "## Freezes",
        "## Alerts",
        "## Incidents",
        "## Human review queue",
    ):
        assert section in report
