"""Typed resources, and the one place they are built from the settings (`build_resources`).

A setting that comes from the environment is passed as `dg.EnvVar`, so the Dagster UI shows
which variable configured it; otherwise its documented default is used.
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from retouch_assets import settings as settings_module
from retouch_assets.config import RetouchConfig, load_config_cached
from retouch_assets.settings import PATH_SETTINGS, Settings
from retouch_assets.warehouse import connect, exclusive_run

if TYPE_CHECKING:
    from retouch_assets.provenance.c2pa_io import C2paSigner
    from retouch_assets.provenance.identity import IdentityPaths


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file, one writer at a time. A run holds the warehouse's run lock
    from its first step to its last (another process waits up to `lock_timeout_s`, then fails
    naming the holder) and, since nobody else may write meanwhile, one connection for all its
    steps, closed when the run ends, failed or not. Schema migrations run once, at set-up."""

    path: str
    lock_timeout_s: float = settings_module.DEFAULT_LOCK_TIMEOUT_S
    _migrated: bool = PrivateAttr(default=False)
    _run: ExitStack | None = PrivateAttr(default=None)
    _connection: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Within one process the run lock is re-entrant: the CLI's own runs pass.
        stack = ExitStack()
        try:
            stack.enter_context(exclusive_run(self.path, timeout_s=self.lock_timeout_s))
            con = stack.enter_context(connect(self.path, lock_timeout_s=self.lock_timeout_s))
            self._migrate(con)
        except BaseException:
            stack.close()
            raise
        self._run, self._connection = stack, con

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._run is not None:
            self._connection = None
            self._run.close()
            self._run = None

    def migrate(self) -> list[int]:
        with connect(self.path, lock_timeout_s=self.lock_timeout_s) as con:
            return self._migrate(con)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> list[int]:
        from retouch_assets.migrations import migrate

        applied = migrate(con)
        self._migrated = True
        return applied

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The run's connection inside a run; outside one (tests, the CLI), a connection of
        its own, closed on exit (the schema migrated on first use)."""
        if self._connection is not None:
            yield self._connection
            return
        if not self._migrated and not read_only:
            self.migrate()
        with connect(self.path, read_only=read_only, lock_timeout_s=self.lock_timeout_s) as con:
            yield con

    @contextmanager
    def released(self) -> Iterator[None]:
        """Close the run's connection while a child process of the run (dbt) opens the file,
        and open it again afterwards, failed or not. The run lock stays held: the child is
        part of this run, and nobody else may write meanwhile."""
        if self._run is None or self._connection is None:
            yield
            return
        self._connection.close()  # closing again when the run ends is harmless
        self._connection = None
        try:
            yield
        finally:
            self._connection = self._run.enter_context(
                connect(self.path, lock_timeout_s=self.lock_timeout_s)
            )


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
    """Where approved and healed images are published, one folder per week. `deep_verify`
    (RETOUCH_DEEP_VERIFY, `retouch run --deep-verify`): the publication integrity check also
    re-decodes and re-measures every published image."""

    path: str
    deep_verify: bool = False

    @property
    def root(self) -> Path:
        return Path(self.path)


class ReportsResource(dg.ConfigurableResource):
    """Where the weekly reliability-sync reports and incident timelines are written."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class BusinessInputsResource(dg.ConfigurableResource):
    """The business inputs folder: `kpi_daily.csv` and `rum_lcp.csv` (or `.parquet`).
    Optional: a missing folder or file is reported by the business layer, never a failure."""

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


class ClipModelResource(dg.ConfigurableResource):
    """Which CLIP model scores prompts and images: `model_dir` (RETOUCH_CLIP_MODEL or `retouch
    run --clip-model`) overrides the config's `clip.model_dir`; neither: not configured."""

    model_dir: str | None = None


class ProvenanceResource(dg.ConfigurableResource):
    """The C2PA signing identity: RETOUCH_C2PA_CERT / RETOUCH_C2PA_KEY /
    RETOUCH_C2PA_TRUST_ANCHOR (read when publishing), else `provenance:` of the config, else
    `fallback_dir` (a test-chain folder: `retouch run --fallback-c2pa-identity`, `make demo`).
    None of them: publication fails before writing anything, saying how to configure one."""

    fallback_dir: str | None = None

    def paths(self, config: RetouchConfig, config_path: str) -> "IdentityPaths":
        from retouch_assets.provenance.identity import resolve_paths

        env = settings_module.c2pa_environment()
        return resolve_paths(config, config_path, env, self.fallback_dir)

    def signer(self, config: RetouchConfig, config_path: str) -> "C2paSigner":
        """A proven signer (`open_signer`); ProvenanceError (a ConfigError) when none is
        configured or it cannot sign."""
        from retouch_assets.provenance.c2pa_io import open_signer
        from retouch_assets.provenance.identity import load_identity, not_configured

        paths = self.paths(config, config_path)
        if not paths.configured:
            raise not_configured(config_path)
        return open_signer(load_identity(paths))

    def trust_anchor(self, config: RetouchConfig, config_path: str) -> bytes | None:
        """The PEM that read-back trusts (no key needed); None when unset."""
        from retouch_assets.provenance.identity import trust_anchor

        return trust_anchor(self.paths(config, config_path))


class AnalyticsSnapshotResource(dg.ConfigurableResource):
    """The analysts' read-only copy of the warehouse, published at the end of every successful
    weekly run, in a storage format DuckDB 1.4 clients open."""

    path: str
    storage_version: str = settings_module.DEFAULT_ANALYTICS_STORAGE_VERSION


class AlertEndpointsResource(dg.ConfigurableResource):
    """The endpoints and secrets alert routes name (`RETOUCH_*` variables), read only when
    delivering; never written to the warehouse, logs or metadata."""

    def environment(self) -> dict[str, str]:
        return settings_module.alert_environment()


def _value(settings: Settings, field: str):
    env_name, _ = PATH_SETTINGS[field]
    return dg.EnvVar(env_name) if field in settings.from_env else getattr(settings, field)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the project, from one Settings object (folders checked first)."""
    settings.check_folders()
    return {
        "warehouse": WarehouseResource(
            path=_value(settings, "duckdb_path"), lock_timeout_s=settings.lock_timeout_s
        ),
        "landing": LandingResource(path=_value(settings, "landing_dir")),
        "outputs": OutputsResource(
            path=_value(settings, "outputs_dir"), deep_verify=settings.deep_verify
        ),
        "reports": ReportsResource(path=_value(settings, "reports_dir")),
        "retouch_config": RetouchConfigResource(path=_value(settings, "slo_config")),
        "business_inputs": BusinessInputsResource(path=_value(settings, "business_dir")),
        "alert_endpoints": AlertEndpointsResource(),
        "analytics_snapshot": AnalyticsSnapshotResource(
            path=dg.EnvVar(settings_module.ENV_ANALYTICS_PATH)
            if "analytics_path" in settings.from_env
            else settings.analytics_file,
            storage_version=settings.analytics_storage_version,
        ),
        "provenance": ProvenanceResource(fallback_dir=settings.c2pa_fallback_dir),
        "clip_model": ClipModelResource(
            model_dir=dg.EnvVar(settings_module.ENV_CLIP_MODEL)
            if "clip_model_dir" in settings.from_env
            else settings.clip_model_dir
        ),
    }
