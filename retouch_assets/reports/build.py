"""Reading the report facts from the warehouse and writing the report files. The asset bodies
in `defs/ops/reports.py` call `write_weekly` and `write_monthly`."""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from retouch_assets.config import RetouchConfig
from retouch_assets.ops import queries as ops_queries
from retouch_assets.partitions import (
    add_months,
    month_key,
    monthly_partitions,
    week_window,
    weeks_of_month,
)
from retouch_assets.qa import queries as qa_queries
from retouch_assets.reports import queries
from retouch_assets.reports.kpi import kpi_rows, periods, span_label
from retouch_assets.reports.markdown import weekly_markdown
from retouch_assets.reports.monthly import MonthlyFacts, monthly_view
from retouch_assets.reports.render import (
    PdfUnavailable,
    print_pdf,
    relative_href,
    render_html,
    review_images,
)
from retouch_assets.reports.rootcause import drivers
from retouch_assets.reports.weekly import DEFAULT_WINDOW, WeeklyFacts, weekly_view, window_days
from retouch_assets.safe_paths import write_text_atomic
from retouch_assets.slo.queries import load_facts

TREND_WEEKS = 8
COST_MONTHS = 3
WEEKLY_HTML, WEEKLY_MD = "reliability_sync.html", "reliability_sync.md"
MONTHLY_HTML, MONTHLY_PDF = "executive_report.html", "executive_report.pdf"

log = logging.getLogger(__name__)


def weekly_folder(week: date) -> str:
    """The week's folder under the reports root: named by the week's ISO date only."""
    return week.isoformat()


def monthly_folder(month: date) -> str:
    return f"monthly/{month:%Y-%m}"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _kpis(con: duckdb.DuckDBPyConnection, before: list[date], after: list[date]):
    def one(weeks: list[date]) -> dict:
        start = week_window(weeks[0])[0]
        end = week_window(weeks[-1])[1]
        return queries.kpis(con, weeks[0], weeks[-1], start, end)

    if not before or not after:
        return []
    return kpi_rows(one(before), one(after), 7 * len(before), 7 * len(after))


def _timelines(incidents: list[dict], page_dir: Path) -> dict[str, str]:
    links = {}
    for i in incidents:
        path = i.get("timeline_path")
        if path and Path(path).is_file():
            links[i["incident_id"]] = relative_href(Path(path), page_dir)
    return links


