"""SLO exclusion windows: events inside a window leave SLIs, budgets and burn-rate alerts and
are recorded as excluded; a window that starts before it is applied needs a sign-off; the
config names the file, the field and the fix of a bad window."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
import yaml

from retouch_assets.config import (
    ConfigError,
    ExclusionWindow,
    Indicator,
    RetouchConfig,
    Slo,
    load_config,
    parse_config,
)
from retouch_assets.definitions import build_definitions
from retouch_assets.migrations import migrate
from retouch_assets.slo import engine as e
from retouch_assets.slo import governance as gov
from retouch_assets.vocabulary import SignoffKind
from retouch_assets.warehouse import connect
from tests.conftest import REPO_ROOT, SampleRun

WINDOWS = RetouchConfig().alerting.windows
POLICY = RetouchConfig().budget_policy
MONDAY = datetime(2026, 10, 5, tzinfo=UTC)
SLO = Slo(
    name="colour-fidelity",
    indicator=Indicator(metric="delta_e_mean", op="<=", threshold=1.0),
    objective=0.95,
    window="28d",
    dimensions=["channel"],
)


def _window(start: datetime, end: datetime, scope: str = "overall", **notes) -> ExclusionWindow:
    return ExclusionWindow(
        start=start,
        end=end,
        scope=scope,
        reason=notes.get("reason", "CDN migration CHG-1"),
        approved_by=notes.get("approved_by", "ana"),
    )


def _week() -> pl.DataFrame:
    """A week built by hand: 10 events a day at 08:00 … 17:00, web at even hours, email at
    odd ones. Bad (ΔE 2.0): Wednesday 08:00-12:00 (5 events) and Friday 09:00 (1 event)."""
    rows = []
    for day in range(7):
        for hour in range(8, 18):
            bad = (day == 2 and hour <= 12) or (day == 4 and hour == 9)
            rows.append(
                {
                    "artifact_id": f"a{day}-{hour}",
                    "attempt": 1,
                    "generated_at": MONDAY + timedelta(days=day, hours=hour),
                    "campaign_id": "c",
                    "template_id": "t",
                    "channel": "web" if hour % 2 == 0 else "email",
                    "delta_e_mean": 2.0 if bad else 0.3,
                }
            )
    return pl.DataFrame(rows)


END = MONDAY + timedelta(weeks=1)
# Wednesday 10:00 to 15:00: the events at 10, 11, 12 (bad) and 13, 14 (good).
WEDNESDAY = (MONDAY + timedelta(days=2, hours=10), MONDAY + timedelta(days=2, hours=15))


def _overall(facts, exclusions=()) -> e.BudgetRow:
    return e.evaluate_budget(facts, SLO, END, WINDOWS, POLICY, exclusions)[0]


def test_a_window_changes_the_sli_exactly_by_the_excluded_events():
    facts = _week()
    before = _overall(facts)
    assert (before.good, before.total, before.excluded) == (64, 70, 0)
    after = _overall(facts, [_window(*WEDNESDAY)])
    # 3 bad and 2 good events left out: 62 good of 65.
    assert (after.good, after.total, after.excluded) == (62, 65, 5)
    assert after.sli == pytest.approx(62 / 65)
    assert after.budget_consumed == pytest.approx((1 - 62 / 65) / 0.05)
    # The end is exclusive, the start inclusive: 10:00 is out, 15:00 counts.
    edge = _overall(facts, [_window(WEDNESDAY[0], WEDNESDAY[0] + timedelta(hours=1))])
    assert (edge.good, edge.total, edge.excluded) == (64, 69, 1)


def test_a_scoped_window_leaves_out_only_its_dimension_value_and_its_slo():
    facts = _week()
    web = e.evaluate_budget(facts, SLO, END, WINDOWS, POLICY, [_window(*WEDNESDAY, "channel=web")])
    by_scope = {r.scope: r for r in web}
    # Web events at 10, 12 (bad) and 14 (good): 63 good of 67.
    assert (by_scope["overall"].good, by_scope["overall"].total) == (63, 67)
    assert by_scope["overall"].excluded == 3 and by_scope["channel=web"].excluded == 3
    assert by_scope["channel=email"].excluded == 0 and by_scope["channel=email"].total == 35
    same = _overall(facts, [_window(*WEDNESDAY, "colour-fidelity/channel=web")])
    assert (same.good, same.total) == (63, 67)
    other = _overall(facts, [_window(*WEDNESDAY, "delivery")])
    assert (other.good, other.total, other.excluded) == (64, 70, 0)


def test_counted_events_are_the_budgets_events():
    """What other steps count for an SLO (the rollback plans) is what its budget counts."""
    facts = _week()
    exclusions = [_window(*WEDNESDAY, "channel=web")]
    eligible, good = e.counted_events(facts, SLO, exclusions)
    budget = _overall(facts, exclusions)
    assert (int(good.sum()), int(eligible.sum())) == (budget.good, budget.total) == (63, 67)
    assert not (good & ~eligible).any()
    assert e.counted_events(facts, SLO, ())[0].sum() == 70


def test_the_daily_facts_record_the_excluded_events_and_lose_none():
    facts = _week()
    window = _window(*WEDNESDAY)
    plain = e.daily_sli_rows(facts, [SLO], MONDAY.date())
    rows = e.daily_sli_rows(facts, [SLO], MONDAY.date(), [window])
    assert len(rows) == len(plain)
    assert sum(r["total"] for r in rows) == 65 and sum(r["good"] for r in rows) == 62
    assert sum(r["excluded_total"] for r in rows) == 5
    assert sum(r["excluded_good"] for r in rows) == 2
    for before, after in zip(plain, rows, strict=True):
        assert before["total"] == after["total"] + after["excluded_total"]
        assert before["good"] == after["good"] + after["excluded_good"]
        assert after["exclusion_ids"] == (
            [window.exclusion_id] if after["excluded_total"] else None
        )


def _burst() -> pl.DataFrame:
    """Good events every minute for three days; 20 minutes of half-bad events on day two."""
    times = [MONDAY + timedelta(minutes=m) for m in range(3 * 24 * 60)]
    bad = {m for m in range(24 * 60, 24 * 60 + 20) if m % 2 == 0}
    return pl.DataFrame(
        {
            "artifact_id": [f"a{i}" for i in range(len(times))],
            "generated_at": times,
            "delta_e_mean": [2.0 if i in bad else 0.2 for i in range(len(times))],
        }
    ).with_columns(
        attempt=1, campaign_id=pl.lit("c"), template_id=pl.lit("t"), channel=pl.lit("web")
    )


def test_burn_rate_alerts_ignore_excluded_events():
    slo = replace_slo(objective=0.999, window="30d", dimensions=[])
    facts, end = _burst(), MONDAY + timedelta(days=3)
    fired = e.evaluate_alerts(facts, slo, MONDAY, end, WINDOWS, POLICY)
    assert any(ep.severity == "page" for ep in fired)
    burst = _window(MONDAY + timedelta(days=1), MONDAY + timedelta(days=1, minutes=20))
    assert e.evaluate_alerts(facts, slo, MONDAY, end, WINDOWS, POLICY, exclusions=[burst]) == []
    # The same hours for another channel or another SLO change nothing.
    for scope in ("channel=email", "delivery"):
        other = _window(burst.start, burst.end, scope)
        assert e.evaluate_alerts(facts, slo, MONDAY, end, WINDOWS, POLICY, exclusions=[other]) == (
            fired
        )


def replace_slo(**changes) -> Slo:
    return Slo.model_validate({**SLO.model_dump(), **changes})


def test_a_week_evaluation_carries_the_excluded_count():
    config = RetouchConfig(slos=[SLO], exclusions=[_window(*WEDNESDAY)])
    result = e.evaluate_week(_week(), config, MONDAY.date(), MONDAY, END)
    overall = next(b for b in result.budgets if b["scope"] == "overall")
    assert (overall["good"], overall["total"], overall["excluded"]) == (62, 65, 5)


# ---- governance ----------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PAST = _window(NOW - timedelta(days=10), NOW - timedelta(days=9), "delivery/channel=web")
FUTURE = _window(NOW + timedelta(days=5), NOW + timedelta(days=5, hours=6))


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        yield con


def _recorded(con) -> list[tuple]:
    return con.execute(
        "SELECT exclusion_id, slo, scope, retroactive, signoff_id IS NOT NULL, "
        "retired_at IS NOT NULL, reason FROM slo.exclusion_windows ORDER BY applied_at, scope"
    ).fetchall()


def test_windows_in_the_future_need_no_signoff_and_stay_accepted_once_past(con):
    assert gov.apply_config(con, RetouchConfig(exclusions=[FUTURE]), "f.yaml", NOW)
    assert _recorded(con) == [
        (FUTURE.exclusion_id, None, "overall", False, False, False, FUTURE.reason)
    ]
    # A month on the window is in the past, but it was applied before it started.
    later = NOW + timedelta(days=30)
    assert not gov.apply_config(con, RetouchConfig(exclusions=[FUTURE]), "f.yaml", later)
    assert len(_recorded(con)) == 1


def test_a_retroactive_window_is_refused_without_signoff_then_accepted(con):
    config = RetouchConfig(exclusions=[FUTURE, PAST])
    with pytest.raises(ConfigError) as err:
        gov.apply_config(con, config, "retouch-slo.yaml", NOW)
    message = str(err.value)
    assert message.startswith(f"retouch-slo.yaml: exclusions[1]: window {PAST.exclusion_id}")
    assert "scope delivery/channel=web" in message and "starts before now" in message
    assert (
        f"retouch signoff --kind retroactive_exclusion --scope {PAST.exclusion_id} "
        "--approver <name> --release-note <text>" in message
    )
    assert _recorded(con) == []  # nothing applied
    with pytest.raises(ConfigError):  # a sign-off for another window does not cover it
        gov.record_signoff(
            con, SignoffKind.RETROACTIVE_EXCLUSION, FUTURE.exclusion_id, "b", "n", NOW
        )
        gov.apply_config(con, config, "retouch-slo.yaml", NOW)
    signoff = gov.record_signoff(
        con, SignoffKind.RETROACTIVE_EXCLUSION, PAST.exclusion_id, "bo", "RN-7: CDN outage", NOW
    )
    assert gov.apply_config(con, config, "retouch-slo.yaml", NOW + timedelta(minutes=1))
    rows = {r[0]: r for r in _recorded(con)}
    assert rows[PAST.exclusion_id][1:6] == ("delivery", "channel=web", True, True, False)
    stored = con.execute(
        "SELECT signoff_id FROM slo.exclusion_windows WHERE exclusion_id = $id",
        {"id": PAST.exclusion_id},
    ).fetchone()
    assert stored == (signoff,)


def test_changing_the_bounds_of_a_past_window_needs_a_new_signoff(con):
    gov.apply_config(con, RetouchConfig(exclusions=[FUTURE]), "f.yaml", NOW)
    later = NOW + timedelta(days=6)  # FUTURE began a day ago
    longer = _window(FUTURE.start, FUTURE.end + timedelta(hours=6))
    with pytest.raises(ConfigError, match=longer.exclusion_id):
        gov.apply_config(con, RetouchConfig(exclusions=[longer]), "f.yaml", later)
    widened = _window(FUTURE.start, FUTURE.end, "channel=web")  # the scope changed
    assert widened.exclusion_id != FUTURE.exclusion_id
    with pytest.raises(ConfigError, match=widened.exclusion_id):
        gov.apply_config(con, RetouchConfig(exclusions=[widened]), "f.yaml", later)
    # The reason and approver are notes, not what the window excludes: no sign-off.
    renoted = _window(FUTURE.start, FUTURE.end, reason="maintenance CHG-2", approved_by="bo")
    assert renoted.exclusion_id == FUTURE.exclusion_id
    gov.apply_config(con, RetouchConfig(exclusions=[renoted]), "f.yaml", later)
    assert _recorded(con)[0][-1] == "maintenance CHG-2"


def test_removing_a_window_retires_it_and_adding_it_back_after_its_start_is_refused(con):
    gov.apply_config(con, RetouchConfig(exclusions=[FUTURE]), "f.yaml", NOW)
    later = NOW + timedelta(days=6)
    gov.apply_config(con, RetouchConfig(), "f.yaml", later)  # tightening: no sign-off
    assert _recorded(con)[0][5] is True
    with pytest.raises(ConfigError, match=FUTURE.exclusion_id):
        gov.apply_config(con, RetouchConfig(exclusions=[FUTURE]), "f.yaml", later)


def test_validate_refuses_an_unsigned_retroactive_window(con):
    with pytest.raises(ConfigError, match="retroactive_exclusion"):
        gov.refuse_relaxations(con, RetouchConfig(exclusions=[PAST]), "x.yaml", NOW)
    gov.refuse_relaxations(con, RetouchConfig(exclusions=[FUTURE]), "x.yaml", NOW)


# ---- configuration -------------------------------------------------------------------------

GOOD = {
    "start": "2026-11-28T22:00:00+01:00",
    "end": "2026-11-29T04:00:00+01:00",
    "scope": "delivery/channel=web",
    "reason": "CDN migration",
    "approved_by": "ana",
}


def test_a_window_parses_from_yaml_with_offsets_and_keeps_its_id_across_offsets():
    text = yaml.safe_dump({"exclusions": [GOOD]}, sort_keys=False)
    window = parse_config(yaml.safe_load(text), "r.yaml").exclusions[0]
    assert window.start == datetime(2026, 11, 28, 21, tzinfo=UTC)
    unquoted = "exclusions:\n  - {start: 2026-11-28T21:00:00Z, end: 2026-11-29T03:00:00+00:00, "
    unquoted += "scope: delivery/channel=web, reason: r, approved_by: a}\n"
    same = parse_config(yaml.safe_load(unquoted), "r.yaml").exclusions[0]
    assert same.exclusion_id == window.exclusion_id
    # The config round-trips through the JSON recorded in ops.applied_config.
    config = parse_config({"exclusions": [GOOD]}, "r.yaml")
    assert RetouchConfig.model_validate_json(config.model_dump_json()) == config


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"start": "2026-11-28T22:00:00"}, "exclusions[0].start", "has no UTC offset"),
        ({"start": "2026-11-28"}, "exclusions[0].start", "has no UTC offset"),
        ({"start": date(2026, 11, 28)}, "exclusions[0].start", "a date is not a time"),
        ({"end": "next week"}, "exclusions[0].end", "not an ISO-8601 time"),
        ({"end": "2026-11-28T22:00:00+01:00"}, "exclusions[0].end", "ends at or before"),
        ({"scope": "region=eu"}, "exclusions[0].scope", "not an exclusion scope"),
        ({"scope": "latency/channel=web"}, "exclusions[0].scope", "names SLO 'latency'"),
        ({"reason": "  "}, "exclusions[0].reason", "say why the window is excluded"),
        ({"approved_by": None}, "exclusions[0].approved_by", "string"),
        ({"approved": "ana"}, "exclusions[0].approved", "did you mean 'approved_by'"),
    ],
)
def test_a_bad_window_names_the_file_the_field_and_the_fix(tmp_path, change, field, words):
    window = {**GOOD, **change}
    path = tmp_path / "retouch-slo.yaml"
    path.write_text(yaml.safe_dump({"exclusions": [window]}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"retouch-slo.yaml: {field}" in message and words in message and "Fix:" in message


def test_the_shipped_file_has_no_exclusions():
    assert load_config(REPO_ROOT / "retouch-slo.yaml").exclusions == []


# ---- through Dagster -----------------------------------------------------------------------

WEEK = "2026-10-12"
_SLO_TABLES = (
    "SELECT * FROM slo.sli_facts WHERE week = $w ORDER BY slo, day, campaign_id, template_id, "
    "channel",
    "SELECT * FROM slo.error_budget WHERE week = $w ORDER BY slo, scope",
    "SELECT * FROM slo.burn_alerts WHERE week = $w ORDER BY fired_at, slo, scope, long_window",
)


def _run_slo_week(settings) -> bool:
    defs = build_definitions(settings)
    keys = dg.AssetSelection.groups("slo").resolve(defs.resolve_asset_graph())
    job = defs.resolve_job_def("retouch_weekly")
    result = job.execute_in_process(
        partition_key=WEEK, asset_selection=list(keys), raise_on_error=False
    )
    return result.success


def test_a_partition_with_a_signed_window_is_refused_then_idempotent(
    sample_copy: SampleRun, tmp_path
):
    # Tuesday and Wednesday of the sample's second week, web only: in the past, so signed.
    window = {**GOOD, "start": "2026-10-13T00:00:00+00:00", "end": "2026-10-15T00:00:00Z"}
    window["scope"] = "channel=web"
    text = (
        (REPO_ROOT / "retouch-slo.yaml").read_text()
        + "\n"
        + yaml.safe_dump({"exclusions": [window]})
    )
    config_path = tmp_path / "retouch-slo.yaml"
    config_path.write_text(text)
    excluded = load_config(config_path).exclusions[0]
    settings = replace(sample_copy.settings, slo_config=str(config_path))
    totals = "SELECT slo, sum(good), sum(total) FROM slo.sli_facts WHERE week = $w GROUP BY slo"
    before = sorted(sample_copy.query(totals, {"w": WEEK}))

    assert not _run_slo_week(settings)  # no sign-off: refused, nothing rewritten
    assert sorted(sample_copy.query(totals, {"w": WEEK})) == before
    with connect(settings.duckdb_path) as con:
        gov.record_signoff(
            con,
            SignoffKind.RETROACTIVE_EXCLUSION,
            excluded.exclusion_id,
            "ana",
            "RN-3: web CDN outage",
            datetime.now(UTC),
        )
    assert _run_slo_week(settings)
    first = [sample_copy.query(sql, {"w": WEEK}) for sql in _SLO_TABLES]
    assert _run_slo_week(settings)
    assert [sample_copy.query(sql, {"w": WEEK}) for sql in _SLO_TABLES] == first

    split = sample_copy.query(
        "SELECT slo, sum(good + excluded_good), sum(total + excluded_total), "
        "sum(excluded_total) FROM slo.sli_facts WHERE week = $w GROUP BY slo",
        {"w": WEEK},
    )
    assert sorted((s, g, t) for s, g, t, _ in split) == before  # nothing lost
    assert sum(x for *_, x in split) > 0
    ids = sample_copy.query(
        "SELECT DISTINCT unnest(exclusion_ids) FROM slo.sli_facts WHERE week = $w", {"w": WEEK}
    )
    assert ids == [(excluded.exclusion_id,)]
    budget = sample_copy.query(
        "SELECT sum(excluded) FROM slo.error_budget WHERE week = $w AND scope = 'channel=web'",
        {"w": WEEK},
    )
    assert budget[0][0] > 0


def test_the_run_summary_always_says_how_many_events_exclusion_windows_left_out(sample_run):
    from retouch_assets.cli import _summary

    text = _summary(
        sample_run.db,
        sample_run.settings.outputs_dir,
        [],
        [],
        0.0,
        sample_run.settings.business_dir,
    )
    (line,) = [line for line in text.splitlines() if "exclusion windows:" in line]
    assert line.startswith("  exclusion windows: 0 applied; 0 events excluded")
    assert "none configured" in line
