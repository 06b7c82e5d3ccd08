"""Rollback plans: known-good versions chosen from the evidence (most recent, good enough, not a
suspect; none when none qualifies), per-template prompt versions, safe paths, escaped text and
shell-quoted commands; and on the sample run: the plans the ops step writes, their figures
against the warehouse, idempotent re-runs, and sign-off commands that really release."""

import re
import shlex
from datetime import UTC, datetime, timedelta
from html import unescape

import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml
from markdown_it import MarkdownIt

from retouch_assets import cli
from retouch_assets.gates.locks import active_locks
from retouch_assets.gates.tables import TEMPLATE_LOCKS
from retouch_assets.ops.rollback import (
    LOCKS_FOLDER,
    LOOKBACK,
    MIN_ARTIFACTS,
    Subject,
    VersionEvidence,
    choose,
    evidence,
    incident_plan_file,
    lock_episodes,
    lock_plan_file,
    plan_markdown,
    suspects_of,
)
from retouch_assets.partitions import week_window
from retouch_assets.slo.tables import BURN_ALERTS
from retouch_assets.warehouse import connect, insert

T0 = datetime(2026, 10, 5, tzinfo=UTC)


def _e(version, good, artifacts, last_day, kind="model_version", template=None, first_day=0):
    return VersionEvidence(
        kind,
        template,
        version,
        artifacts,
        good,
        T0 + timedelta(days=first_day),
        T0 + timedelta(days=last_day),
    )


def test_the_most_recently_seen_good_version_is_chosen():
    found = [_e("m-1", 19, 20, 3), _e("m-2", 20, 20, 9), _e("m-3", 5, 10, 12)]
    (choice,) = choose(found, min_pass_rate=0.95)
    assert choice.chosen is not None and choice.chosen.version == "m-2"  # m-3 fails 50 %
    assert [e.version for e in choice.candidates] == ["m-3", "m-2", "m-1"]


def test_suspects_and_thin_evidence_are_never_chosen():
    found = [_e("m-new", 6, 6, 12), _e("m-few", MIN_ARTIFACTS - 1, MIN_ARTIFACTS - 1, 10)]
    found.append(_e("m-old", 20, 20, 5))
    (choice,) = choose(found, 0.95, {"model_version": frozenset({"m-new"})})
    assert choice.chosen is not None and choice.chosen.version == "m-old"


def test_no_known_good_version_is_said_plainly():
    found = [_e("m-1", 18, 20, 3)]  # 90 % < 95 %
    choices = choose(found, 0.95)
    assert choices[0].chosen is None
    subject = _subject()
    text = plan_markdown(subject, choices, "/w.duckdb", "/landing")
    assert "no known-good model version: none reached 95% good" in text
    assert "the best: m-1, 90.0% (18 of 20)" in text
    assert "There is no known-good version to roll back to" in text
    assert "retouch run" not in text  # nothing to restore


def test_prompt_versions_are_chosen_per_template():
    rows = pl.DataFrame(
        {
            "generated_at": [T0 + timedelta(hours=h) for h in range(12)],
            "template_id": ["tpl-a"] * 6 + ["tpl-b"] * 6,
            "model_version": ["m"] * 12,
            "retouch_version": ["rt"] * 12,
            "prompt_version": ["a/v1"] * 6 + ["b/v1"] * 5 + ["b/v2"],
        }
    )
    good = np.array([True] * 11 + [False])
    found = evidence(rows, good)
    prompts = {(e.template, e.version): (e.good, e.artifacts) for e in found if e.template}
    assert prompts == {
        ("tpl-a", "a/v1"): (6, 6),
        ("tpl-b", "b/v1"): (5, 5),
        ("tpl-b", "b/v2"): (0, 1),
    }
    choices = choose(found, 0.95)
    chosen = {(c.kind, c.template): c.chosen.version if c.chosen else None for c in choices}
    assert chosen == {
        ("model_version", None): None,  # 11 of 12 good: 91.7 %
        ("retouch_version", None): None,
        ("prompt_version", "tpl-a"): "a/v1",
        ("prompt_version", "tpl-b"): "b/v1",  # b/v2 is newer but failed
    }
    # The versions to pin: known-good ones as YAML, the others as a comment naming the best.
    text = plan_markdown(_subject(), choices, "/w.duckdb", "/landing")
    block = text.split("```yaml\n")[1].split("\n```")[0]
    assert yaml.safe_load(block) == {"prompt_version": {"tpl-a": "a/v1", "tpl-b": "b/v1"}}
    assert '# model_version: no known-good version; the best before it began was "m"' in block


