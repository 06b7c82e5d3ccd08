"""The weekly reliability sync as a view: pure functions from the facts the layers computed
(`WeeklyFacts`) to what the HTML and Markdown templates show. No I/O here except through
the `images` argument (thumbnails and links, computed by the caller)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from retouch_assets.partitions import week_window
from retouch_assets.qa.stats import durations_by_week, labels_by_template
from retouch_assets.reports import charts
from retouch_assets.reports.kpi import KpiRow
from retouch_assets.reports.rootcause import Driver, top_drivers
from retouch_assets.vocabulary import (
    FROZEN_STATES,
    OVERALL,
    AlertSeverity,
    IncidentStatus,
    OutboxStatus,
    PolicyState,
    ReviewPriority,
)

WORST_LISTED = 3  # frozen scopes named per SLO; the rest are counted
REVIEW_LISTED = 25  # review-queue rows shown with a thumbnail; the rest are counted
ALERT_LANES = 12  # timeline lanes; the rest are counted
BACKLOG_LISTED = 10

STATE_LABELS = {
    PolicyState.OK: "OK",
    PolicyState.FREEZE_NEW_WORK: "New work frozen",
    PolicyState.SLO_FREEZE: "SLO freeze",
    PolicyState.EXHAUSTED: "Budget exhausted",
}
# CSS classes of the state badges (colours in the template pass WCAG AA with their text).
STATE_CLASSES = {
    PolicyState.OK: "ok",
    PolicyState.FREEZE_NEW_WORK: "warn",
    PolicyState.SLO_FREEZE: "bad",
    PolicyState.EXHAUSTED: "bad",
}
LOW_TRAFFIC = " (low traffic)"
DEFAULT_WINDOW = timedelta(days=30)  # an SLO's window when the config names none
POLICY_LINES = ((60.0, "freeze new work (60 %)"), (90.0, "SLO freeze (90 %)"))


@dataclass
class WeeklyFacts:
    """What the weekly report states, as read from the warehouse (`reports.build`)."""

    week: date
    end: datetime
    ops: dict  # ops.queries.report_facts
    history: list[dict]  # overall budget rows per SLO and week, oldest first
    daily: list[dict]  # good/total per SLO and day
    alerts: list[dict]  # alert episodes over the timeline's span
    review: list[dict]  # the week's review queue with generation fields
    releases: list[dict]
    drivers: list[Driver]
    overlay: list[dict]
    cost: list[dict]
    kpis: list[KpiRow]
    kpi_periods: tuple[str, str]
    reviews: list[dict]  # QA reviews of the weeks shown
    backlog: list[dict]  # the week's template backlog
    slow_seconds: float
    weeks: list[date]  # the weeks shown in trends, oldest first
    timelines: dict[str, str] = field(default_factory=dict)  # incident id -> relative link
    slo_windows: dict[str, timedelta] = field(default_factory=dict)  # per SLO, from the config


@dataclass(frozen=True)
class ReviewImage:
    """A review-queue row's thumbnail (a data URI, or None when unreadable) and a link to the
    image file relative to the report."""

    thumbnail: str | None
    href: str | None


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f} %"


def _week_label(week: date) -> str:
    return f"{week:%d %b}"


def headline(budgets: list[dict]) -> list[dict]:
    """One badge per SLO (its overall scope): SLI against objective, budget left, state."""
    out = []
    for b in budgets:
        if b["scope"] != OVERALL:
            continue
        state = PolicyState(b["policy_state"])
        out.append(
            {
                "slo": b["slo"],
                "sli": "n/a" if b["sli"] is None else f"{b['sli'] * 100:.2f} %",
                "objective": f"{b['objective'] * 100:g} %",
                "left": pct(max(0.0, 1.0 - b["budget_consumed"]), 0),
                "consumed": b["budget_consumed"],
                "state": STATE_LABELS[state],
                "css": STATE_CLASSES[state],
                "low_traffic": b["low_traffic"],
                # Events inside exclusion windows (planned maintenance): in no SLI or budget.
                "excluded": b.get("excluded") or 0,
            }
        )
    return out


def freezes(facts: WeeklyFacts) -> list[dict]:
    """Per SLO with a frozen or new-work-frozen scope: how many scopes, the worst few, what
    is held and the command that releases it (never one line per scope)."""
    by_slo: dict[str, list[dict]] = defaultdict(list)
    for b in facts.ops["budgets"]:
        if not b["low_traffic"] and b["policy_state"] != PolicyState.OK:
            by_slo[b["slo"]].append(b)
    out = []
    for slo, rows in sorted(by_slo.items()):
        frozen = [b for b in rows if b["policy_state"] in FROZEN_STATES]
        new_work = [b for b in rows if b["policy_state"] == PolicyState.FREEZE_NEW_WORK]
        worst = sorted(rows, key=lambda b: (-b["budget_consumed"], b["scope"]))[:WORST_LISTED]
        out.append(
            {
                "slo": slo,
                "frozen": len(frozen),
                "new_work": len(new_work),
                "worst": [(b["scope"], pct(b["budget_consumed"], 0)) for b in worst],
                "more": len(rows) - len(worst),
                "holds": (
                    "new prompt versions and template changes held; publication held"
                    if frozen
                    else "new creative work frozen (publication continues)"
                ),
                "release": f'retouch signoff --scope "{slo}/*" --by <name> --note "<why>"',
            }
        )
    return out


def actions(facts: WeeklyFacts, frozen: list[dict]) -> list[dict]:
    """What needs someone this week, most urgent first, each with the section it links to."""
    ops = facts.ops
    out = []
    scopes = sum(f["frozen"] for f in frozen)
    if scopes:
        slos = sum(1 for f in frozen if f["frozen"])
        out.append(
            {
                "text": f"{plural(scopes, 'scope')} in SLO freeze across {plural(slos, 'SLO')}; "
                f"{plural(ops['held'], 'artifact')} held from publication",
                "href": "#freezes",
            }
        )
    open_incidents = [i for i in ops["incidents"] if i["status"] == IncidentStatus.OPEN]
    if open_incidents:
        out.append(
            {"text": f"{plural(len(open_incidents), 'incident')} open", "href": "#incidents"}
        )
    waiting = sum(v for k, v in ops["outbox"].items() if k != OutboxStatus.DELIVERED)
    if waiting:
        out.append(
            {
                "text": f"{plural(waiting, 'alert notification')} not delivered",
                "href": "#alerts",
            }
        )
    if facts.review:
        high = sum(1 for r in facts.review if r["priority"] == ReviewPriority.HIGH)
        out.append(
            {
                "text": f"{plural(len(facts.review), 'artifact')} waiting for human review "
                f"({high} high priority)",
                "href": "#review",
            }
        )
    locked = [lock for lock in ops["locks"] if lock["unlocked_at"] is None]
    if locked:
        out.append(
            {
                "text": f"{plural(len(locked), 'template lock')} (prompt drift); "
                f"{plural(ops['held_by_lock'], 'artifact')} held",
                "href": "#freezes",
            }
        )
    if ops["regressions"]:
        out.append(
            {
                "text": f"{plural(len(ops['regressions']), 'version regression')} (guardrail)",
                "href": "#freezes",
            }
        )
    if facts.backlog:
        out.append(
            {
                "text": f"{plural(len(facts.backlog), 'QA review')} over "
                f"{facts.slow_seconds:g} s added to the template backlog",
                "href": "#qa",
            }
        )
    return out


def sli_charts(facts: WeeklyFacts) -> list[charts.Chart]:
    """SLI against objective per SLO by week (small multiples)."""
    labels = [_week_label(w) for w in facts.weeks]
    by_slo: dict[str, dict[date, dict]] = defaultdict(dict)
    for r in facts.history:
        by_slo[r["slo"]][r["week"]] = r
    out = []
    for i, (slo, rows) in enumerate(sorted(by_slo.items())):
        objective = rows[max(rows)]["objective"] * 100  # the latest week's objective
        values = [
            None if w not in rows or rows[w]["sli"] is None else rows[w]["sli"] * 100
            for w in facts.weeks
        ]
        if all(v is None for v in values):
            continue  # no eligible event in any week shown: nothing to draw
        out.append(
            charts.line_chart(
                f"sli-{i}",
                f"{slo}: SLI by week",
                f"{slo} SLI per week against its objective of {objective:g} %, over each "
                "week's rolling window.",
                labels,
                [charts.Series("SLI", values)],
                lambda v: f"{v:.1f} %",
                references=[(objective, f"objective {objective:g} %")],
            )
        )
    return out


def window_days(window: timedelta) -> int:
    return max(1, -(-window // timedelta(days=1)))  # whole days, rounded up


def burn_down_curves(facts: WeeklyFacts) -> tuple[list[date], list[charts.Series]]:
    """Budget consumed (%) per SLO over its own window ending with the week, day by day:
    the window's bad events so far over the whole window's allowed bad events, so the last
    point is the week's `slo.error_budget.budget_consumed`. The days span the longest
    window; an SLO with a shorter one has no point before its window starts."""
    overall = {b["slo"]: b for b in facts.ops["budgets"] if b["scope"] == OVERALL}
    if not overall:
        return [], []
    spans = {slo: window_days(facts.slo_windows.get(slo, DEFAULT_WINDOW)) for slo in overall}
    last = facts.end.date()
    days_back = max(spans.values())
    days = [last - timedelta(days=days_back - i) for i in range(days_back)]
    daily: dict[str, dict[date, dict]] = defaultdict(dict)
    for r in facts.daily:
        daily[r["slo"]][r["day"]] = r
    series = []
    for slo, b in sorted(overall.items()):
        rows = daily.get(slo, {})
        first = last - timedelta(days=spans[slo])
        total = sum(r["total"] for d, r in rows.items() if first <= d < last)
        allowed = (1 - b["objective"]) * total
        if allowed <= 0:
            continue
        bad, values = 0, []
        for d in days:
            r = rows.get(d) if d >= first else None
            if r:
                bad += r["total"] - r["good"]
            values.append(bad / allowed * 100 if d >= first else None)
        series.append(charts.Series(slo, values))
    return days, series


def burn_down(facts: WeeklyFacts) -> charts.Chart | None:
    """The burn-down curves with the 60 % and 90 % policy lines."""
    days, series = burn_down_curves(facts)
    if not series:
        return None
    return charts.line_chart(
        "burn-down",
        "Error budget consumed over the window",
        f"Budget consumed per SLO, day by day over its own window (up to {len(days)} days) "
        f"ending {facts.end:%Y-%m-%d}, with the 60 % (freeze new work) and 90 % (SLO freeze) "
        "lines.",
        [f"{d:%d %b}" for d in days],
        series,
        lambda v: f"{v:.0f} %",
        references=POLICY_LINES,
        floor=0.0,
    )


ALERT_STEP = timedelta(minutes=5)  # the engine's evaluation step (`slo.engine.evaluate_alerts`)


def alert_episodes(alerts: list[dict], week: date) -> list[dict]:
    """The stored alert episodes as they happened. The engine replays each week on its own:
    an alert still firing at a week's end is stored unresolved (`resolved_at` NULL) and the
    next week stores it again from its first tick. An unresolved row of an earlier week than
    `week` (the latest) ends with its week; then episodes of one alert (SLO, scope, severity,
    long window) that touch (at most one evaluation step apart) or overlap are joined. Only
    an episode still firing at the latest week's end stays unresolved (None)."""
    by_alert: dict[tuple, list[dict]] = defaultdict(list)
    for a in alerts:
        end, still = a["resolved_at"], False
        if end is None:
            end, still = week_window(a["week"])[1], a["week"] >= week
        key = (a["slo"], a["scope"], a["severity"], a["long_window"])
        by_alert[key].append({**a, "resolved_at": end, "still_firing": still})
    out = []
    for rows in by_alert.values():
        rows.sort(key=lambda r: r["fired_at"])
        merged = [rows[0]]
        for r in rows[1:]:
            last = merged[-1]
            if r["fired_at"] <= last["resolved_at"] + ALERT_STEP:
                if r["resolved_at"] >= last["resolved_at"]:
                    last["resolved_at"] = r["resolved_at"]
                    last["still_firing"] = r["still_firing"]
                last["low_traffic"] = last["low_traffic"] and r["low_traffic"]
            else:
                merged.append(r)
        out += merged
    for e in out:
        if e.pop("still_firing"):
            e["resolved_at"] = None
    return sorted(out, key=lambda e: (e["slo"], e["scope"], e["fired_at"]))


