"""Where the project's paths and secrets come from: the environment, with documented defaults.

This is the only module that reads the environment. `dagster dev` loads `.env` from the
directory it starts in, and its values win over the shell's; `retouch` does the same
(`load_dotenv`) before anything reads a setting, so the UI and the CLI resolve the same
settings for the same directory and environment. Relative paths are relative to the working
directory (the repository root for `make` and `dagster dev`).
"""

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

ENV_DUCKDB_PATH = "RETOUCH_DUCKDB_PATH"
ENV_LANDING_DIR = "RETOUCH_LANDING_DIR"
ENV_SLO_CONFIG = "RETOUCH_SLO_CONFIG"
ENV_OUTPUTS_DIR = "RETOUCH_OUTPUTS_DIR"
ENV_REPORTS_DIR = "RETOUCH_REPORTS_DIR"
ENV_BUSINESS_DIR = "RETOUCH_BUSINESS_DIR"
ENV_ANALYTICS_PATH = "RETOUCH_ANALYTICS_PATH"
ENV_ANALYTICS_STORAGE_VERSION = "RETOUCH_ANALYTICS_STORAGE_VERSION"
ENV_LOCK_TIMEOUT_S = "RETOUCH_LOCK_TIMEOUT_S"
# The CLIP model folder (`retouch clip export`); overrides `clip.model_dir` of the config.
ENV_CLIP_MODEL = "RETOUCH_CLIP_MODEL"
ENV_DBT_METRICS = "RETOUCH_DBT_METRICS"
# How a Dagster run executes its steps (docs/deployment.md): all in the run's process (the
# default: the steps share one warehouse connection), a process per step, a Kubernetes Job per
# step (dagster-k8s) or a Celery task per step (dagster-celery). `retouch run` always runs its
# steps in its own process, whatever this says.
ENV_EXECUTOR = "RETOUCH_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "k8s", "celery")
# The publication integrity check re-decodes and re-measures every published image (on, 1,
# true) instead of verifying hashes and gate rows only (the default).
ENV_DEEP_VERIFY = "RETOUCH_DEEP_VERIFY"
# The C2PA signing identity (paths to PEM files); override `provenance:` of the config. Read
# when publishing (`c2pa_environment`), like the alert endpoints: a run or `dagster dev` started
# with them signs with them.
ENV_C2PA_CERT = "RETOUCH_C2PA_CERT"
ENV_C2PA_KEY = "RETOUCH_C2PA_KEY"
ENV_C2PA_TRUST_ANCHOR = "RETOUCH_C2PA_TRUST_ANCHOR"
# A folder holding a test chain (`retouch provenance test-chain`) used only when neither these
# variables nor `provenance:` name an identity (`make ui` points it at the demo's chain).
ENV_C2PA_FALLBACK_DIR = "RETOUCH_C2PA_FALLBACK_DIR"
C2PA_ENV = {
    "cert_chain": ENV_C2PA_CERT,
    "private_key": ENV_C2PA_KEY,
    "trust_anchor": ENV_C2PA_TRUST_ANCHOR,
}
ENV_DAGSTER_HOME = "DAGSTER_HOME"
# The Chromium (or Chrome) binary that prints PDF reports and runs the browser tests; by default
# the first of CHROMIUM_NAMES on PATH (Debian: `apt-get install chromium`).
ENV_CHROMIUM = "RETOUCH_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Crash-repair tests only: the named checkpoint (see faults.py) kills the process with SIGKILL.
ENV_TEST_KILL_AT = "RETOUCH_TEST_KILL_AT"
# Alert routes name their endpoint and secret variables in retouch-slo.yaml; only variables
# with this prefix can be named there (the config's pattern), and only they are handed out.
ALERT_ENV_PREFIX = "RETOUCH_"

DEFAULT_DUCKDB_PATH = "data/warehouse.duckdb"
DEFAULT_LANDING_DIR = "data/landing"
DEFAULT_SLO_CONFIG = "retouch-slo.yaml"
DEFAULT_OUTPUTS_DIR = "data/outputs"
DEFAULT_REPORTS_DIR = "data/reports"
DEFAULT_BUSINESS_DIR = "data/business"
DEFAULT_ANALYTICS_PATH = "data/analytics.duckdb"
# The analyst snapshot's DuckDB storage format: v1.4.0 opens in DuckDB 1.4 LTS clients (what
# most BI drivers embed), which refuse the default format of the DuckDB that writes it.
DEFAULT_ANALYTICS_STORAGE_VERSION = "v1.4.0"
DEFAULT_LOCK_TIMEOUT_S = 120.0
DEFAULT_EXECUTOR = "in_process"