def test_suspects_are_the_versions_most_failures_share():
    failures = [{"model_version": "m-2", "prompt_version": f"p{i}"} for i in range(4)]
    failures.append({"model_version": "m-1", "prompt_version": "p0"})
    assert suspects_of(failures) == {"model_version": frozenset({"m-2"})}
    assert suspects_of([]) == {}


def test_lock_episodes_split_at_each_release():
    def row(hours, unlocked):
        return {
            "template_id": "tpl-a",
            "locked_at": T0 + timedelta(hours=hours),
            "unlocked_at": unlocked,
        }

    release = T0 + timedelta(hours=5)
    episodes = lock_episodes([row(3, release), row(1, release), row(8, None), row(9, None)])
    assert [(e["locked_at"], e["unlocked_at"]) for e in episodes] == [
        (T0 + timedelta(hours=1), release),
        (T0 + timedelta(hours=8), None),
    ]


HOSTILE_TEMPLATE = "../../<script>alert(1)</script>`$(touch pwned)`'; rm -rf ~"


def test_plan_paths_never_come_from_the_input():
    assert incident_plan_file("RETINC-7") == "incidents/RETINC-7/rollback-plan.md"
    path = lock_plan_file(HOSTILE_TEMPLATE, T0)
    folder, stem, stamp, name = path.split("/")
    assert (folder, stamp, name) == (LOCKS_FOLDER, "20261005T000000", "rollback-plan.md")
    assert ".." not in path and "<" not in stem and "$" not in stem


def _subject(template=None, command=None, suspects=None) -> Subject:
    return Subject(
        title=f"template lock of {template}" if template else "RETINC-1 (colour-fidelity)",
        relative_path="x/rollback-plan.md",
        began=T0 + timedelta(days=14),
        began_text=f"drift of {template}",
        criterion="passed every blocking gate",
        min_pass_rate=0.95,
        release=f"template {template} is locked",
        release_command=command,
        suspects=suspects or {},
    )


def test_hostile_values_are_escaped_and_commands_are_shell_quoted():
    from retouch_assets.ops.rollback import signoff_command

    command = signoff_command(
        "/w.duckdb", f"rolled back {HOSTILE_TEMPLATE}", template=HOSTILE_TEMPLATE
    )
    found = [
        _e("<!channel> `x`", 20, 20, 3, kind="prompt_version", template=HOSTILE_TEMPLATE),
        _e("[a](javascript:alert(1))", 20, 20, 3),
    ]
    text = plan_markdown(
        _subject(HOSTILE_TEMPLATE, command), choose(found, 0.95), "/w d.duckdb", "/l"
    )
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    # The sign-off command, as a shell reads it, passes the template id through unchanged.
    block = text.split("```sh\n")[-1].split("\n```")[0]
    argv = shlex.split(block.replace('"$USER"', "Mara"))
    assert argv[:4] == ["retouch", "signoff", "--template", HOSTILE_TEMPLATE]
    assert argv[4:6] == ["--by", "Mara"] and argv[-2:] == ["--db", "/w.duckdb"]
    # The versions to pin, as YAML, hold the exact values.
    pinned = yaml.safe_load(text.split("```yaml\n")[1].split("\n```")[0])
    assert pinned["model_version"] == "[a](javascript:alert(1))"
    assert pinned["prompt_version"] == {HOSTILE_TEMPLATE: "<!channel> `x`"}


# ---- on the sample run ------------------------------------------------------------------


