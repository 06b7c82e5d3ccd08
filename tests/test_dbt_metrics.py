"""The dbt metrics layer (`dbt_metrics/`): the dbt step inside the weekly job, dbt tests as asset
checks (one made to fail), MetricFlow's answer for CVR, and the wiring around them.

A dbt process costs seconds, so the suite starts few: the weekly job with the dbt step runs
once per session on a copy of the sample run (shared by the xdist workers), one more dbt build
proves a failing dbt test fails its check, and one `mf query` answers CVR.
"""

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from filelock import FileLock

from retouch_assets.defs.metrics.assets import dbt_vars
from retouch_assets.defs.metrics.project import (
    DBT_PROJECT_DIR,
    ENV_DBT_METRICS,
    DbtManifestError,
    manifest_problem,
    require_manifest,
)
from retouch_assets.resources import WarehouseResource
from retouch_assets.settings import Settings
from retouch_assets.vocabulary import GATE_STATUSES, DriftStatus, Status
from tests.conftest import SAMPLE_WEEKS, copy_sample_run

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
FIRST, LAST = SAMPLE_WEEKS


@contextmanager
def metrics_layer_on():
    """The test session runs weekly jobs without the dbt step (conftest); these tests turn it
    on while they build their definitions."""
    before = os.environ.get(ENV_DBT_METRICS)
    os.environ[ENV_DBT_METRICS] = "on"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV_DBT_METRICS, None)
        else:
            os.environ[ENV_DBT_METRICS] = before


def definitions_with_dbt(settings: Settings) -> dg.Definitions:
    from retouch_assets.definitions import build_definitions

    with metrics_layer_on():
        return build_definitions(settings)


def dbt_tests() -> dict[str, dict]:
    manifest = json.loads(MANIFEST.read_text())
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "test"}


def metrics_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "metrics"]


@dataclass(frozen=True)
class DbtRun:
    """The sample run after the weekly job of its last week ran again with the dbt step: the
    first dbt build of a warehouse builds the marts of every week."""

    settings: Settings
    summary: dict

    @property
    def db(self) -> Path:
        return Path(self.settings.duckdb_path)

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()


def _summary(result: dg.ExecuteInProcessResult) -> dict:
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return {
        "success": result.success,
        "steps": steps,
        "failed_steps": failed,
        "materialized": sorted(
            e.asset_key.to_user_string()
            for e in result.get_asset_materialization_events()
            if e.asset_key is not None
        ),
        "checks": {
            f"{c.asset_key.to_user_string()}:{c.check_name}": c.passed
            for c in result.get_asset_check_evaluations()
        },
    }