# Setting -> its environment variable and default.
PATH_SETTINGS = {
    "duckdb_path": (ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH),
    "landing_dir": (ENV_LANDING_DIR, DEFAULT_LANDING_DIR),
    "slo_config": (ENV_SLO_CONFIG, DEFAULT_SLO_CONFIG),
    "outputs_dir": (ENV_OUTPUTS_DIR, DEFAULT_OUTPUTS_DIR),
    "reports_dir": (ENV_REPORTS_DIR, DEFAULT_REPORTS_DIR),
    "business_dir": (ENV_BUSINESS_DIR, DEFAULT_BUSINESS_DIR),
    "analytics_path": (ENV_ANALYTICS_PATH, DEFAULT_ANALYTICS_PATH),
}


class SettingsError(ValueError):
    """An environment variable holds a value the project cannot use."""


@dataclass(frozen=True)
class Settings:
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    landing_dir: str = DEFAULT_LANDING_DIR
    slo_config: str = DEFAULT_SLO_CONFIG
    outputs_dir: str = DEFAULT_OUTPUTS_DIR
    reports_dir: str = DEFAULT_REPORTS_DIR
    business_dir: str = DEFAULT_BUSINESS_DIR
    analytics_path: str = DEFAULT_ANALYTICS_PATH
    analytics_storage_version: str = DEFAULT_ANALYTICS_STORAGE_VERSION
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    clip_model_dir: str | None = None  # None: the config's clip.model_dir (if any)
    executor: str = DEFAULT_EXECUTOR  # one of EXECUTORS
    deep_verify: bool = False  # RETOUCH_DEEP_VERIFY, or `retouch run --deep-verify`
    # A test-chain folder (`retouch provenance test-chain`) signed with only when neither the
    # environment nor the config names a signing identity (`make demo`).
    c2pa_fallback_dir: str | None = None
    # Which settings came from the environment (shown as env vars in the Dagster UI).
    from_env: frozenset[str] = frozenset()

    def check_folders(self) -> None:
        """The landing, outputs and reports folders are distinct and not nested, and the
        warehouse is in none of the folders the project writes: publication removes files of
        a week's outputs folder that no row points at, so a shared folder would lose files."""
        folders = {
            ENV_LANDING_DIR: Path(self.landing_dir).resolve(),
            ENV_OUTPUTS_DIR: Path(self.outputs_dir).resolve(),
            ENV_REPORTS_DIR: Path(self.reports_dir).resolve(),
        }
        names = list(folders)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if folders[a].is_relative_to(folders[b]) or folders[b].is_relative_to(folders[a]):
                    raise SettingsError(
                        f"{a}={folders[a]} and {b}={folders[b]} overlap. Fix: give each its own "
                        "folder (defaults: data/landing, data/outputs, data/reports)"
                    )
        warehouse = Path(self.duckdb_path).resolve()
        for name in (ENV_OUTPUTS_DIR, ENV_REPORTS_DIR):
            if warehouse.is_relative_to(folders[name]):
                raise SettingsError(
                    f"{ENV_DUCKDB_PATH}={warehouse} is inside {name}={folders[name]}. Fix: keep "
                    "the warehouse outside the folders the project writes (default "
                    "data/warehouse.duckdb)"
                )

    @property
    def analytics_file(self) -> str:
        """Where the analysts' snapshot goes: RETOUCH_ANALYTICS_PATH or an explicit path, else
        `analytics.duckdb` beside the warehouse (data/analytics.duckdb by default), so a
        warehouse elsewhere never publishes into this directory's data/."""
        if "analytics_path" in self.from_env or self.analytics_path != DEFAULT_ANALYTICS_PATH:
            return self.analytics_path
        return str(Path(self.duckdb_path).with_name("analytics.duckdb"))

    def with_overrides(self, **values: str | bool | None) -> "Settings":
        """These settings with some values given explicitly (command-line options); a value
        that differs from the environment's no longer counts as coming from it."""
        changed = {k for k, v in values.items() if getattr(self, k) != v}
        return replace(self, **values, from_env=self.from_env - changed)