def _lock_row(template, at, prompt_version):
    return {
        "template_id": template,
        "locked_at": at,
        "cause_artifact_id": "art-drifted",
        "cause_attempt": 1,
        "week": (at - timedelta(days=at.weekday())).date(),
        "prompt_version": prompt_version,
        "prompt_drift": 0.31,
        "threshold": 0.2,
        "approved_prompt_version": "v1",
        "fallback_prompt_version": "v1",
    }


def test_the_ops_step_writes_plans_that_match_the_warehouse_and_release_for_real(sample_copy):
    """A page at the end of the sample and a template lock: the ops step writes both plans
    (the incident's linked from its timeline), their figures agree with the warehouse, a
    re-run writes the same bytes, and the lock plan's sign-off command releases the lock."""
    from retouch_assets.defs.ops.assets import track_incidents

    week = "2026-10-12"
    _, end = week_window(datetime.fromisoformat(week).date())
    db = str(sample_copy.db)
    (last, template, prompt) = sample_copy.query(
        "SELECT generated_at, template_id, prompt_version FROM retouch.generations "
        "ORDER BY generated_at DESC LIMIT 1"
    )[0]
    fired = last.astimezone(UTC) + timedelta(minutes=5)
    page = {
        "week": datetime.fromisoformat(week).date(),
        "slo": "colour-fidelity",
        "scope": "overall",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "factor": 14.4,
        "fired_at": fired,
        "resolved_at": None,
        "peak_burn_long": 20.0,
        "peak_burn_short": 30.0,
        "low_traffic": False,
    }
    with connect(db) as con:
        con.execute("DELETE FROM slo.burn_alerts WHERE severity = 'page'")
        insert(con, BURN_ALERTS, [page])
        insert(con, TEMPLATE_LOCKS, [_lock_row(template, fired, prompt)])
    resources = sample_copy.resources()
    result = dg.materialize([track_incidents], resources=resources, partition_key=week)
    assert result.success
    reports = sample_copy.reports
    (incident_id,) = sample_copy.query("SELECT incident_id FROM ops.incidents")[0]
    plan = reports / "incidents" / incident_id / "rollback-plan.md"
    timeline = (reports / "incidents" / incident_id / "incident_timeline.md").read_text()
    assert "[rollback-plan.md](rollback-plan.md)" in timeline
    (lock_plan,) = (reports / LOCKS_FOLDER).rglob("rollback-plan.md")
    assert lock_plan == reports / lock_plan_file(template, fired)
    first = {p: p.read_bytes() for p in (plan, lock_plan)}

    # Every "good" figure of the incident plan's model versions, recounted in SQL.
    text = plan.read_text()
    began = fired - timedelta(hours=6)
    counted = sample_copy.query(
        "SELECT g.model_version, count(*) FILTER (WHERE q.delta_e_mean <= 1.0), count(*) "
        "FROM retouch.generations g JOIN retouch.artifact_quality q USING (artifact_id, attempt) "
        "WHERE g.generated_at >= $start AND g.generated_at < $end AND q.delta_e_mean IS NOT NULL "
        "GROUP BY 1",
        {"start": began - LOOKBACK, "end": began},
    )
    assert counted
    for version, good, total in counted:
        assert f"| model version | {version} | {good / total:.1%} ({good} of {total}) |" in text

    # A re-run writes the same plans, byte for byte.
    assert dg.materialize([track_incidents], resources=resources, partition_key=week).success
    assert {p: p.read_bytes() for p in first} == first

    # The lock plan's sign-off, run as printed (the approver filled in), releases the lock.
    lock_text = lock_plan.read_text()
    assert f"template {template} is locked since" in lock_text
    command = lock_text.split("```sh\n")[-1].split("\n```")[0]
    argv = shlex.split(command.replace('"$USER"', "Mara"))
    assert argv[:2] == ["retouch", "signoff"] and argv[argv.index("--db") + 1] == db
    assert cli.main(argv[1:]) == 0
    with connect(db, read_only=True) as con:
        assert active_locks(con) == []
    assert end > fired


