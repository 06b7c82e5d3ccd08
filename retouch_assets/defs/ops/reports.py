"""The reports: the weekly reliability sync (HTML with charts + Markdown for chat, and the
OpenMetrics export) and the monthly executive report (HTML + PDF)."""

import dagster as dg

from retouch_assets.baselines.tables import VERSION_GUARDRAIL
from retouch_assets.business.tables import COST_MONTHLY, OVERLAY
from retouch_assets.defs.jobs import EXECUTIVE_REPORT
from retouch_assets.defs.shared import (
    OWNERS,
    WAREHOUSE_POOL,
    key_of,
    week_of_context,
    weekly_keyed_asset,
)
from retouch_assets.gates.tables import GATE_RESULTS, REVIEW_QUEUE
from retouch_assets.ingest.tables import GENERATIONS
from retouch_assets.ops import queries
from retouch_assets.ops.openmetrics import openmetrics_text
from retouch_assets.ops.tables import ALERT_OUTBOX, INCIDENTS
from retouch_assets.partitions import monthly_partitions
from retouch_assets.qa.tables import TEMPLATE_BACKLOG
from retouch_assets.quality.tables import ARTIFACT_QUALITY
from retouch_assets.reports.build import write_monthly, write_weekly
from retouch_assets.resources import (
    LandingResource,
    ReportsResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.safe_paths import write_text_atomic
from retouch_assets.settings import SettingsError, chromium_path
from retouch_assets.slo.tables import BURN_ALERTS, ERROR_BUDGET

RELIABILITY_REPORT = dg.AssetKey(["ops", "reliability_report"])
METRICS_FILE = "retouch_slo.prom"


@weekly_keyed_asset(
    RELIABILITY_REPORT,
    "ops",
    deps=[
        key_of(t)
        for t in (
            ERROR_BUDGET,
            BURN_ALERTS,
            INCIDENTS,
            REVIEW_QUEUE,
            ALERT_OUTBOX,
            VERSION_GUARDRAIL,
            OVERLAY,
            COST_MONTHLY,
            TEMPLATE_BACKLOG,
            GENERATIONS,  # the root-cause dimensions and the KPIs read these three
            GATE_RESULTS,
            ARTIFACT_QUALITY,
        )
    ],
    kinds=("duckdb", "html"),
)
def reliability_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    reports: ReportsResource,
    landing: LandingResource,
    retouch_config: RetouchConfigResource,
) -> dg.MaterializeResult:
    """The weekly reliability sync: a self-contained HTML report with charts (SLO overview,
    root-cause explorer, business overlay and cost, freezes, incidents, review queue, QA review
    stats, KPI before/after) and its Markdown for chat, under reports/<week>/."""
    week = week_of_context(context)
    config = retouch_config.load()
    with warehouse.connect() as con:
        report = write_weekly(con, week, config, reports.root, landing.root)
        budgets = queries.week_budgets(con, week)
        latest = queries.latest_budget_week(con)
    # The SLO state in OpenMetrics text: per week, and the latest week's where a Prometheus
    # textfile collector reads it (a backfill of an older week leaves that one alone).
    metrics = openmetrics_text(budgets)
    write_text_atomic(reports.root, f"{week.isoformat()}/{METRICS_FILE}", metrics)
    if latest is None or week >= latest:
        write_text_atomic(reports.root, f"openmetrics/{METRICS_FILE}", metrics)
    context.log.info(f"reliability sync for {week}: {report.html} and {report.markdown}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.html)),
            "markdown_path": dg.MetadataValue.path(str(report.markdown)),
            "html_bytes": report.html.stat().st_size,
            "report": dg.MetadataValue.md(report.markdown.read_text(encoding="utf-8")),
            "openmetrics": dg.MetadataValue.path(str(reports.root / "openmetrics" / METRICS_FILE)),
        }
    )


@dg.asset(
    key=EXECUTIVE_REPORT,
    deps=[
        key_of(t)
        # The KPIs read generations, gate results and artifact quality.
        for t in (
            ERROR_BUDGET,
            INCIDENTS,
            COST_MONTHLY,
            OVERLAY,
            GENERATIONS,
            GATE_RESULTS,
            ARTIFACT_QUALITY,
        )
    ],
    group_name="ops",
    kinds={"duckdb", "html", "pdf"},
    owners=OWNERS,
    partitions_def=monthly_partitions,
    pool=WAREHOUSE_POOL,
)
def executive_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, reports: ReportsResource
) -> dg.MaterializeResult:
    """The monthly executive report: one page of quality gains and budget impact (KPI table,
    budget per SLO, incidents, cost, business effect) as HTML and as PDF printed by headless
    Chromium; without a Chromium the HTML is written and the PDF skipped, saying how to get one."""
    month = context.partition_time_window.start.date()
    with warehouse.connect() as con:
        report = write_monthly(con, month, reports.root, _chromium(context))
    if report.pdf is None:
        context.log.warning(f"executive report PDF skipped: {report.pdf_note}")
    context.log.info(f"executive report for {month:%Y-%m}: {report.html}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.html)),
            "html_bytes": report.html.stat().st_size,
            "pdf": dg.MetadataValue.path(str(report.pdf)) if report.pdf else report.pdf_note,
        }
    )


def _chromium(context: dg.AssetExecutionContext) -> str | None:
    """The Chromium to print with; a RETOUCH_CHROMIUM naming no executable is logged and the
    PDF skipped, like a missing Chromium: the report's HTML never fails for it."""
    try:
        return chromium_path()
    except SettingsError as exc:
        context.log.warning(str(exc))
        return None
