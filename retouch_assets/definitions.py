"""The one entry point: `dagster dev` (workspace.yaml) and the `retouch` CLI load `defs`.

Nothing heavy happens here: no warehouse connection, no model, no config parsing.
"""

import dagster as dg

from retouch_assets.defs.ingest.assets import ingest_landing_batches
from retouch_assets.defs.ingest.checks import generations_expectations
from retouch_assets.defs.ingest.sensors import landing_batches_sensor
from retouch_assets.defs.jobs import weekly_job
from retouch_assets.resources import LandingResource, RetouchConfigResource, WarehouseResource
from retouch_assets.settings import settings_from_env


def build_resources() -> dict[str, dg.ConfigurableResource]:
    settings = settings_from_env()
    return {
        "warehouse": WarehouseResource(path=settings.duckdb_path),
        "landing": LandingResource(path=settings.landing_dir),
        "retouch_config": RetouchConfigResource(path=settings.slo_config),
    }


defs = dg.Definitions(
    assets=[ingest_landing_batches],
    asset_checks=[generations_expectations],
    jobs=[weekly_job],
    sensors=[landing_batches_sensor],
    resources=build_resources(),
    # DuckDB has one writer per file: steps of a run execute one after another in one process.
    executor=dg.in_process_executor,
)