@pytest.mark.parametrize("scope", ["template_id=<!channel>|x", "campaign_id=[a](b)"])
def test_an_incident_on_a_hostile_scope_has_a_plan_with_its_scope_escaped(scope, tmp_path):
    from retouch_assets.config import RetouchConfig
    from retouch_assets.migrations import migrate
    from retouch_assets.ops.rollback import rollback_plans

    incident = {
        "incident_id": "RETINC-3",
        "incident_key": "k",
        "slo": "colour-fidelity",
        "scope": scope,
        "opened_at": T0,
    }
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        plans = rollback_plans(con, T0, [incident], {}, RetouchConfig(), "/w", "/l")
    (text,) = plans.values()
    html = MarkdownIt("commonmark").enable("table").render(text)
    (title,) = re.findall(r"<h1>(.*)</h1>", html)
    assert unescape(title) == f"Rollback plan: RETINC-3 (colour-fidelity, {scope})"
    assert "<a " not in html
    assert "no artifact in scope was generated in the 28 days before it began" in text
    assert "There is no known-good version to roll back to" in text


def _signoff(signed_at, effective_from, template="tpl-a"):
    return {
        "signoff_id": f"s-{signed_at:%d%H}-{effective_from:%d%H}",
        "signed_at": signed_at,
        "kind": "unlock_template",
        "scope": template,
        "approver": "Mara",
        "release_note": "fixed",
        "effective_from": effective_from,
    }


def test_a_lock_is_released_at_the_end_only_by_sign_offs_known_then(tmp_path):
    """The report and the rollback plans read one lock release: a sign-off signed after the
    end (a backfilled week) or effective after it does not release the lock at the end; one
    signed and effective before it releases it at its effective time, as `active_locks`."""
    from retouch_assets.migrations import migrate
    from retouch_assets.ops.queries import template_locks
    from retouch_assets.slo.tables import SIGNOFFS

    end = T0 + timedelta(days=7)
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        insert(con, TEMPLATE_LOCKS, [_lock_row("tpl-a", T0 + timedelta(days=1), "v2")])
        insert(
            con,
            SIGNOFFS,
            [
                _signoff(end + timedelta(days=3), T0 + timedelta(days=2)),  # signed later
                _signoff(T0 + timedelta(days=2), end + timedelta(hours=1)),  # effective later
            ],
        )
        ((lock,),) = [template_locks(con, end)]
        assert lock["unlocked_at"] is None
        assert lock_episodes(template_locks(con, end))[0]["unlocked_at"] is None
        # At the later end both are known: released at the earliest effective time.
        assert template_locks(con, end + timedelta(days=7))[0]["unlocked_at"] == T0 + timedelta(
            days=2
        )
        insert(con, SIGNOFFS, [_signoff(T0 + timedelta(days=3), T0 + timedelta(days=4))])
        assert template_locks(con, end)[0]["unlocked_at"] == T0 + timedelta(days=4)
        assert active_locks(con) == []


