"""Shared fixtures: a small real sample, hand-made batches, and resources on a temp warehouse."""

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from PIL import Image

from retouch_assets.business.sample import generate_business_sample
from retouch_assets.ingest.landing import WeekBounds
from retouch_assets.resources import build_resources
from retouch_assets.sample import generate_sample
from retouch_assets.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
BOUNDS = WeekBounds(first=date(2025, 1, 6), last=date(2026, 11, 16))


def pytest_configure(config):
    """The dbt metrics layer in tests. Its manifest is prepared once, by the xdist controller
    before any worker loads definitions (workers parsing at once would race on target/). The
    weekly runs of the other tests leave the dbt step out (each would start a dbt process: ~7 s
    of CPU), as they did before it existed; tests/test_dbt_metrics.py runs it. Set
    RETOUCH_DBT_METRICS=on to run it everywhere."""
    from retouch_assets.defs.metrics.project import ENV_DBT_METRICS, prepare_manifest

    os.environ.setdefault(ENV_DBT_METRICS, "off")
    if not hasattr(config, "workerinput"):
        prepare_manifest()
        _c2pa_test_identity(config)


def _c2pa_test_identity(config) -> None:
    """Every published image is signed: the session signs with a test chain made once by the
    xdist controller (the workers, and every `retouch run` or `dagster dev` a test starts,
    inherit the variables). Tests of a missing identity remove them."""
    import tempfile

    from retouch_assets.provenance.testchain import write_test_chain
    from retouch_assets.settings import ENV_C2PA_CERT, ENV_C2PA_KEY, ENV_C2PA_TRUST_ANCHOR

    chain = write_test_chain(Path(tempfile.mkdtemp(prefix="retouch-c2pa-test-")))
    config._c2pa_test_chain = chain.folder
    os.environ[ENV_C2PA_CERT] = str(chain.chain)
    os.environ[ENV_C2PA_KEY] = str(chain.key)
    os.environ[ENV_C2PA_TRUST_ANCHOR] = str(chain.root)


def pytest_unconfigure(config):
    folder = getattr(config, "_c2pa_test_chain", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Under xdist (`--dist loadgroup`), every test on the shared sample run goes to one worker,
    which builds the run once (a session fixture is per worker: ~10 s of CPU each), and the
    crash-repair test, the longest, to another group, so the two overlap."""
    for item in items:
        if "sample_run" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("sample_run"))
        elif item.path.name == "test_crash_repair.py":
            item.add_marker(pytest.mark.xdist_group("crash_repair"))
        elif "browser" in item.path.parts and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group("browser"))  # one Chromium per worker


@pytest.fixture(scope="session")
def c2pa_signer():
    """A C2PA signer with the session's test identity (see `_c2pa_test_identity`)."""
    from retouch_assets.config import RetouchConfig
    from retouch_assets.provenance.c2pa_io import open_signer
    from retouch_assets.provenance.identity import load_identity, resolve_paths
    from retouch_assets.settings import c2pa_environment

    paths = resolve_paths(RetouchConfig(), REPO_ROOT / "retouch-slo.yaml", c2pa_environment())
    return open_signer(load_identity(paths))


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> Path:
    """Two weeks, eight artifacts a week, every kind of invalid line: built once per session."""
    out = tmp_path_factory.mktemp("landing")
    generate_sample(out, weeks=2, per_week=10, seed=2)  # its first week hits every gate path
    return out


def valid_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "artifact_id": "art-1",
        "attempt": 1,
        "campaign_id": "cmp-a",
        "template_id": "tpl-a",
        "channel": "web",
        "retouch_version": "rt-1",
        "model_version": "m-1",
        "prompt": "a cup of coffee",
        "prompt_version": "tpl-a/v1",
        "seed": 42,
        "steps": 30,
        "cfg_scale": 7.0,
        "generated_at": "2026-10-07T10:00:00+02:00",
        "processing_ms": 1200,
        "image": "images/out.png",
        "master": "masters/master.png",
        "text_layers": [
            {
                "id": "h",
                "text": "Hi",
                "fg": "#000000",
                "bg": "#FFFFFF",
                "bbox": None,
                "font_px": 24,
                "bold": False,
            }
        ],
    }
    record.update(overrides)
    return record


