"""The one entry point: `dagster dev` (workspace.yaml) loads `defs`; the `retouch` CLI builds the
same Definitions with its own paths through `build_definitions`.

Nothing heavy happens here: no warehouse connection, no model, no config parsing.
"""

from pathlib import Path

import dagster as dg

from retouch_assets.config import Review, load_config
from retouch_assets.defs.baselines.assets import (
    no_version_regression,
    version_guardrail,
    weekly_baselines,
)
from retouch_assets.defs.gates.assets import evaluate_gates, gated_outputs
from retouch_assets.defs.gates.checks import (
    batch_not_systemically_broken,
    published_outputs_pass_gates,
    slo_freeze_respected,
)
from retouch_assets.defs.ingest.assets import ingest_landing_batches
from retouch_assets.defs.ingest.checks import generations_expectations
from retouch_assets.defs.ingest.sensors import landing_batches_sensor
from retouch_assets.defs.jobs import weekly_job
from retouch_assets.defs.ops.assets import (
    alert_outbox,
    deliver_alerts_job,
    reliability_report,
    track_incidents,
)
from retouch_assets.defs.ops.schedules import alert_delivery, daily_pipeline, weekly_sync_schedule
from retouch_assets.defs.quality.assets import artifact_quality
from retouch_assets.defs.slo.assets import evaluate_slos, sli_facts
from retouch_assets.resources import (
    LandingResource,
    OutputsResource,
    ReportsResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.settings import Settings, settings_from_env


def _review(settings: Settings) -> Review:
    """The sync schedule's day, time and zone: the one config section read at load time (a
    small YAML file; an invalid one fails the load with its field and fix)."""
    if not Path(settings.slo_config).is_file():
        return Review()
    return load_config(settings.slo_config).review


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            ingest_landing_batches,
            artifact_quality,
            evaluate_gates,
            gated_outputs,
            sli_facts,
            evaluate_slos,
            weekly_baselines,
            version_guardrail,
            alert_outbox,
            track_incidents,
            reliability_report,
        ],
        asset_checks=[
            generations_expectations,
            batch_not_systemically_broken,
            published_outputs_pass_gates,
            slo_freeze_respected,
            no_version_regression,
        ],
        jobs=[weekly_job, deliver_alerts_job],
        sensors=[landing_batches_sensor],
        schedules=[daily_pipeline, weekly_sync_schedule(_review(settings)), alert_delivery],
        resources={
            "warehouse": WarehouseResource(path=settings.duckdb_path),
            "landing": LandingResource(path=settings.landing_dir),
            "outputs": OutputsResource(path=settings.outputs_dir),
            "reports": ReportsResource(path=settings.reports_dir),
            "retouch_config": RetouchConfigResource(path=settings.slo_config),
        },
        # DuckDB has one writer per file: the steps of a run execute one after another in one
        # process (the `retouch_warehouse` pool serialises steps across runs).
        executor=dg.in_process_executor,
    )


defs = build_definitions(settings_from_env())
