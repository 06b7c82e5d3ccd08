"""Freezes hold new prompt versions and template changes; sign-offs release them; relaxing an
SLO needs a sign-off; the guardrail judges new versions against the baseline."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from retouch_assets.baselines.guardrail import Baseline, VersionStats, judge, weighted_baseline
from retouch_assets.config import ConfigError, Guardrail, RetouchConfig, parse_config
from retouch_assets.ingest.queries import first_seen
from retouch_assets.migrations import migrate
from retouch_assets.slo import governance as gov
from retouch_assets.vocabulary import SignoffKind
from retouch_assets.warehouse import connect

FREEZE_START = datetime(2026, 10, 19, tzinfo=UTC)
WEEK_START = datetime(2026, 10, 26, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        yield con


def _budget_row(con, scope="overall", dimension=None, state="slo_freeze", low_traffic=False):
    con.execute(
        "INSERT INTO slo.error_budget VALUES ('2026-10-19', 'colour-fidelity', $scope, $dim, $end, "
        "30, 90, 100, 0.9, 0.95, 2.0, '[]', $state, $since, $low, 0)",
        {
            "scope": scope,
            "dim": dimension,
            "end": WEEK_START,
            "state": state,
            "since": FREEZE_START,
            "low": low_traffic,
        },
    )


def _generation(con, artifact, prompt_version, template="tpl-a", retouch="rt-1", at=None):
    con.execute(
        "INSERT INTO retouch.generations (artifact_id, attempt, campaign_id, template_id, channel, "
        "retouch_version, model_version, prompt, prompt_version, prompt_hash, seed, steps, cfg_scale, "
        "generated_at, processing_ms, image, master, batch_id, line_no, week) VALUES ($a, 1, 'c', $t, "
        "'web', $r, 'm', 'p', $pv, 'h', 1, 1, 1, $at, 1, 'i', 'm', 'b', 1, '2026-10-05')",
        {"a": artifact, "t": template, "r": retouch, "pv": prompt_version, "at": at},
    )


def _held(con, artifact: dict):
    return gov.held_reason(artifact, gov.active_freezes(con, WEEK_START), first_seen(con))


ARTIFACT = {
    "prompt_version": "tpl-a/v2",
    "template_id": "tpl-a",
    "retouch_version": "rt-1",
    "campaign_id": "c",
    "channel": "web",
}


def test_a_freeze_holds_a_new_prompt_version_and_a_signoff_releases_it(con):
    _budget_row(con)
    _generation(con, "old", "tpl-a/v1", at=datetime(2026, 10, 1, tzinfo=UTC))
    _generation(con, "new", "tpl-a/v2", at=datetime(2026, 10, 27, tzinfo=UTC))
    reason = _held(con, ARTIFACT)
    assert (
        reason and "new prompt version tpl-a/v2" in reason and "colour-fidelity/overall" in reason
    )
    # The established prompt version is not held.
    assert _held(con, ARTIFACT | {"prompt_version": "tpl-a/v1"}) is None
    gov.record_signoff(
        con, SignoffKind.RELEASE_FREEZE, "colour-fidelity/overall", "ana", "v2 reviewed", NOW
    )
    assert _held(con, ARTIFACT) is None
    assert con.execute("SELECT count(*) FROM ops.signoffs").fetchone()[0] == 1


def test_a_new_template_and_retouch_version_pair_is_held_too(con):
    _budget_row(con)
    _generation(con, "old", "tpl-a/v1", retouch="rt-1", at=datetime(2026, 10, 1, tzinfo=UTC))
    _generation(con, "new", "tpl-a/v1", retouch="rt-2", at=datetime(2026, 10, 27, tzinfo=UTC))
    reason = _held(con, ARTIFACT | {"prompt_version": "tpl-a/v1", "retouch_version": "rt-2"})
    assert reason and "tpl-a@rt-2" in reason


def test_a_scoped_freeze_covers_only_its_scope_and_low_traffic_is_not_enforced(con):
    _budget_row(con, scope="channel=social", dimension="channel")
    _budget_row(con, scope="channel=web", dimension="channel", low_traffic=True)
    _generation(con, "new", "tpl-a/v2", at=datetime(2026, 10, 27, tzinfo=UTC))
    assert _held(con, ARTIFACT) is None  # web: frozen but low traffic
    assert _held(con, ARTIFACT | {"channel": "social"}) is not None


def test_a_signoff_effective_before_the_freeze_does_not_release_it(con):
    _budget_row(con)
    _generation(con, "new", "tpl-a/v2", at=datetime(2026, 10, 27, tzinfo=UTC))
    gov.record_signoff(
        con,
        SignoffKind.RELEASE_FREEZE,
        "colour-fidelity/*",
        "ana",
        "old",
        NOW,
        effective_from=FREEZE_START - timedelta(days=1),
    )
    assert _held(con, ARTIFACT) is not None
    gov.record_signoff(
        con, SignoffKind.RELEASE_FREEZE, "colour-fidelity/*", "ana", "all scopes", NOW
    )
    assert _held(con, ARTIFACT) is None


@pytest.mark.parametrize("missing", ["scope", "approver", "release_note"])
def test_a_signoff_needs_scope_approver_and_release_note(con, missing):
    args = {"scope": "colour-fidelity/overall", "approver": "ana", "release_note": "why"} | {
        missing: " "
    }
    with pytest.raises(ValueError, match="non-empty"):
        gov.record_signoff(con, SignoffKind.RELEASE_FREEZE, now=NOW, **args)


RELAXED = """
slos:
  - name: colour-fidelity
    indicator: {metric: delta_e_mean, op: "<=", threshold: 1.2}
    objective: 0.90