def test_events_inside_an_exclusion_window_count_neither_for_nor_against_a_version():
    """m-1 failed only during planned maintenance and m-2 was good only then: excluded, m-1 is
    known-good on its other events and m-2 has no counted evidence at all."""
    from retouch_assets.config import ExclusionWindow, RetouchConfig
    from retouch_assets.ops.rollback import subject_choices

    maintenance = ExclusionWindow(
        start=T0 + timedelta(days=5),
        end=T0 + timedelta(days=6),
        scope="colour-fidelity/overall",
        reason="CDN migration",
        approved_by="ana",
    )
    rows = [("m-1", T0 + timedelta(days=1, hours=h), 0.5) for h in range(6)]
    rows += [("m-1", T0 + timedelta(days=5, hours=h), 2.0) for h in range(6)]
    rows += [("m-2", T0 + timedelta(days=5, hours=h, minutes=30), 0.5) for h in range(6)]
    frame = pl.DataFrame(
        {
            "generated_at": [at for _, at, _ in rows],
            "attempt": [1] * len(rows),
            "template_id": ["tpl-a"] * len(rows),
            "channel": ["web"] * len(rows),
            "model_version": [m for m, _, _ in rows],
            "prompt_version": ["p-1"] * len(rows),
            "retouch_version": ["r1"] * len(rows),
            "delta_e_mean": [de for _, _, de in rows],
            "passed_gates": [de <= 1.0 for _, _, de in rows],
        }
    )
    slo = RetouchConfig().slos[0]
    assert slo.name == "colour-fidelity"
    subject = _subject()

    def models(exclusions):
        (choice,) = [
            c for c in subject_choices(subject, frame, slo, exclusions) if c.kind == "model_version"
        ]
        return choice.chosen, {e.version: (e.good, e.artifacts) for e in choice.candidates}

    chosen, seen = models(())
    assert chosen is not None and chosen.version == "m-2"
    assert seen == {"m-1": (6, 12), "m-2": (6, 6)}
    chosen, seen = models([maintenance])
    assert chosen is not None and chosen.version == "m-1"
    assert seen == {"m-1": (6, 6)}


def test_the_failure_lead_is_stated_in_whole_hours_days_included(monkeypatch):
    """The lead before an incident opened reads in hours, a day and more included; every time
    is written in UTC whatever zone it came in."""
    from zoneinfo import ZoneInfo

    from retouch_assets.ops import rollback
    from retouch_assets.ops.incidents import utc_minute

    monkeypatch.setattr(rollback, "FAILURE_LEAD", timedelta(days=1, hours=6))
    opened = datetime(2026, 10, 6, 12, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    incident = {"incident_id": "RETINC-1", "slo": "colour-fidelity", "scope": "overall"}
    subject = rollback.incident_subject(
        incident | {"opened_at": opened}, None, {}, 0.95, "delta_e_mean <= 1.0", "/w"
    )
    assert subject.began == opened - timedelta(hours=30)
    assert subject.began_text == (
        "RETINC-1 opened 2026-10-06 10:30 UTC; its failure window starts 30 h earlier"
    )
    assert utc_minute(opened) == "2026-10-06 10:30"


def test_a_backfill_of_an_older_week_leaves_the_newest_plans_alone(sample_copy):
    """Plans describe the newest evaluated week: re-running an older week (its view of freezes
    and locks is out of date) does not rewrite them, while the newest week's run does."""
    from retouch_assets.defs.ops.assets import track_incidents

    older, newest = "2026-10-05", "2026-10-12"
    _, older_end = week_window(datetime.fromisoformat(older).date())
    (last,) = sample_copy.query(
        "SELECT max(generated_at) FROM retouch.generations WHERE generated_at < $end",
        {"end": older_end},
    )[0]
    fired = last.astimezone(UTC) + timedelta(minutes=5)
    page = {
        "week": datetime.fromisoformat(older).date(),
        "slo": "colour-fidelity",
        "scope": "overall",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "factor": 14.4,
        "fired_at": fired,
        "resolved_at": fired + timedelta(minutes=30),
        "peak_burn_long": 20.0,
        "peak_burn_short": 30.0,
        "low_traffic": False,
    }
    with connect(str(sample_copy.db)) as con:
        con.execute("DELETE FROM slo.burn_alerts WHERE severity = 'page'")
        insert(con, BURN_ALERTS, [page])
    resources = sample_copy.resources()

    def plan_inodes() -> dict:
        found = (sample_copy.reports / "incidents").rglob("rollback-plan.md")
        return {p: p.stat().st_ino for p in found}

    assert dg.materialize([track_incidents], resources=resources, partition_key=newest).success
    written = plan_inodes()
    assert written  # the incident (opened in the older week) has its plan
    assert dg.materialize([track_incidents], resources=resources, partition_key=older).success
    assert plan_inodes() == written  # not replaced by the backfill
    assert dg.materialize([track_incidents], resources=resources, partition_key=newest).success
    assert plan_inodes().keys() == written.keys() and plan_inodes() != written  # rewritten