def weekly_facts(
    con: duckdb.DuckDBPyConnection, week: date, config: RetouchConfig, page_dir: Path
) -> WeeklyFacts:
    start, end = week_window(week)
    ops = ops_queries.report_facts(con, week, end)
    all_weeks = queries.data_weeks(con, week)
    first_shown = max(all_weeks[0] if all_weeks else week, week - timedelta(weeks=TREND_WEEKS - 1))
    shown = [first_shown + timedelta(weeks=i) for i in range((week - first_shown).days // 7 + 1)]
    history = queries.budget_history(con, shown[0], week)
    longest = max((s.window for s in config.slos), default=DEFAULT_WINDOW)
    frame = load_facts(con, start - timedelta(weeks=1), end)
    dims = queries.dimensions(con, start - timedelta(weeks=1), end)
    if len(frame):
        frame = frame.join(dims, on=["artifact_id", "attempt"], how="left")
    else:
        frame = frame.with_columns(
            *(
                pl.lit(None, pl.String).alias(c)
                for c in ("prompt_version", "model_version", "reviewer")
            )
        )
    before, after = periods(all_weeks)
    month = _month_start(week)
    return WeeklyFacts(
        week=week,
        end=end,
        ops=ops,
        history=history,
        daily=queries.daily_sli(con, end.date() - timedelta(days=window_days(longest)), end),
        alerts=queries.alerts_in_span(con, end - timedelta(days=28), end),
        review=queries.review_queue(con, week),
        releases=queries.recent_releases(con, end),
        drivers=drivers(frame, list(config.slos), start, config.exclusions),
        overlay=queries.overlay_by_campaign(con, week, week),
        cost=queries.cost_by_template(con, add_months(month, -(COST_MONTHS - 1)), month),
        kpis=_kpis(con, before, after),
        kpi_periods=(span_label(before), span_label(after)),
        reviews=qa_queries.reviews(con, shown[0], week),
        backlog=qa_queries.backlog(con, week, week),
        slow_seconds=config.review.slow_review_seconds,
        weeks=shown,
        timelines=_timelines(ops["incidents"], page_dir),
        slo_windows={s.name: s.window for s in config.slos},
    )


@dataclass(frozen=True)
class WeeklyReport:
    html: Path
    markdown: Path
    view: dict


def write_weekly(
    con: duckdb.DuckDBPyConnection,
    week: date,
    config: RetouchConfig,
    reports_root: Path,
    landing_root: Path,
) -> WeeklyReport:
    """Render the week's HTML and Markdown under reports/<week>/ (each written atomically)."""
    folder = weekly_folder(week)
    page_dir = reports_root / folder
    facts = weekly_facts(con, week, config, page_dir)
    view = weekly_view(facts, review_images(facts.review, landing_root, page_dir))
    html = write_text_atomic(
        reports_root, f"{folder}/{WEEKLY_HTML}", render_html("weekly.html.j2", view)
    )
    text = weekly_markdown(view, WEEKLY_HTML)
    markdown = write_text_atomic(reports_root, f"{folder}/{WEEKLY_MD}", text)
    return WeeklyReport(html, markdown, view)


def monthly_facts(con: duckdb.DuckDBPyConnection, month: date, page_dir: Path) -> MonthlyFacts:
    # The month is its weeks (those whose Monday falls in it), for everything read per week
    # (KPIs, budgets, overlay) and per instant (incidents) alike; only the cost is kept per
    # calendar month.
    weeks = weeks_of_month(month)
    start, end = week_window(weeks[0])[0], week_window(weeks[-1])[1]
    data = queries.data_weeks(con, weeks[-1])
    in_month = [w for w in data if w in weeks]
    budget_week = in_month[-1] if in_month else None
    budgets = ops_queries.week_budgets(con, budget_week) if budget_week else []
    first_month = _month_start(data[0]) if data else month
    # Against the first month of data; in that first month itself, its first weeks against
    # its last (as the weekly sync compares them).
    before = [w for w in data if _month_start(w) == first_month]
    after = in_month
    if first_month == month:
        before, after = periods(in_month)
    previous = add_months(month, -1)
    last_month_cost = queries.cost_by_template(con, previous, previous)
    incidents = queries.incidents_in_span(con, start, end)
    return MonthlyFacts(
        month=month,
        start=start,
        end=end,
        weeks=weeks,
        budget_week=budget_week,
        budgets=budgets,
        kpis=_kpis(con, before, after),
        kpi_periods=(span_label(before), span_label(after)),
        incidents=incidents,
        cost=queries.cost_by_template(con, month, month),
        previous_cost=sum(float(r["cost"]) for r in last_month_cost) if last_month_cost else None,
        business=queries.overlay_by_campaign(con, weeks[0], weeks[-1]),
        previous_business=queries.overlay_by_campaign(
            con, weeks_of_month(previous)[0], weeks_of_month(previous)[-1]
        ),
        timelines=_timelines(incidents, page_dir),
    )


@dataclass(frozen=True)
class MonthlyReport:
    html: Path
    pdf: Path | None
    pdf_note: str  # why there is no PDF, or "" when there is one


def write_monthly(
    con: duckdb.DuckDBPyConnection, month: date, reports_root: Path, chromium: str | None
) -> MonthlyReport:
    """Render the month's HTML and print it to PDF (skipped, with the reason, when there is
    no Chromium: the run never fails for it)."""
    folder = monthly_folder(month)
    facts = monthly_facts(con, month, reports_root / folder)
    view = monthly_view(facts)
    html = write_text_atomic(
        reports_root, f"{folder}/{MONTHLY_HTML}", render_html("monthly.html.j2", view)
    )
    try:
        pdf = print_pdf(html, html.with_name(MONTHLY_PDF), chromium, stamp=facts.end)
    except PdfUnavailable as exc:
        # A PDF of an earlier run would no longer match the HTML: it goes, nothing stale stays.
        html.with_name(MONTHLY_PDF).unlink(missing_ok=True)
        return MonthlyReport(html, None, str(exc))
    return MonthlyReport(html, pdf, "")


def months_of_weeks(weeks: list[str]) -> list[str]:
    """The monthly partition keys (first days) of the weeks' months: a week counts in the
    month of its Monday, as the executive report counts it."""
    existing = set(monthly_partitions.get_partition_keys())
    months = {month_key(date.fromisoformat(key)) for key in weeks}
    return sorted(m for m in months if m in existing)


def report_paths(reports_root: Path, week: str, month: str | None) -> str:
    """The summary lines naming the last week's sync and the last month's executive report."""
    weekly = reports_root.resolve() / weekly_folder(date.fromisoformat(week))
    lines = [
        f"  weekly reliability sync ({week}): {weekly / WEEKLY_HTML}",
        f"    for chat: {weekly / WEEKLY_MD}",
    ]
    if month is not None:
        folder = reports_root.resolve() / monthly_folder(date.fromisoformat(month))
        pdf = folder / MONTHLY_PDF
        lines.append(f"  monthly executive report ({month[:7]}): {folder / MONTHLY_HTML}")
        lines.append(
            f"    PDF: {pdf}"
            if pdf.is_file()
            else "    PDF: not printed (no Chromium found: "
            "`apt-get install chromium` or set RETOUCH_CHROMIUM)"
        )
    return "\n".join(lines)