"""


def test_relaxing_an_objective_is_refused_without_signoff_then_accepted(con):
    assert gov.apply_config(con, RetouchConfig(), "retouch-slo.yaml", NOW)
    assert not gov.apply_config(con, RetouchConfig(), "retouch-slo.yaml", NOW)  # unchanged
    relaxed = parse_config(yaml.safe_load(RELAXED), "relaxed.yaml")
    with pytest.raises(ConfigError) as err:
        gov.apply_config(con, relaxed, "relaxed.yaml", NOW + timedelta(hours=1))
    message = str(err.value)
    assert "objective 0.95 -> 0.9" in message and "threshold 1.0 -> 1.2" in message
    assert "accessibility: SLO removed" in message and "retouch signoff" in message
    for slo in ("colour-fidelity", "accessibility", "delivery", "reprocess-success"):
        gov.record_signoff(
            con,
            SignoffKind.RELAX_OBJECTIVE,
            slo,
            "ana",
            "agreed in the weekly sync",
            NOW + timedelta(hours=2),
        )
    assert gov.apply_config(con, relaxed, "relaxed.yaml", NOW + timedelta(hours=3))


def test_tightening_is_never_a_relaxation():
    tighter = parse_config(
        yaml.safe_load(RELAXED.replace("1.2", "0.8").replace("0.90", "0.97")), "t.yaml"
    )
    found = gov.relaxations(RetouchConfig(), tighter)
    assert all(r.what == "SLO removed" for r in found)


RULE = Guardrail(baseline_weeks=4, max_worse_pct=20.0, min_artifacts=5)


def test_the_guardrail_fires_on_a_worse_model_version():
    baseline = weighted_baseline([(0.5, 40), (0.6, 40), (None, 0)])
    assert baseline == Baseline(pytest.approx(0.55), 80)
    row = judge(VersionStats("model_version", "m-2", None, 20, 0.8), baseline, RULE)
    assert row["regressed"] and row["worse_by_pct"] == pytest.approx(45.45, abs=0.01)


def test_the_guardrail_stays_quiet_for_an_equal_version():
    row = judge(VersionStats("model_version", "m-2", None, 20, 0.55), Baseline(0.55, 80), RULE)
    assert not row["regressed"] and row["worse_by_pct"] == pytest.approx(0.0)


def test_the_guardrail_does_not_judge_without_evidence():
    assert not judge(VersionStats("prompt_version", "t/v2", "t", 3, 2.0), Baseline(0.5, 80), RULE)[
        "regressed"
    ]
    assert (
        judge(VersionStats("model_version", "m-2", None, 20, 2.0), Baseline(None, 0), RULE)["note"]
        == "no baseline yet"
    )
