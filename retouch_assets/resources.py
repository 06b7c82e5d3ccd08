"""Typed resources: the warehouse, the landing folder and the configuration file."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from retouch_assets import warehouse
from retouch_assets.config import RetouchConfig, load_config_cached


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. One writer at a time: every step using it is in the
    `retouch_warehouse` pool, and connections close even when a step fails."""

    path: str
    lock_timeout_s: float = 120.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(
            self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s
        ) as con:
            if not read_only:
                warehouse.ensure_schema(con)
            yield con


class LandingResource(dg.ConfigurableResource):
    """The landing folder: one sub-folder per batch with `manifest.jsonl` and its images."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)

    def file(self, row: dict, field: str) -> Path:
        """A generation's `image` or `master` file: relative paths live in its batch folder."""
        return self.root / row["batch_id"] / row[field]


class OutputsResource(dg.ConfigurableResource):
    """Where approved and healed images are published: `<path>/<week>/<artifact>_a<n>.png`."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class ReportsResource(dg.ConfigurableResource):
    """Where the weekly reliability-sync reports and incident timelines are written."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class RetouchConfigResource(dg.ConfigurableResource):
    """`retouch-slo.yaml`, validated; an invalid file fails the step with the field and fix."""

    path: str

    def load(self) -> RetouchConfig:
        return load_config_cached(
            self.path, os.stat(self.path).st_mtime_ns if os.path.exists(self.path) else 0
        )