@pytest.fixture
def make_batch(tmp_path: Path) -> Callable[..., Path]:
    """Write a batch folder with real PNG files and the given manifest lines; returns the
    landing folder. Lines may be dicts (dumped as JSON), str or bytes (written verbatim)."""
    landing = tmp_path / "landing"

    def _make(
        batch_id: str,
        lines: list[Any],
        images: tuple[str, ...] = ("images/out.png", "masters/master.png"),
    ) -> Path:
        batch = landing / batch_id
        rng = np.random.default_rng(0)
        for relative in images:
            path = batch / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(path)
        chunks = []
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            chunks.append(line if isinstance(line, bytes) else line.encode("utf-8"))
        batch.mkdir(parents=True, exist_ok=True)
        (batch / "manifest.jsonl").write_bytes(b"\n".join(chunks) + b"\n")
        return landing

    return _make


@pytest.fixture
def resources(tmp_path: Path) -> Callable[[Path], dict[str, Any]]:
    def _resources(landing: Path, config: Path | None = None) -> dict[str, Any]:
        return build_resources(
            Settings(
                duckdb_path=str(tmp_path / "warehouse.duckdb"),
                landing_dir=str(landing),
                slo_config=str(config or REPO_ROOT / "retouch-slo.yaml"),
                outputs_dir=str(tmp_path / "outputs"),
                reports_dir=str(tmp_path / "reports"),
                business_dir=str(tmp_path / "business"),  # never the repository's data/
            )
        )

    return _resources


SAMPLE_WEEKS = ("2026-10-05", "2026-10-12")


@dataclass(frozen=True)
class SampleRun:
    """The small sample, every week materialized once through the Definitions the UI loads."""

    settings: Settings
    results: dict

    @property
    def db(self) -> Path:
        return Path(self.settings.duckdb_path)

    @property
    def outputs(self) -> Path:
        return Path(self.settings.outputs_dir)

    @property
    def reports(self) -> Path:
        return Path(self.settings.reports_dir)

    def resources(self) -> dict[str, Any]:
        return build_resources(self.settings)

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()


def run_weeks(settings: Settings, weeks=SAMPLE_WEEKS) -> dict:
    import dagster as dg

    from retouch_assets.definitions import build_definitions

    job = build_definitions(settings).resolve_job_def("retouch_weekly")
    with dg.DagsterInstance.ephemeral() as instance:
        return {
            week: job.execute_in_process(
                partition_key=week, instance=instance, raise_on_error=False
            )
            for week in weeks
        }


@pytest.fixture(scope="session")
def sample_run(small_sample, tmp_path_factory) -> SampleRun:
    """Built once per test session; tests that change it use `sample_copy`."""
    root = tmp_path_factory.mktemp("sample_run")
    # The business inputs matching the small sample's weeks and story (no invalid rows: their
    # quarantine is tested on its own, and every check of this run but CLIP's passes).
    generate_business_sample(
        root / "business", weeks=2, seed=2, beacons_per_week=600, invalid_rows=False
    )
    settings = Settings(
        duckdb_path=str(root / "warehouse.duckdb"),
        landing_dir=str(small_sample),
        slo_config=str(REPO_ROOT / "retouch-slo.yaml"),
        outputs_dir=str(root / "outputs"),
        reports_dir=str(root / "reports"),
        business_dir=str(root / "business"),
    )
    return SampleRun(settings, run_weeks(settings))


@pytest.fixture
def sample_copy(sample_run, tmp_path) -> SampleRun:
    """A private copy of the sample run (warehouse, outputs, reports) to change freely."""
    return SampleRun(copy_sample_run(sample_run, tmp_path / "sample_copy"), sample_run.results)


def copy_sample_run(sample_run: SampleRun, root: Path) -> Settings:
    """sample_run's warehouse, outputs and reports copied under `root` (created), with the
    published paths pointing at the copy; the landing and business inputs are shared."""
    root.mkdir(parents=True)
    for name in ("outputs", "reports"):
        source = Path(getattr(sample_run.settings, f"{name}_dir"))
        if source.exists():
            shutil.copytree(source, root / name)
    shutil.copyfile(sample_run.db, root / "warehouse.duckdb")
    settings = replace(
        sample_run.settings,
        duckdb_path=str(root / "warehouse.duckdb"),
        outputs_dir=str(root / "outputs"),
        reports_dir=str(root / "reports"),
    )
    with duckdb.connect(settings.duckdb_path) as con:
        for column in ("output_path", "sidecar_path", "delivery_manifest_path"):
            con.execute(
                f"UPDATE retouch.gated_outputs SET {column} = replace({column}, $old, $new)",
                {"old": sample_run.settings.outputs_dir, "new": settings.outputs_dir},
            )
        con.execute(
            "UPDATE retouch.renditions SET path = replace(path, $old, $new)",
            {"old": sample_run.settings.outputs_dir, "new": settings.outputs_dir},
        )
    return settings
