"""The dbt project `dbt_metrics/` and its manifest: where they are, whether the manifest is
current, and preparing it (`dbt parse`).

Loading the definitions only reads the manifest; it never parses the project (a parse takes
seconds). Whoever is about to load them prepares it first: `make install` (and the make
targets that load the definitions), `retouch run`, the test session, and `dagster dev`. A
definitions load that finds the manifest missing or out of date fails, naming the fix.
"""

import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from retouch_assets.settings import ENV_DBT_METRICS, dbt_metrics_enabled

__all__ = ["ENV_DBT_METRICS", "dbt_metrics_enabled"]

if TYPE_CHECKING:  # dagster_dbt imports dbt (seconds): only where a project is built or parsed
    from dagster_dbt import DbtProject

# The repository root holds the package (installed editable) and the dbt project side by side.
DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_metrics"
# What `dbt parse` reads: a change to any of these makes the manifest out of date.
_PARSED = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests")
PREPARE_COMMAND = "`make install`, or `../.venv/bin/dbt parse` in dbt_metrics/"


class DbtManifestError(RuntimeError):
    """The dbt manifest is missing or older than the project it describes."""


@cache
def metrics_project() -> "DbtProject":
    from dagster_dbt import DbtProject

    if not (DBT_PROJECT_DIR / "dbt_project.yml").is_file():
        raise DbtManifestError(
            f"{DBT_PROJECT_DIR}: no dbt project. Fix: run from a checkout of the repository "
            "(installed with `pip install -e .`), where dbt_metrics/ sits next to retouch_assets/"
        )
    return DbtProject(project_dir=DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """The `dbt` installed beside this Python (the project's virtual environment), so it is
    found whether or not the environment's bin folder is on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.is_file() else "dbt"


def _newest_source_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _PARSED:
        path = project_dir / name
        files = [path] if path.is_file() else path.rglob("*") if path.is_dir() else []
        for file in files:
            if file.is_file():
                newest = max(newest, file.stat().st_mtime)
    return newest


def manifest_problem(project_dir: Path = DBT_PROJECT_DIR) -> str | None:
    """Why the manifest cannot be used as it is (missing, or older than a project file), or
    None when it is current."""
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.is_file():
        return f"{manifest} is missing"
    if manifest.stat().st_mtime < _newest_source_mtime(project_dir):
        return f"{manifest} is older than the dbt project's files"
    return None


def prepare_manifest(force: bool = False) -> bool:
    """Run `dbt parse` when the manifest is missing or out of date (or `force`); True if it
    ran. It also writes target/semantic_manifest.json, which `mf query` reads."""
    if not force and manifest_problem() is None:
        return False
    from dagster_dbt import DagsterDbtCliRuntimeError

    from retouch_assets.defs.metrics.resource import MetricsDbtResource

    project = metrics_project()
    # What `project.preparer.prepare` does (the project has no packages and no seeds), with
    # the dbt executable named: the preparer looks for `dbt` on PATH only.
    dbt = MetricsDbtResource(
        project_dir=str(project.project_dir),
        profiles_dir=str(project.profiles_dir),
        dbt_executable=dbt_executable(),
    )
    try:
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    except DagsterDbtCliRuntimeError as exc:
        raise DbtManifestError(
            f"`dbt parse` of {project.project_dir} failed. Fix the dbt project:\n{exc}"
        ) from None
    return True


def require_manifest(project_dir: Path = DBT_PROJECT_DIR) -> None:
    """Fail a definitions load clearly when the manifest cannot be used."""
    problem = manifest_problem(project_dir)
    if problem is not None:
        raise DbtManifestError(
            f"dbt metrics layer: {problem}. Fix: {PREPARE_COMMAND}, then load again "
            f"(or set {ENV_DBT_METRICS}=off to run without the metrics layer)"
        )