def load_dotenv(directory: str | Path | None = None) -> list[str]:
    """Load `<directory>/.env` (default: the working directory) into the environment the way
    `dagster dev` does: its values override the shell's. Returns the names it set."""
    from dotenv import dotenv_values

    path = Path(directory or os.getcwd()) / ".env"
    if not path.is_file():
        return []
    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    os.environ.update(values)
    return sorted(values)


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the `RETOUCH_*` variables, falling back to the defaults listed in `.env.example`."""
    env = os.environ if environ is None else environ
    values: dict = {}
    from_env = set()
    for field, (name, default) in PATH_SETTINGS.items():
        values[field] = env.get(name) or default
        if env.get(name):
            from_env.add(field)
    storage_version = env.get(ENV_ANALYTICS_STORAGE_VERSION)
    if storage_version:
        values["analytics_storage_version"] = _storage_version(storage_version)
    if env.get(ENV_CLIP_MODEL):
        values["clip_model_dir"] = env[ENV_CLIP_MODEL]
        from_env.add("clip_model_dir")
    if env.get(ENV_DEEP_VERIFY):
        values["deep_verify"] = _switch(ENV_DEEP_VERIFY, env[ENV_DEEP_VERIFY])
        from_env.add("deep_verify")
    raw_timeout = env.get(ENV_LOCK_TIMEOUT_S)
    if raw_timeout:
        values["lock_timeout_s"] = _seconds(ENV_LOCK_TIMEOUT_S, raw_timeout)
    raw_executor = env.get(ENV_EXECUTOR)
    if raw_executor:
        values["executor"] = _executor(raw_executor)
    if env.get(ENV_C2PA_FALLBACK_DIR):
        values["c2pa_fallback_dir"] = env[ENV_C2PA_FALLBACK_DIR]
    return Settings(**values, from_env=frozenset(from_env))


def _seconds(name: str, raw: str) -> float:
    """A finite, non-negative number of seconds (NaN would make a wait endless)."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise SettingsError(
            f"{name}={raw!r}: not a finite, non-negative number of seconds. "
            "Fix: set it to e.g. 120, or unset it"
        )
    return value


def _executor(raw: str) -> str:
    name = raw.strip().lower().replace("-", "_")
    if name not in EXECUTORS:
        raise SettingsError(
            f"{ENV_EXECUTOR}={raw!r}: not an executor. Fix: set it to one of "
            f"{', '.join(EXECUTORS)} (docs/deployment.md), or unset it for {DEFAULT_EXECUTOR}"
        )
    return name


def _switch(name: str, raw: str) -> bool:
    """on/off: on, 1, true, yes or off, 0, false, no (any case)."""
    value = raw.strip().lower()
    if value in {"on", "1", "true", "yes"}:
        return True
    if value in {"off", "0", "false", "no"}:
        return False
    raise SettingsError(f"{name}={raw!r}: not on or off. Fix: set it to on or off, or unset it")


def _storage_version(raw: str) -> str:
    """A DuckDB storage version such as v1.4.0 (it is written into an ATTACH statement)."""
    if not re.fullmatch(r"v\d+\.\d+\.\d+", raw):
        raise SettingsError(
            f"{ENV_ANALYTICS_STORAGE_VERSION}={raw!r}: not a DuckDB storage version. "
            "Fix: set it to e.g. v1.4.0, or unset it"
        )
    return raw


def dagster_home() -> str | None:
    """The Dagster instance folder, when one is configured."""
    return os.environ.get(ENV_DAGSTER_HOME) or None


def alert_environment() -> dict[str, str]:
    """The variables alert routes may name (`RETOUCH_*`): endpoints and secrets, read when
    delivering, never stored in the warehouse or shown in metadata."""
    return {k: v for k, v in os.environ.items() if k.startswith(ALERT_ENV_PREFIX)}


def c2pa_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The C2PA identity paths set in the environment: field of `provenance:` -> path."""
    env = os.environ if environ is None else environ
    return {field: env[name] for field, name in C2PA_ENV.items() if env.get(name)}


def dbt_metrics_enabled() -> bool:
    """Whether the weekly pipeline runs the dbt metrics layer (RETOUCH_DBT_METRICS, default
    on). "off" leaves the dbt step out of the definitions: a machine without dbt, or the test
    suite, whose many weekly runs would each pay seconds for a dbt process."""
    return os.environ.get(ENV_DBT_METRICS, "on").strip().lower() not in {"off", "0", "false"}


def chromium_path() -> str | None:
    """The Chromium binary: RETOUCH_CHROMIUM (must exist), else the first of CHROMIUM_NAMES on
    PATH, else None (PDF printing and the browser tests then say how to install one)."""
    import shutil

    configured = os.environ.get(ENV_CHROMIUM)
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise SettingsError(
                f"{ENV_CHROMIUM}={configured!r}: no such executable. Fix: point it at a Chromium "
                "binary (e.g. /usr/bin/chromium), or unset it to search PATH"
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def kill_point() -> str | None:
    return os.environ.get(ENV_TEST_KILL_AT) or None
