"""The reports' pure parts (charts, Markdown escaping, KPI, root cause, freezes summary, QA
statistics), the template backlog asset, and the reports written from the sample run."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from retouch_assets.config import ExclusionWindow, Review, load_config
from retouch_assets.partitions import weeks_of_month
from retouch_assets.qa.stats import backlog_rows, durations_by_week, labels_by_template, percentile
from retouch_assets.reports import charts
from retouch_assets.reports.build import (
    MONTHLY_HTML,
    MONTHLY_PDF,
    WEEKLY_HTML,
    WEEKLY_MD,
    monthly_facts,
    months_of_weeks,
    weekly_facts,
    write_monthly,
    write_weekly,
)
from retouch_assets.reports.kpi import kpi_rows, periods
from retouch_assets.reports.markdown import md, weekly_markdown
from retouch_assets.reports.render import environment, relative_href, render_html
from retouch_assets.reports.rootcause import drivers, top_drivers
from retouch_assets.reports.weekly import (
    WeeklyFacts,
    alert_episodes,
    alert_timeline,
    burn_down_curves,
    freezes,
    headline,
    sli_charts,
    weekly_view,
)
from retouch_assets.slo.engine import budget_consumed
from retouch_assets.warehouse import connect
from tests.conftest import REPO_ROOT

HOSTILE = "<script>alert(1)</script> <!channel> *x* | y"
CONFIG = load_config(REPO_ROOT / "retouch-slo.yaml")


# ---- charts -----------------------------------------------------------------------------


def test_ticks_cover_the_range_with_round_steps():
    assert charts.nice_ticks(0, 455) == [0, 200, 400, 600]
    assert charts.nice_ticks(77.27, 95) == [75, 80, 85, 90, 95]
    assert charts.nice_ticks(5, 5)[0] <= 5 <= charts.nice_ticks(5, 5)[-1]


def test_a_line_chart_leaves_gaps_and_draws_its_references():
    chart = charts.line_chart(
        "c",
        "t",
        "d",
        ["a", "b", "c", "d"],
        [charts.Series("s", [1.0, None, 2.0, 3.0])],
        str,
        references=[(60.0, "freeze new work (60 %)")],
    )
    lines = [s for s in chart.shapes if s.tag == "polyline"]
    assert len(lines) == 1  # the lone first point is a dot, not a line
    assert chart.marks == 4  # one polyline and three dots
    assert any(s.text == "freeze new work (60 %)" for s in chart.shapes)


def test_chart_labels_from_input_are_escaped_when_drawn():
    chart = charts.bar_chart("c", HOSTILE, "d", [(HOSTILE, 1.0)], str)
    template = environment().from_string(
        '{% import "_macros.html.j2" as m %}{{ m.chart(c) }}', globals={}
    )
    html = template.render(c=chart)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<svg" in html and 'role="img"' in html


# ---- Markdown -----------------------------------------------------------------------------


def test_markdown_escaping_keeps_input_inert():
    text = md(HOSTILE + "\nnext [link](http://x)")
    assert "<" not in text and ">" not in text and "\n" not in text
    assert "&lt;\\!channel&gt;" in text and "\\*x\\*" in text and "\\|" in text
    assert "\\[link\\](http\\://x)" in text  # no autolink either
    assert md("a\\<b & -c") == "a\\\\&lt;b &amp; -c"  # the backslash escaped, then the entity
    assert md("- item") == "\\- item"  # no list item when it opens a line


# ---- KPI ----------------------------------------------------------------------------------


def test_kpi_periods_and_changes():
    weeks = [date(2026, 10, 5) + timedelta(weeks=i) for i in range(10)]
    first, last = periods(weeks)
    assert first == weeks[:4] and last == weeks[-4:]
    assert periods(weeks[:3]) == (weeks[:1], weeks[2:3])
    assert periods(weeks[:1]) == (weeks[:1], weeks[:1])
    before = {
        "delta_e_drift_rate": 0.2,
        "contrast_failure_rate": 0.0,
        "reprocess_p95_s": None,
        "incidents": 4,
    }
    after = {
        "delta_e_drift_rate": 0.1,
        "contrast_failure_rate": 0.05,
        "reprocess_p95_s": 20.0,
        "incidents": 1,
    }
    rows = {r.name: r for r in kpi_rows(before, after, 28, 28)}
    assert rows["ΔE drift rate"].change == "−50 %" and rows["ΔE drift rate"].better is True
    assert (
        rows["Contrast failure rate"].change == "new" and not rows["Contrast failure rate"].better
    )
    assert rows["Reprocess time P95"].before == "n/a" and rows["Reprocess time P95"].change == "n/a"
    assert (
        rows["Incidents per month"].before == "4.3"
        and rows["Incidents per month"].change == "−75 %"
    )


# ---- QA review statistics ---------------------------------------------------------------


def _review(week, seconds, template="tpl-a", labels=("colour",)):
    return {
        "week": week,
        "artifact_id": f"art-{seconds}",
        "attempt": 1,
        "generated_at": datetime(2026, 10, 6, tzinfo=UTC),
        "template_id": template,
        "prompt_version": f"{template}/v1",
        "reviewer": "ana",
        "review_seconds": seconds,
        "review_labels": list(labels),
    }


def test_percentiles_match_numpy():
    values = [12.0, 300.0, 45.5, 99.0, 301.0, 7.0]
    for q in (50, 95):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([], 50) is None


def test_slow_reviews_feed_the_backlog_and_labels_count_by_template():
    week = date(2026, 10, 5)
    rows = [
        _review(week, 300.0),
        _review(week, 300.5, "tpl-b", ()),
        _review(week, 20.0, labels=("colour", "copy")),
    ]
    backlog = backlog_rows(rows, 300)
    assert [b["review_seconds"] for b in backlog] == [300.5]  # strictly slower than the limit
    assert backlog[0]["threshold_seconds"] == 300.0 and backlog[0]["review_labels"] == []
    labels, by_template = labels_by_template(rows)
    assert labels == ["colour", "(none)", "copy"]
    assert by_template == [("tpl-a", {"colour": 2, "copy": 1}), ("tpl-b", {"(none)": 1})]
    empty = week + timedelta(weeks=1)
    per_week = durations_by_week(rows, [week, empty], 300)
    assert per_week[0].slow == 1 and per_week[0].p50 == 300.0
    assert per_week[1].seconds == () and per_week[1].p95 is None


# ---- root cause and freezes -------------------------------------------------------------


def test_drivers_rank_by_budget_burn_with_the_weekly_move():
    start = datetime(2026, 10, 12, tzinfo=UTC)
    rows = []
    for i in range(20):
        this_week = i >= 10
        bad = this_week and i % 2 == 0  # five bad artifacts this week, all from model m-2
        rows.append(
            {
                "artifact_id": f"a{i}",
                "attempt": 1,
                "generated_at": start + timedelta(days=1 if this_week else -3, minutes=i),
                "template_id": "tpl-a" if i % 4 else "tpl-b",
                "channel": "web",
                "delta_e_mean": 2.0 if bad else 0.3,
                "wcag_aa_pass": True,
                "processing_seconds": 10.0,
                "passed_gates": True,
                "delivery_ok": True,
                "prompt_drift": None,
                "prompt_version": "p1",
                "model_version": "m-2" if this_week and i % 2 == 0 else "m-1",
                "reviewer": None,
            }
        )
    found = drivers(pl.DataFrame(rows), list(CONFIG.slos), start)
    model = [d for d in found if d.dimension == "model version"]
    assert model[0].value == "m-2" and model[0].failures == 5 and model[0].failure_rate == 1.0
    assert model[0].previous_rate is None and model[0].move is None  # new this week
    # 5 bad of 10 colour events against 5 % allowed: 10 weeks' worth of budget.
    assert model[0].burn == pytest.approx(5 / (0.05 * 10))
    reviewer = [d for d in found if d.dimension == "reviewer"]
    assert reviewer[0].value == "(not reviewed)" and reviewer[0].move == pytest.approx(50.0)
    assert top_drivers(found)[0].burn == model[0].burn
    # The same failures inside a planned-maintenance window count for nothing.
    window = ExclusionWindow(
        start=start,
        end=start + timedelta(days=2),
        scope="overall",
        reason="CDN migration",
        approved_by="Ana Ruiz",
    )
    excluded = drivers(pl.DataFrame(rows), list(CONFIG.slos), start, [window])
    assert not top_drivers(excluded)
    assert all(d.failures == 0 for d in excluded)


def _budget(scope, consumed, state, low=False):
    return {
        "slo": "colour-fidelity",
        "scope": scope,
        "good": 1,
        "total": 2,
        "sli": 0.5,
        "objective": 0.95,
        "budget_consumed": consumed,
        "policy_state": state,
        "low_traffic": low,
    }


def _facts(budgets):
    ops = {
        "budgets": budgets,
        "alerts": [],
        "incidents": [],
        "review": [],
        "outbox": {},
        "held": 7,
        "regressions": [],
        "locks": [],
        "held_by_lock": 0,
    }
    return WeeklyFacts(
        week=date(2026, 10, 12),
        end=datetime(2026, 10, 19, tzinfo=UTC),
        ops=ops,
        history=[],
        daily=[],
        alerts=[],
        review=[],
        releases=[],
        drivers=[],
        overlay=[],
        cost=[],
        kpis=[],
        kpi_periods=("", ""),
        reviews=[],
        backlog=[],
        slow_seconds=300,
        weeks=[date(2026, 10, 12)],
    )


def test_freezes_are_summarised_per_slo_not_listed_per_scope():
    budgets = [_budget("overall", 4.5, "exhausted")]
    budgets += [_budget(f"template_id=t{i:02}", 1.0 + i / 10, "slo_freeze") for i in range(20)]
    budgets += [_budget("channel=web", 0.7, "freeze_new_work"), _budget("x", 9, "exhausted", True)]
    (summary,) = freezes(_facts(budgets))
    assert summary["frozen"] == 21 and summary["new_work"] == 1  # low traffic left out
    assert summary["worst"] == [
        ("overall", "450 %"),
        ("template_id=t19", "290 %"),
        ("template_id=t18", "280 %"),
    ]
    assert summary["more"] == 19
    assert summary["release"].startswith('retouch signoff --scope "colour-fidelity/*"')
    (badge,) = headline(budgets)
    assert badge["state"] == "Budget exhausted" and badge["left"] == "0 %" and badge["css"] == "bad"


def _alert(week, fired, resolved, scope="overall", severity="page"):
    return {
        "week": week,
        "slo": "colour-fidelity",
        "scope": scope,
        "severity": severity,
        "long_window": "1h",
        "fired_at": fired,
        "resolved_at": resolved,
        "low_traffic": False,
    }


def test_an_alert_firing_across_a_week_boundary_is_one_episode():
    w1, w2 = date(2026, 10, 5), date(2026, 10, 12)
    monday = datetime(2026, 10, 12, tzinfo=UTC)
    alerts = [
        # Still firing at the end of w1 (stored unresolved), resolved on Wednesday of w2.
        _alert(w1, monday - timedelta(days=1), None),
        _alert(w2, monday + timedelta(minutes=5), monday + timedelta(days=2)),
        # Another lane: unresolved in w1 and not firing at w2's first tick: ends with w1.
        _alert(w1, monday - timedelta(hours=3), None, scope="channel=web"),
        # Still firing at the end of the latest week: open.
        _alert(w2, monday + timedelta(days=6), None, scope="channel=web"),
        # Resolved exactly at the latest week's end: not open.
        _alert(w2, monday + timedelta(days=6), monday + timedelta(days=7), severity="ticket"),
    ]
    episodes = alert_episodes(alerts, w2)
    spans = sorted((e["scope"], e["severity"], e["fired_at"], e["resolved_at"]) for e in episodes)
    assert spans == [
        ("channel=web", "page", monday - timedelta(hours=3), monday),
        ("channel=web", "page", monday + timedelta(days=6), None),
        ("overall", "page", monday - timedelta(days=1), monday + timedelta(days=2)),
        ("overall", "ticket", monday + timedelta(days=6), monday + timedelta(days=7)),
    ]
    facts = _facts([])
    facts.alerts = alerts
    chart, left_out = alert_timeline(facts)
    assert chart is not None and left_out == 0
    assert chart.marks == 4  # one bar per episode: the week boundary split none


def test_each_burn_down_runs_over_its_own_window_to_the_weeks_figure():
    objective = {"colour-fidelity": 0.95, "wcag": 0.99}
    windows = {"colour-fidelity": timedelta(days=28), "wcag": timedelta(days=7)}
    end = datetime(2026, 10, 19, tzinfo=UTC)
    daily = []
    for slo in objective:  # 40 days: bad days outside the 7-day window must not count
        for i in range(1, 41):
            day = end.date() - timedelta(days=i)
            daily.append({"slo": slo, "day": day, "total": 100, "good": 100 - i % 5})
    budgets = []
    for slo, target in objective.items():
        first = end.date() - windows[slo]
        rows = [r for r in daily if r["slo"] == slo and r["day"] >= first]
        good, total = sum(r["good"] for r in rows), sum(r["total"] for r in rows)
        budgets.append(
            {
                "slo": slo,
                "scope": "overall",
                "objective": target,
                "budget_consumed": budget_consumed(good, total, target),
            }
        )
    facts = _facts(budgets)
    facts.daily, facts.slo_windows = daily, windows
    days, series = burn_down_curves(facts)
    assert len(days) == 28 and days[-1] == end.date() - timedelta(days=1)
    for s, b in zip(series, budgets, strict=True):
        assert s.name == b["slo"]
        assert s.values[-1] == pytest.approx(b["budget_consumed"] * 100)
    wcag = series[1].values
    assert list(wcag[:21]) == [None] * 21 and None not in wcag[21:]


def test_the_sli_chart_draws_the_latest_weeks_objective():
    weeks = [date(2026, 10, 5), date(2026, 10, 12)]
    facts = _facts([])
    facts.weeks = weeks
    facts.history = [  # objective raised from 95 % to 99 % in the second week
        {"slo": "colour-fidelity", "week": w, "sli": 0.97, "objective": o}
        for w, o in zip(weeks, (0.95, 0.99), strict=True)
    ]
    (chart,) = sli_charts(facts)
    labels = {s.text for s in chart.shapes}
    assert "objective 99 %" in labels and "objective 95 %" not in labels


def test_relative_links_encode_each_segment(tmp_path: Path):
    image = tmp_path / "landing" / "batch #1" / "images" / "a?b.png"
    page = tmp_path / "reports" / "2026-10-05"
    assert relative_href(image, page) == "../../landing/batch%20%231/images/a%3Fb.png"


# ---- months and the monthly schedule ------------------------------------------------------


def test_the_weeks_months_and_the_monthly_schedule():
    from retouch_assets.defs.ops.schedules import monthly_report_schedule

    assert months_of_weeks(["2026-09-28", "2026-10-05", "2026-10-26"]) == [
        "2026-09-01",
        "2026-10-01",
    ]
    schedule = monthly_report_schedule(Review(timezone="UTC", time="09:00", weekday="monday"))
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 8, 9, tzinfo=UTC)
    )
    request = schedule(context)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2026-10-01"


@pytest.mark.parametrize("weekday", ["monday", "tuesday", "wednesday", "thursday", "friday"])
def test_the_monthly_report_runs_after_the_sync_of_the_months_last_week(weekday):
    from retouch_assets.defs.ops.schedules import monthly_report_schedule, weekly_sync_schedule

    review = Review(timezone="UTC", time="09:00", weekday=weekday)
    monthly, weekly = monthly_report_schedule(review), weekly_sync_schedule(review)
    assert isinstance(monthly.cron_schedule, str)
    day = int(monthly.cron_schedule.split()[2])
    offset = ["monday", "tuesday", "wednesday", "thursday", "friday"].index(weekday)
    worst = 0
    for i in range(48):  # four years: every layout of a month's last Monday
        month = date(2026 + i // 12, i % 12 + 1, 1)
        last_week = weeks_of_month(month)[-1]
        synced = datetime.combine(last_week + timedelta(days=7 + offset), time(9), UTC)
        request = weekly(dg.build_schedule_context(scheduled_execution_time=synced))
        assert isinstance(request, dg.RunRequest)
        assert request.partition_key == last_week.isoformat()  # that run syncs the last week
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        runs = datetime.combine(following.replace(day=day), time(9), UTC)
        assert runs > synced
        worst = max(worst, (synced.date() - following).days + 1)
        request = monthly(dg.build_schedule_context(scheduled_execution_time=runs))
        assert isinstance(request, dg.RunRequest) and request.partition_key == str(month)
    assert day == worst + 1  # the earliest day that is always late enough


# ---- on the sample run --------------------------------------------------------------------


def test_the_template_backlog_is_idempotent(sample_copy):
    from retouch_assets.defs.qa.assets import template_backlog

    query = (
        "SELECT artifact_id, review_seconds, threshold_seconds FROM qa.template_backlog "
        "ORDER BY ALL"
    )
    expected = sample_copy.query(
        "SELECT artifact_id, review_seconds, 300.0 FROM retouch.generations "
        "WHERE review_seconds > 300 ORDER BY ALL"
    )
    assert expected  # the sample has slow reviews
    assert sample_copy.query(query) == expected
    for week in ("2026-10-05", "2026-10-12"):
        result = dg.materialize(
            [template_backlog], resources=sample_copy.resources(), partition_key=week
        )
        assert result.success
    assert sample_copy.query(query) == expected


def test_the_sample_reports_are_written_escaped_and_compact(sample_copy):
    weekly = sample_copy.reports / "2026-10-12"
    html = (weekly / WEEKLY_HTML).read_text()
    text = (weekly / WEEKLY_MD).read_text()
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert text.startswith("# Reliability sync — week of 2026-10-12")
    assert "## SLO status" in text and "## KPI before / after" in text
    assert len(text.splitlines()) < 60
    with connect(sample_copy.db) as con:
        facts = weekly_facts(con, date(2026, 10, 5), CONFIG, sample_copy.reports)
        _, curves = burn_down_curves(facts)
        overall = {b["slo"]: b for b in facts.ops["budgets"] if b["scope"] == "overall"}
        assert curves
        for curve in curves:  # the last point is the week's stored figure
            assert curve.values[-1] == pytest.approx(overall[curve.name]["budget_consumed"] * 100)
        con.execute("UPDATE retouch.review_queue SET template_id = $h", {"h": HOSTILE})
        report = write_weekly(
            con,
            date(2026, 10, 5),
            CONFIG,
            sample_copy.reports,
            Path(sample_copy.settings.landing_dir),
        )
        stale = sample_copy.reports / "monthly" / "2026-10" / MONTHLY_PDF
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_bytes(b"%PDF- an earlier run's")
        monthly = write_monthly(con, date(2026, 10, 1), sample_copy.reports, chromium=None)
        assert not stale.exists()  # no PDF left that no longer matches the HTML
        # October is the weeks whose Monday falls in it (5 Oct .. 1 Nov) for incidents too.
        for number, opened in ((9001, "2026-11-01T12:00Z"), (9002, "2026-10-03T12:00Z")):
            con.execute(
                "INSERT INTO ops.incidents (incident_id, number, incident_key, slo, scope, "
                "severity, status, opened_at, resolved_at, alerts, root_cause, "
                "root_cause_category, postmortem_due) VALUES ($id, $n, $id, 'delivery', "
                "'overall', 'sev2', 'resolved', $at::TIMESTAMPTZ, "
                "$at::TIMESTAMPTZ + INTERVAL 1 HOUR, 1, 'x', 'other', $at::TIMESTAMPTZ)",
                {"id": f"RETINC-{number}", "n": number, "at": opened},
            )
        october = monthly_facts(con, date(2026, 10, 1), sample_copy.reports)
    ids = {i["incident_id"] for i in october.incidents}
    assert "RETINC-9001" in ids and "RETINC-9002" not in ids
    assert (october.start, october.end) == (
        datetime(2026, 10, 5, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
    )
    chat = report.markdown.read_text()
    assert "<!channel>" not in chat and "&lt;\\!channel&gt;" in chat
    assert "<script>" not in report.html.read_text()
    assert monthly.html.name == MONTHLY_HTML and monthly.html.is_file()
    assert monthly.pdf is None and "apt-get install chromium" in monthly.pdf_note


def test_needs_action_and_the_chat_markdown_name_what_waits():
    budgets = [_budget("overall", 4.5, "exhausted"), _budget(HOSTILE, 0.7, "freeze_new_work")]
    facts = _facts(budgets)
    facts.ops["outbox"] = {"delivered": 1, "retrying": 2}
    facts.ops["locks"] = [
        {
            "template_id": HOSTILE,
            "locked_at": facts.end,
            "cause_artifact_id": "art-9",
            "prompt_version": "tpl-a/v3",
            "prompt_drift": 0.31,
            "threshold": 0.2,
            "fallback_prompt_version": "tpl-a/v1",
            "unlocked_at": None,
        }
    ]
    facts.ops["held_by_lock"] = 4
    facts.ops["incidents"] = [
        {
            "incident_id": "RETINC-1",
            "slo": "colour-fidelity",
            "scope": "overall",
            "status": "open",
            "opened_at": facts.end,
            "root_cause": f"prompt_version {HOSTILE}",
            "postmortem_due": facts.end,
            "timeline_path": None,
        }
    ]
    view = weekly_view(facts, {})
    texts = [a["text"] for a in view["actions"]]
    assert texts == [
        "1 scope in SLO freeze across 1 SLO; 7 artifacts held from publication",
        "1 incident open",
        "2 alert notifications not delivered",
        "1 template lock (prompt drift); 4 artifacts held",
    ]
    chat = weekly_markdown(view, "reliability_sync.html")
    assert "- 2 alert notifications not delivered" in chat
    assert "- RETINC-1 open: colour-fidelity / overall, root cause: prompt_version" in chat
    assert "Outbox: delivered 1, retrying 2 — **2 not delivered**" in chat
    for section in ("## Freezes", "## Alerts", "## Incidents", "## Human review queue"):
        assert section in chat
    assert "worst: overall (450 %), " in chat and "&lt;script&gt;" in chat
    assert "<script>" not in chat and "<!channel>" not in chat
    html = render_html("weekly.html.j2", view)
    assert "<script>" not in html and html.count("&lt;script&gt;") >= 2


def test_the_pdf_dates_are_the_reports_own_so_a_reprint_is_identical():
    from retouch_assets.reports.render import _stamped

    pdf = b"%PDF-1.4\n/CreationDate (D:20261123164316+00'00')\n/ModDate (D:20261123164317+00'00')"
    stamped = _stamped(pdf, datetime(2026, 11, 1, tzinfo=UTC))
    assert len(stamped) == len(pdf)  # the cross-reference offsets stay valid
    assert stamped.count(b"(D:20261101000000+00'00')") == 2


def test_a_bad_chromium_setting_skips_the_pdf_not_the_report(monkeypatch):
    import dagster as dg

    from retouch_assets.defs.ops.reports import _chromium

    monkeypatch.setenv("RETOUCH_CHROMIUM", "/nonexistent/chrome")
    assert _chromium(dg.build_asset_context()) is None


def test_the_badge_says_how_many_events_an_exclusion_window_left_out():
    (badge,) = headline([{**_budget("overall", 0.5, "ok"), "excluded": 7}])
    assert badge["excluded"] == 7
    (plain_badge,) = headline([_budget("overall", 0.5, "ok")])
    assert plain_badge["excluded"] == 0
    macros = environment().get_template("_macros.html.j2").module
    assert "7 events excluded" in str(macros.badges([badge]))
    assert "excluded" not in str(macros.badges([plain_badge]))
