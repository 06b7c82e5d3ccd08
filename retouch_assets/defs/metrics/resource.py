"""dagster-dbt's dbt resource, without two per-run costs this project never uses.

`DbtCliResource` runs `dbt --version` once per run to learn the dbt version (seconds, and dbt
asks PyPI for its latest version: a network call in every pipeline run), and builds an
in-process dbt adapter for each command, used only to fetch column metadata and row counts,
which these assets do not ask for. Here the version is the installed dbt-core's (the
executable is the one beside this Python) and no adapter is built. Both are private hooks of
dagster-dbt 0.29 (pinned); if they change, the subclass falls back to the stock behaviour.
"""

from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource
from packaging import version


class MetricsDbtResource(DbtCliResource):
    """The dbt CLI for `dbt_metrics/`."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).is_absolute():  # our own environment's dbt
            return version.parse(installed_version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Any) -> Any:
        return None
