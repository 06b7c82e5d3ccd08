"""Weekly baselines and the version guardrail as plain rows: incidents of the last 30 days per
scope, gate failures, baselines of earlier weeks, regression events."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from retouch_assets.baselines import queries
from retouch_assets.baselines.guardrail import VersionStats, guardrail_rows, regression_events
from retouch_assets.baselines.weekly import incident_counts, weekly_rows
from retouch_assets.config import Guardrail
from retouch_assets.migrations import migrate
from retouch_assets.ops.tables import INCIDENTS
from retouch_assets.vocabulary import EventSource, EventType, VersionKind
from retouch_assets.warehouse import connect, insert

WEEK = date(2026, 10, 12)
END = datetime(2026, 10, 19, tzinfo=UTC)


def _incident(scope: str, category: str) -> dict:
    return {"scope": scope, "root_cause_category": category}


def test_incidents_count_overall_and_for_their_template_or_channel():
    counts = incident_counts(
        [
            _incident("overall", "model"),
            _incident("template_id=t1", "prompt"),
            _incident("template_id=t1", "model"),
            _incident("channel=web", "prompt"),
            _incident("campaign_id=c1", "unknown"),
        ]
    )
    assert counts[("overall", "all")] == {"model": 2, "prompt": 2, "unknown": 1}
    assert counts[("template", "t1")] == {"prompt": 1, "model": 1}
    assert counts[("channel", "web")] == {"prompt": 1}
    assert ("template", "t2") not in counts and ("campaign", "c1") not in counts


def test_weekly_rows_carry_gate_failures_and_incidents_as_json():
    stats = [
        {"scope_type": "overall", "scope": "all", "artifacts": 10},
        {"scope_type": "template", "scope": "t1", "artifacts": 6},
        {"scope_type": "template", "scope": "t2", "artifacts": 4},
    ]
    failures = [
        {"scope_type": "overall", "scope": "all", "gate": "accessibility", "n": 2},
        {"scope_type": "template", "scope": "t1", "gate": "accessibility", "n": 2},
    ]
    rows = weekly_rows(WEEK, stats, failures, [_incident("template_id=t1", "prompt")])
    assert [r["week"] for r in rows] == [WEEK] * 3
    assert [json.loads(r["gate_failures"]) for r in rows] == [
        {"accessibility": 2},
        {"accessibility": 2},
        {},
    ]
    assert [json.loads(r["incidents_30d"]) for r in rows] == [{"prompt": 1}, {"prompt": 1}, {}]


def test_only_incidents_opened_in_the_30_days_before_the_week_end_count(tmp_path):
    opened = [
        END - timedelta(days=30, seconds=1),  # too old
        END - timedelta(days=30),
        END - timedelta(seconds=1),
        END,  # the next week's
    ]
    rows = [
        {
            "incident_id": f"RETINC-{n}",
            "number": n,
            "incident_key": f"k{n}",
            "slo": "colour-fidelity",
            "scope": "template_id=t1",
            "severity": "SEV2",
            "status": "open",
            "opened_at": at,
            "alerts": 1,
            "root_cause": "why",
            "root_cause_category": "model",
            "postmortem_due": at,
        }
        for n, at in enumerate(opened, start=1)
    ]
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        insert(con, INCIDENTS, rows)
        recent = queries.incidents_before(con, END)
    assert len(recent) == 2
    assert incident_counts(recent)[("template", "t1")] == {"model": 2}


RULE = Guardrail(baseline_weeks=4, max_worse_pct=20.0, min_artifacts=5)


def test_guardrail_rows_use_the_template_baseline_for_prompts_and_overall_for_models():
    previous = [
        {"scope_type": "overall", "scope": "all", "delta_e_mean": 0.5, "artifacts": 40},
        {"scope_type": "overall", "scope": "all", "delta_e_mean": 0.6, "artifacts": 40},
        {"scope_type": "template", "scope": "t1", "delta_e_mean": 1.0, "artifacts": 10},
    ]
    versions = [
        VersionStats(VersionKind.MODEL, "m-2", None, 20, 0.8),
        VersionStats(VersionKind.PROMPT, "t1/v2", "t1", 20, 1.1),
        VersionStats(VersionKind.PROMPT, "t9/v1", "t9", 20, 1.1),
    ]
    rows = guardrail_rows(WEEK, versions, previous, RULE)
    assert [r["baseline_delta_e_mean"] for r in rows] == [pytest.approx(0.55), 1.0, None]
    assert [r["regressed"] for r in rows] == [True, False, False]
    assert rows[2]["note"] == "no baseline yet" and all(r["week"] == WEEK for r in rows)

    start = datetime(2026, 10, 12, tzinfo=UTC)
    events = regression_events(WEEK, start, rows)
    assert len(events) == 1
    event = events[0]
    assert (event["event_type"], event["source"]) == (
        EventType.GUARDRAIL_REGRESSION,
        EventSource.GUARDRAIL,
    )
    assert event["model_version"] == "m-2" and "prompt_version" not in event
    assert event["delta_e"] == 0.8 and event["event_time"] == start
    assert json.loads(event["details"])["worse_by_pct"] == pytest.approx(45.45, abs=0.01)
    assert regression_events(WEEK, start, rows)[0]["event_id"] == event["event_id"]


def _generation(con, artifact: str, model: str, prompt: str, at: datetime, delta_e: float):
    week = (at - timedelta(days=at.weekday())).date()
    con.execute(
        "INSERT INTO retouch.generations (artifact_id, attempt, campaign_id, template_id, "
        "channel, retouch_version, model_version, prompt, prompt_version, prompt_hash, seed, "
        "steps, cfg_scale, generated_at, processing_ms, image, master, batch_id, line_no, week) "
        "VALUES ($a, 1, 'c', 't1', 'web', 'r', $m, 'p', $pv, 'h', 1, 1, 1, $at, 1, 'i', 'm', "
        "'b', 1, $week)",
        {"a": artifact, "m": model, "pv": prompt, "at": at, "week": week},
    )
    con.execute(
        "INSERT INTO retouch.artifact_quality (artifact_id, attempt, week, campaign_id, "
        "template_id, generated_at, processing_ms, delta_e_mean) "
        "VALUES ($a, 1, $week, 'c', 't1', $at, 1, $de)",
        {"a": artifact, "week": week, "at": at, "de": delta_e},
    )


def test_new_versions_are_those_first_generated_in_the_week(tmp_path):
    before, during = datetime(2026, 10, 6, tzinfo=UTC), datetime(2026, 10, 13, tzinfo=UTC)
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        _generation(con, "old", "m-1", "t1/v1", before, 0.5)
        _generation(con, "a", "m-1", "t1/v2", during, 0.7)
        _generation(con, "b", "m-2", "t1/v1", during, 0.9)
        versions = queries.new_versions(con, WEEK, datetime(2026, 10, 12, tzinfo=UTC))
    assert versions == [
        VersionStats(VersionKind.MODEL, "m-2", None, 1, 0.9),
        VersionStats(VersionKind.PROMPT, "t1/v2", "t1", 1, 0.7),
    ]
