"""Where the project's paths come from: the environment, with documented defaults.

This is the only module that reads the environment; `definitions.py` and the CLI call it.
Relative paths are relative to the working directory (the repository root for `make` and
`dagster dev`).
"""

import os
from dataclasses import dataclass

ENV_DUCKDB_PATH = "RETOUCH_DUCKDB_PATH"
ENV_LANDING_DIR = "RETOUCH_LANDING_DIR"
ENV_SLO_CONFIG = "RETOUCH_SLO_CONFIG"
ENV_OUTPUTS_DIR = "RETOUCH_OUTPUTS_DIR"
ENV_REPORTS_DIR = "RETOUCH_REPORTS_DIR"

DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_SLO_CONFIG = "retouch-slo.yaml"
DEFAULT_OUTPUTS_DIR = "data/outputs"
DEFAULT_REPORTS_DIR = "data/reports"


@dataclass(frozen=True)
class Settings:
    duckdb_path: str
    landing_dir: str
    slo_config: str
    outputs_dir: str
    reports_dir: str = DEFAULT_REPORTS_DIR


def settings_from_env() -> Settings:
    """Read the `RETOUCH_*` variables, falling back to the defaults listed in `.env.example`."""
    return Settings(
        duckdb_path=os.environ.get(ENV_DUCKDB_PATH) or DEFAULT_DUCKDB_PATH,
        landing_dir=os.environ.get(ENV_LANDING_DIR) or DEFAULT_LANDING_DIR,
        slo_config=os.environ.get(ENV_SLO_CONFIG) or DEFAULT_SLO_CONFIG,
        outputs_dir=os.environ.get(ENV_OUTPUTS_DIR) or DEFAULT_OUTPUTS_DIR,
        reports_dir=os.environ.get(ENV_REPORTS_DIR) or DEFAULT_REPORTS_DIR,
    )