def alert_timeline(facts: WeeklyFacts, span_days: int = 28) -> tuple[charts.Chart | None, int]:
    """Burn-rate alert episodes on a timeline (lanes by SLO and scope); the lanes left out."""
    start = facts.end - timedelta(days=span_days)
    lanes: dict[str, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    for a in alert_episodes(facts.alerts, facts.week):
        if a["resolved_at"] is not None and a["resolved_at"] < start:
            continue  # ended before the span (an unresolved row of a week before it)
        flag = LOW_TRAFFIC if a["low_traffic"] else ""
        lanes[f"{a['slo']} · {a['scope']}{flag}"].append(
            (a["fired_at"], a["resolved_at"], a["severity"])
        )
    if not lanes:
        return None, 0
    # Lanes that paged or ticketed for real first (low-traffic ones are flagged, never sent),
    # then by pages, then by episodes.
    ranked = sorted(
        lanes.items(),
        key=lambda kv: (
            kv[0].endswith(LOW_TRAFFIC),
            -sum(1 for e in kv[1] if e[2] == AlertSeverity.PAGE),
            -len(kv[1]),
            kv[0],
        ),
    )
    shown = sorted(ranked[:ALERT_LANES])
    ticks = [
        (start + timedelta(days=d), f"{start + timedelta(days=d):%d %b}")
        for d in (0, 7, 14, 21, 28)
        if d <= span_days
    ]
    chart = charts.timeline(
        "alert-timeline",
        "Alert episodes over the last four weeks",
        f"Burn-rate alert episodes from {start:%Y-%m-%d} to {facts.end:%Y-%m-%d}, one lane per "
        "SLO and scope; red bars are pages, brown bars tickets.",
        start,
        facts.end,
        shown,
        ticks,
    )
    return chart, len(ranked) - len(shown)


def driver_chart(found: list[Driver]) -> charts.Chart | None:
    top = top_drivers(found)
    if not top:
        return None
    return charts.bar_chart(
        "drivers",
        "Biggest contributors to budget burn this week",
        "The groups (prompt version, model version, template, reviewer, channel) whose "
        "failures burned the most error budget this week, in weeks' worth of budget.",
        [(f"{d.dimension}: {d.value}", d.burn) for d in top],
        lambda v: f"{v:.2f}",
    )


def driver_tables(found: list[Driver]) -> list[tuple[str, list[Driver]]]:
    grouped: dict[str, list[Driver]] = defaultdict(list)
    for d in found:
        grouped[d.dimension].append(d)
    return list(grouped.items())


def overlay_chart(overlay: list[dict]) -> charts.Chart | None:
    points = [
        (r["colour_fail_rate"] * 100, r["cvr"] * 100, r["campaign_id"])
        for r in overlay
        if r["colour_fail_rate"] is not None and r["cvr"] is not None
    ]
    if not points:
        return None
    return charts.scatter(
        "overlay",
        "Conversion rate against colour failures per campaign",
        "One point per campaign: colour-gate failure rate of its artifacts (x) against its "
        "conversion rate (y) this week. Correlation, not cause.",
        points,
        "colour fail %",
        "CVR %",
        lambda v: f"{v:g}",
        lambda v: f"{v:.1f}",
    )


def cost_chart(cost: list[dict], month: date) -> charts.Chart | None:
    rows = [r for r in cost if r["month"] == month]
    if not rows:
        return None
    currency = rows[0]["currency"]
    return charts.bar_chart(
        "cost",
        f"Reprocess cost by template, {month:%B %Y}",
        f"Monthly reprocess cost (retries × time × staff rate) per template in {currency}.",
        [(r["template_id"], float(r["cost"])) for r in rows],
        lambda v: f"{v:,.2f} {currency}",
    )


def cost_table(cost: list[dict]) -> tuple[list[date], list[tuple[str, list[str]]]]:
    months = sorted({r["month"] for r in cost})
    by_template: dict[str, dict[date, float]] = defaultdict(dict)
    for r in cost:
        by_template[r["template_id"]][r["month"]] = float(r["cost"])
    rows = [
        (t, [f"{v[m]:,.2f}" if m in v else "–" for m in months])
        for t, v in sorted(by_template.items(), key=lambda kv: -sum(kv[1].values()))
    ]
    return months, rows


def review_stats(facts: WeeklyFacts) -> dict:
    per_week = durations_by_week(facts.reviews, facts.weeks, facts.slow_seconds)
    labels, by_template = labels_by_template(r for r in facts.reviews if r["week"] == facts.week)
    chart = None
    if any(w.seconds for w in per_week):
        chart = charts.strip_chart(
            "review-durations",
            "QA review duration per week",
            "Every QA review's duration in seconds per week (dots), with the week's P50 and "
            f"P95, and the {facts.slow_seconds:g} s limit above which a review feeds the "
            "template backlog.",
            [(_week_label(w.week), w.seconds, w.p50, w.p95) for w in per_week],
            (facts.slow_seconds, f"slow: {facts.slow_seconds:g} s"),
            lambda v: f"{v:g} s",
        )
    return {
        "chart": chart,
        "weeks": per_week,
        "labels": labels,
        "by_template": by_template,
        "backlog": facts.backlog[:BACKLOG_LISTED],
        "backlog_more": max(0, len(facts.backlog) - BACKLOG_LISTED),
    }


def weekly_view(facts: WeeklyFacts, images: dict[tuple[str, int], ReviewImage]) -> dict:
    """Everything the weekly templates show."""
    frozen = freezes(facts)
    timeline_chart, lanes_left = alert_timeline(facts)
    waiting = sum(v for k, v in facts.ops["outbox"].items() if k != OutboxStatus.DELIVERED)
    month = facts.week.replace(day=1)
    months, cost_rows = cost_table(facts.cost)
    return {
        "week": facts.week,
        "end": facts.end,
        "headline": headline(facts.ops["budgets"]),
        "actions": actions(facts, frozen),
        "freezes": frozen,
        "held": facts.ops["held"],
        "locks": facts.ops["locks"],
        "held_by_lock": facts.ops["held_by_lock"],
        "regressions": facts.ops["regressions"],
        "releases": facts.releases,
        "sli_charts": sli_charts(facts),
        "burn_down": burn_down(facts),
        "alert_timeline": timeline_chart,
        "alert_lanes_left": lanes_left,
        "alert_counts": facts.ops["alerts"],
        "outbox": sorted(facts.ops["outbox"].items()),
        "undelivered": waiting,
        "incidents": facts.ops["incidents"],
        "timelines": facts.timelines,
        "drivers": driver_tables(facts.drivers),
        "driver_chart": driver_chart(facts.drivers),
        "overlay": facts.overlay,
        "overlay_chart": overlay_chart(facts.overlay),
        "cost_chart": cost_chart(facts.cost, month),
        "cost_months": months,
        "cost_rows": cost_rows,
        "review": facts.review[:REVIEW_LISTED],
        "review_more": max(0, len(facts.review) - REVIEW_LISTED),
        "review_total": len(facts.review),
        "images": images,
        "kpis": facts.kpis,
        "kpi_periods": facts.kpi_periods,
        "qa": review_stats(facts),
        "slow_seconds": facts.slow_seconds,
    }