@pytest.fixture(scope="session")
def dbt_run(sample_run, tmp_path_factory, request) -> DbtRun:
    """Built once per session: the xdist workers share it through a lock file."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own base folder inside the session's.
    shared = base.parent if hasattr(request.config, "workerinput") else base
    root = shared / "dbt_run"
    with FileLock(str(shared / "dbt_run.lock")):
        summary_file = root / "summary.json"
        if not summary_file.exists():
            settings = copy_sample_run(sample_run, root / "run")
            job = definitions_with_dbt(settings).resolve_job_def("retouch_weekly")
            with dg.DagsterInstance.ephemeral() as instance:
                result = job.execute_in_process(
                    partition_key=LAST, instance=instance, raise_on_error=False
                )
            summary = {"settings": settings.__dict__ | {"from_env": []}, **_summary(result)}
            summary_file.write_text(json.dumps(summary, default=str))
        summary = json.loads(summary_file.read_text())
    settings = Settings(**{k: v for k, v in summary.pop("settings").items() if k != "from_env"})
    return DbtRun(settings, summary)


def test_the_weekly_job_runs_dbt_after_the_python_layers_and_every_dbt_test_passes(dbt_run):
    summary = dbt_run.summary
    assert summary["success"], summary["failed_steps"]
    steps = summary["steps"]
    dbt_step = steps.index("dbt_metrics")
    # After every Python step writing a table the marts read; and the steps after it found the
    # run's warehouse connection open again.
    for upstream in ("evaluate_gates", "slo__sli_facts", "business__overlay"):
        assert steps.index(upstream) < dbt_step, upstream
    assert steps[dbt_step + 1 :], "a step ran after dbt on the reopened connection"
    tables = {
        n["name"]
        for n in json.loads(MANIFEST.read_text())["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["materialized"] != "ephemeral"
    }
    materialized = {
        k.split("/")[-1] for k in summary["materialized"] if k.startswith(("marts/", "metricflow/"))
    }
    assert materialized == tables
    checks = {k: v for k, v in summary["checks"].items() if k.startswith("marts/")}
    assert len(checks) == len(dbt_tests()) and all(checks.values()), checks


def test_the_first_build_fills_the_marts_of_every_week_from_the_python_layers(dbt_run):
    def count(table: str) -> list[tuple]:
        return dbt_run.query(f"SELECT week, count(*) FROM {table} GROUP BY 1 ORDER BY 1")

    assert count("marts.fct_artifact_quality") == count("retouch.generations")
    assert count("marts.fct_kpi_daily") == count("business.kpi_daily")
    assert count("marts.fct_lcp_beacons") == count("business.rum_lcp")
    assert count("marts.fct_business_weekly") == count("business.overlay")
    assert [w.isoformat() for w, _ in count("marts.fct_kpi_daily")] == list(SAMPLE_WEEKS)


def test_documented_mart_columns_are_the_built_ones(dbt_run):
    """What the dbt YAML documents (and LookML is checked against) is what dbt built."""
    manifest = json.loads(MANIFEST.read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["config"].get("schema") != "marts":
            continue
        built = [
            c
            for (c,) in dbt_run.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
                "AND table_name = $t ORDER BY ordinal_position",
                {"t": node["name"]},
            )
        ]
        assert list(node["columns"]) == built, node["name"]


def test_mf_query_answers_cvr_as_a_ratio_of_sums_per_week_and_channel(dbt_run, tmp_path):
    db = tmp_path / "warehouse.duckdb"
    shutil.copyfile(dbt_run.db, db)  # MetricFlow opens the file for writing
    out = tmp_path / "cvr.csv"
    args = ["query", "--metrics", "cvr,ctr", "--group-by", "metric_time__week,campaign__channel"]
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "mf"), *args, "--csv", str(out)],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "RETOUCH_DUCKDB_PATH": str(db)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = out.read_text().strip().splitlines()
    assert lines[0].split(",") == ["metric_time__week", "campaign__channel", "cvr", "ctr"]
    answered = {}
    for line in lines[1:]:
        week, channel, cvr, ctr = line.split(",")
        answered[(week[:10], channel)] = (float(cvr), float(ctr))
    # By hand from the raw daily rows: Σconversions / Σclicks, never a mean of daily rates.
    with duckdb.connect(str(db), read_only=True) as con:
        expected = {
            (week.isoformat(), channel): (conversions / clicks, clicks / impressions)
            for week, channel, conversions, clicks, impressions in con.execute(
                "SELECT week, channel, sum(conversions), sum(clicks), sum(impressions) "
                "FROM business.kpi_daily GROUP BY ALL"
            ).fetchall()
        }
    assert answered.keys() == expected.keys() and len(expected) >= 4
    for cell, (cvr, ctr) in expected.items():
        assert answered[cell] == pytest.approx((cvr, ctr), rel=1e-9), cell


def test_a_failing_dbt_test_is_a_failed_asset_check_and_only_the_run_weeks_are_rebuilt(
    dbt_run, tmp_path
):
    db = tmp_path / "warehouse.duckdb"
    shutil.copyfile(dbt_run.db, db)
    with duckdb.connect(str(db)) as con:
        # A status outside the vocabulary in the first week (written behind the gates' back).
        con.execute(
            "UPDATE retouch.gate_decisions SET status = 'bogus' WHERE artifact_id = ("
            "SELECT min(artifact_id) FROM retouch.gate_decisions WHERE week = $w)",
            {"w": FIRST},
        )
        last_week_before = con.execute(
            "SELECT * FROM marts.fct_artifact_quality WHERE week = $w ORDER BY ALL", {"w": LAST}
        ).fetchall()
    settings = replace(dbt_run.settings, duckdb_path=str(db))
    defs = definitions_with_dbt(settings)
    job = defs.resolve_job_def("retouch_weekly")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            partition_key=FIRST,
            instance=instance,
            raise_on_error=False,
            # `dbt build --select fct_artifact_quality` and the tests on it.
            asset_selection=[dg.AssetKey(["marts", "fct_artifact_quality"])],
        )
    # A failed dbt command keeps its target folder (dbt.log) for whoever investigates.
    (failed_target,) = (DBT_PROJECT_DIR / "target").glob(f"dbt_metrics-{result.run_id[:7]}-*")
    assert (failed_target / "dbt.log").is_file()
    shutil.rmtree(failed_target)
    assert not result.success
    evaluations = {c.check_name: c for c in result.get_asset_check_evaluations()}
    failed = {name for name, c in evaluations.items() if not c.passed}
    assert failed == {
        "accepted_values_fct_artifact_quality_gate_status__"
        + "__".join(str(s) for s in GATE_STATUSES)
    }
    (name,) = failed
    assert evaluations[name].asset_key == dg.AssetKey(["marts", "fct_artifact_quality"])
    assert evaluations[name].severity == dg.AssetCheckSeverity.ERROR
    with duckdb.connect(str(db), read_only=True) as con:
        # The run's week was rebuilt (the model ran before its test), the other week untouched.
        assert con.execute(
            "SELECT count(*) FROM marts.fct_artifact_quality WHERE week = $w AND gate_status = 'bogus'",
            {"w": FIRST},
        ).fetchone() == (1,)
        assert (
            con.execute(
                "SELECT * FROM marts.fct_artifact_quality WHERE week = $w ORDER BY ALL",
                {"w": LAST},
            ).fetchall()
            == last_week_before
        )


def test_the_metrics_layer_sits_in_the_graph_as_its_tables(tmp_path):
    defs = definitions_with_dbt(Settings(duckdb_path=str(tmp_path / "w.duckdb")))
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in metrics_keys(defs)}
    assert {"marts/fct_kpi_daily", "marts/fct_artifact_quality", "marts/dim_campaign"} <= keys
    assert "metricflow/metricflow_time_spine" in keys
    assert not any(k.startswith("staging/") for k in keys)  # ephemeral: CTEs, not tables
    for key in metrics_keys(defs):
        node = graph.get(key)
        assert node.partitions_def is not None and node.owners == ["team:creative-ops-data"]
    dbt_assets = defs.resolve_assets_def(dg.AssetKey(["marts", "fct_kpi_daily"]))
    assert dbt_assets.op.pool == "retouch_warehouse"
    # dbt sources are the Python layers' assets: no translator, the keys line up.
    assert graph.get(dg.AssetKey(["marts", "fct_kpi_daily"])).parent_keys == {
        dg.AssetKey(["business", "kpi_daily"])
    }
    assert graph.get(dg.AssetKey(["marts", "fct_artifact_quality"])).parent_keys == {
        dg.AssetKey(["retouch", table])
        for table in ("generations", "artifact_quality", "gate_decisions", "gated_outputs")
    }
    checks = {c.name for c in graph.asset_check_keys if c.asset_key.path[0] == "marts"}
    assert checks == set(dbt_tests())
    job = defs.resolve_job_def("retouch_weekly")
    assert dg.AssetKey(["marts", "fct_kpi_daily"]) in job.asset_layer.executable_asset_keys


def test_the_metrics_layer_can_be_left_out(tmp_path, monkeypatch):
    from retouch_assets.definitions import build_definitions

    monkeypatch.setenv(ENV_DBT_METRICS, "off")
    defs = build_definitions(Settings(duckdb_path=str(tmp_path / "w.duckdb")))
    assert not metrics_keys(defs)


def test_accepted_values_are_the_vocabulary():
    values = {
        test["column_name"]: test["test_metadata"]["kwargs"]["values"]
        for test in dbt_tests().values()
        if test["test_metadata"]["name"] == "accepted_values"
    }
    assert values == {
        "gate_status": [str(s) for s in GATE_STATUSES],
        "publication_status": [str(s) for s in Status],
        "prompt_drift_status": [str(s) for s in DriftStatus],
    }


def test_the_semantic_layer_defines_the_metrics_analysts_query():
    semantic = json.loads((DBT_PROJECT_DIR / "target" / "semantic_manifest.json").read_text())
    metrics = {m["name"]: m for m in semantic["metrics"]}
    for name in ("ctr", "cvr", "colour_fidelity_sli", "wcag_failure_rate"):
        assert metrics[name]["type"] == "ratio", name
    assert {"lcp_p75_ms", "reprocess_cost"} <= metrics.keys()
    kpi = next(m for m in semantic["semantic_models"] if m["name"] == "kpi_daily")
    # CVR by campaign and by the channel its KPIs were counted on.
    assert {"campaign_id", "channel"} <= {d["name"] for d in kpi["dimensions"]}
    measures = {m["name"]: m for model in semantic["semantic_models"] for m in model["measures"]}
    assert measures["lcp_p75"]["agg"] == "percentile"
    assert measures["lcp_p75"]["agg_params"] == {
        "percentile": 0.75,
        "use_discrete_percentile": True,
        "use_approximate_percentile": False,
    }
    kpi = next(m for m in semantic["semantic_models"] if m["name"] == "kpi_daily")
    assert kpi["primary_entity"] == "campaign"
    assert "channel" in {d["name"] for d in kpi["dimensions"]}


def test_the_week_reaches_dbt_as_vars_and_the_warehouse_as_an_absolute_path(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    monkeypatch.chdir(tmp_path)
    vars_ = dbt_vars(
        datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 19, tzinfo=UTC), "w.duckdb"
    )
    assert vars_ == {
        "week_start": "2026-10-05",
        "week_end": "2026-10-19",
        "duckdb_path": str(tmp_path / "w.duckdb"),
    }


def test_a_missing_or_stale_manifest_fails_the_load_naming_the_fix(tmp_path):
    project = tmp_path / "dbt_metrics"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    assert "missing" in (manifest_problem(project) or "")
    (project / "target").mkdir()
    manifest = project / "target" / "manifest.json"
    manifest.write_text("{}")
    assert manifest_problem(project) is None
    os.utime(manifest, (1, 1))  # older than every project file
    assert "older" in (manifest_problem(project) or "")
    assert manifest_problem() is None  # the session's manifest is current
    with pytest.raises(DbtManifestError, match="make install"):
        require_manifest(project)


def test_released_lets_another_process_open_the_warehouse_and_reopens_it(tmp_path):
    db = tmp_path / "w.duckdb"
    warehouse = WarehouseResource(path=str(db), lock_timeout_s=5)
    warehouse.setup_for_execution(dg.build_init_resource_context())
    opens = [sys.executable, "-c", f"import duckdb; duckdb.connect({str(db)!r}).close()"]
    try:
        assert subprocess.run(opens, capture_output=True).returncode != 0  # held by the run
        with pytest.raises(RuntimeError), warehouse.released():
            assert subprocess.run(opens, capture_output=True).returncode == 0
            raise RuntimeError("dbt failed")
        with warehouse.connect() as con:  # the run's connection again, after the failure
            assert con.execute("SELECT 1").fetchone() == (1,)
        assert subprocess.run(opens, capture_output=True).returncode != 0
    finally:
        warehouse.teardown_after_execution(dg.build_init_resource_context())
