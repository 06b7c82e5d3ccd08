"""The one entry point: `dagster dev` (workspace.yaml) loads `defs`; the `retouch` CLI builds the
same Definitions with its own paths through `build_definitions`.

Nothing heavy happens here: no warehouse connection, no model, no config parsing.
"""

import dagster as dg

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
from retouch_assets.defs.quality.assets import artifact_quality
from retouch_assets.defs.slo.assets import evaluate_slos, sli_facts
from retouch_assets.resources import (
    LandingResource,
    OutputsResource,
    RetouchConfigResource,
    WarehouseResource,
)
from retouch_assets.settings import Settings, settings_from_env


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
        ],
        asset_checks=[
            generations_expectations,
            batch_not_systemically_broken,
            published_outputs_pass_gates,
            slo_freeze_respected,
            no_version_regression,
        ],
        jobs=[weekly_job],
        sensors=[landing_batches_sensor],
        resources={
            "warehouse": WarehouseResource(path=settings.duckdb_path),
            "landing": LandingResource(path=settings.landing_dir),
            "outputs": OutputsResource(path=settings.outputs_dir),
            "retouch_config": RetouchConfigResource(path=settings.slo_config),
        },
        # DuckDB has one writer per file: the steps of a run execute one after another in one
        # process (the `retouch_warehouse` pool serialises steps across runs).
        executor=dg.in_process_executor,
    )


defs = build_definitions(settings_from_env())
