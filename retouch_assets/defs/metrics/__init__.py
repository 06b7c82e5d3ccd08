"""Metrics layer wiring: the dbt project `dbt_metrics/` (staging, marts, tests as asset checks,
the MetricFlow semantic layer) run by dagster-dbt after the Python layers."""

import warnings

import dagster as dg

from retouch_assets.defs.metrics.project import (
    dbt_executable,
    dbt_metrics_enabled,
    metrics_project,
    prepare_manifest,
    require_manifest,
)
from retouch_assets.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    if not dbt_metrics_enabled():
        return dg.Definitions()
    # dagster_dbt imports dbt (seconds): only when the layer is built.
    from retouch_assets.defs.metrics.assets import build_metrics_assets
    from retouch_assets.defs.metrics.resource import MetricsDbtResource

    project = metrics_project()
    if project.preparer.using_dagster_dev():
        # `dagster dev` picks up edits to the dbt project on reload (parsing only when needed).
        prepare_manifest()
    require_manifest(project.project_dir)
    # dagster-dbt gives time-partitioned dbt assets a single-run backfill policy (a backfill of
    # the metrics alone is one dbt build over the range); the Python layers run a week per run,
    # and so does the weekly job, which says so in a warning each time it is resolved.
    warnings.filterwarnings(
        "ignore", message="Asset job .* materializes assets with varying BackfillPolicies"
    )
    return dg.Definitions(
        assets=[build_metrics_assets(project)],
        resources={
            "dbt": MetricsDbtResource(
                project_dir=str(project.project_dir),
                profiles_dir=str(project.profiles_dir),
                dbt_executable=dbt_executable(),
            )
        },
    )
