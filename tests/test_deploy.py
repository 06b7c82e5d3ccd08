"""The deployment configurations in deploy/: the definitions load with each executor, each shipped
run config validates against the weekly job under its executor, the instance files load as
Dagster instances and cover every pool the definitions use. No cluster or broker is needed."""

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_celery.cli import get_validated_config
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG
from dotenv import dotenv_values

from retouch_assets.definitions import build_definitions
from retouch_assets.defs.jobs import executor_for
from retouch_assets.defs.shared import CELERY_QUEUE_TAG, GPU_POOL, GPU_QUEUE, WAREHOUSE_POOL
from retouch_assets.settings import (
    ENV_EXECUTOR,
    EXECUTORS,
    Settings,
    SettingsError,
    settings_from_env,
)

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RUN_CONFIGS = {
    "k8s": DEPLOY / "k8s" / "run_config.yaml",
    "celery": DEPLOY / "celery" / "run_config.yaml",
}
INSTANCES = [DEPLOY / "k8s" / "dagster.yaml", DEPLOY / "celery" / "dagster.yaml"]
# A kubeconfig that parses (the K8s run launcher reads one when it is built) and reaches nothing.
OFFLINE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: offline, user: {token: none}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


def weekly_job(executor: str) -> dg.JobDefinition:
    return build_definitions(Settings(executor=executor)).resolve_job_def("retouch_weekly")


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def pools_of(job: dg.JobDefinition) -> set[str]:
    """Every concurrency pool a step of the job runs in (assets, checks, dbt), from the job."""
    return {node.definition.pool for node in job.graph.nodes if node.definition.pool}


def test_every_shipped_yaml_parses():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents and all(isinstance(d, dict) for d in documents), path


@pytest.mark.parametrize("executor", EXECUTORS)
def test_the_definitions_load_with_each_executor(executor):
    defs = build_definitions(Settings(executor=executor))
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("retouch_weekly").executor_def.name == executor
    # Every job, the alert delivery too, runs under the chosen executor.
    assert defs.resolve_job_def("deliver_alerts_job").executor_def.name == executor


def test_the_default_stays_in_process():
    assert settings_from_env({}).executor == "in_process"
    assert weekly_job(settings_from_env({}).executor).executor_def is dg.in_process_executor


def test_the_executor_setting_is_read_and_checked():
    assert settings_from_env({ENV_EXECUTOR: "K8s"}).executor == "k8s"
    assert settings_from_env({ENV_EXECUTOR: "in-process"}).executor == "in_process"
    with pytest.raises(SettingsError, match="RETOUCH_EXECUTOR='ray'.*Fix: set it to one of"):
        settings_from_env({ENV_EXECUTOR: "ray"})
    with pytest.raises(SettingsError):
        executor_for("ray")


@pytest.mark.parametrize("executor", sorted(RUN_CONFIGS))
def test_each_shipped_run_config_validates_against_the_weekly_job(executor, monkeypatch):
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://redis:6379/1")
    run_config = load_yaml(RUN_CONFIGS[executor])
    validated = dg.validate_run_config(weekly_job(executor), run_config)
    assert validated["execution"][executor]  # processed under the executor's own schema
    # The same file under another executor is refused: the validation is not vacuous.
    other = "celery" if executor == "k8s" else "k8s"
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(weekly_job(other), run_config)


def test_per_step_kubernetes_config_names_real_steps():
    job = weekly_job("k8s")
    config = load_yaml(RUN_CONFIGS["k8s"])["execution"]["config"]
    steps = {node.name for node in job.graph.nodes}
    assert set(config["per_step_k8s_config"]) <= steps
    gpu_steps = {n.name for n in job.graph.nodes if n.definition.pool == GPU_POOL}
    for step in gpu_steps:
        limits = config["per_step_k8s_config"][step]["container_config"]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1
    # Steps one at a time within a run: every step opens the one DuckDB file.
    assert config["max_concurrent"] == 1
    # The heavy CPU steps have their own pods, with a CPU limit equal to the request: `auto`
    # worker and thread counts follow the cgroup's quota (retouch_assets/cores.py), not the
    # node's cores.
    heavy = (
        "ingest_landing_batches",
        "retouch__artifact_quality",
        "evaluate_gates",
        "retouch__renditions",
        "retouch__gated_outputs",
    )
    for step in heavy:
        resources = config["per_step_k8s_config"][step]["container_config"]["resources"]
        assert resources["limits"]["cpu"] == resources["requests"]["cpu"], step
        assert int(resources["requests"]["cpu"]) > 1, step


def test_the_gpu_step_job_gets_its_gpu_node_the_volume_and_the_settings():
    """The Kubernetes Job the executor would create for the CLIP step, built offline from the
    shipped run config the way the executor merges it (executor config, then the step's)."""
    from dagster_k8s import DagsterK8sJobConfig, construct_dagster_k8s_job
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    job = weekly_job("k8s")
    config = dg.validate_run_config(job, load_yaml(RUN_CONFIGS["k8s"]))["execution"]["k8s"]
    executor_context = K8sContainerContext(
        image_pull_policy=config["image_pull_policy"],
        service_account_name=config["service_account_name"],
        env_config_maps=config["env_config_maps"],
        env_secrets=config["env_secrets"],
        volume_mounts=config["volume_mounts"],
        volumes=config["volumes"],
        namespace=config["job_namespace"],
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config["step_k8s_config"]),
    )
    step = executor_context.merge(
        K8sContainerContext(
            run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(
                config["per_step_k8s_config"]["retouch__clip_scores"]
            )
        )
    )
    k8s_job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(
            job_image=config["job_image"],
            dagster_home="/opt/dagster/dagster_home",
            instance_config_map="retouch-dagster-instance",
        ),
        ["dagster", "api", "execute_step"],
        "dagster-step-probe",
        user_defined_k8s_config=step.run_k8s_config,
        component="step_worker",
    )
    pod = k8s_job.spec.template.spec
    container = pod.containers[0]
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert pod.node_selector == {"retouch.example.com/node-pool": "gpu"}
    assert [t.key for t in pod.tolerations] == ["nvidia.com/gpu"]
    assert "/data" in {m.mount_path for m in container.volume_mounts}
    sources = {(e.config_map_ref or e.secret_ref).name for e in container.env_from}
    assert sources == {"retouch-env", "retouch-secrets"}


def test_the_celery_workers_accept_the_run_config(monkeypatch):
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://redis:6379/1")
    config = get_validated_config(str(RUN_CONFIGS["celery"]))  # what `worker start -y` reads
    assert config["broker"] == "redis://redis:6379/0"
    assert config["config_source"]["worker_prefetch_multiplier"] == 1


def test_gpu_steps_go_to_the_gpu_queue_and_the_rest_to_the_default_queue():
    assert CELERY_QUEUE_TAG == DAGSTER_CELERY_QUEUE_TAG
    job = weekly_job("celery")
    queues = {n.name: n.definition.tags.get(DAGSTER_CELERY_QUEUE_TAG) for n in job.graph.nodes}
    gpu_steps = {n.name for n in job.graph.nodes if n.definition.pool == GPU_POOL}
    assert gpu_steps == {"retouch__clip_scores"}
    assert {queues[s] for s in gpu_steps} == {GPU_QUEUE}
    assert {q for s, q in queues.items() if s not in gpu_steps} == {None}
    default_queue = load_yaml(RUN_CONFIGS["celery"])["execution"]["config"]["config_source"]
    assert default_queue["task_default_queue"] == "dagster"


@pytest.mark.parametrize("path", INSTANCES, ids=lambda p: p.parent.name)
def test_each_instance_file_loads_and_limits_every_pool_of_the_definitions_to_one(path, tmp_path):
    """The shipped instance file, with its Postgres storage swapped for SQLite (no server here)
    and the K8s launcher pointed at an offline kubeconfig, loads as a Dagster instance."""
    config = load_yaml(path)
    assert "postgres" in config["storage"]
    config["storage"] = {"sqlite": {"base_dir": str(tmp_path / "storage")}}
    launcher = config.get("run_launcher")
    if launcher:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(OFFLINE_KUBECONFIG)
        launcher["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        if launcher:
            assert type(instance.run_launcher).__name__ == "K8sRunLauncher"
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert pools.pool_granularity is not None and pools.pool_granularity.value == "op"
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        used = pools_of(weekly_job("k8s"))
        assert used == {WAREHOUSE_POOL, GPU_POOL}
        for pool in used:  # no explicit limit set yet: the default of 1 applies to each
            assert instance.event_log_storage.get_concurrency_info(pool).limit == 1


def test_the_pools_job_sets_every_pool_of_the_definitions():
    job_yaml = load_yaml(DEPLOY / "k8s" / "pools-job.yaml")
    command = " ".join(job_yaml["spec"]["template"]["spec"]["containers"][0]["args"])
    limits = {
        pool: int(limit)
        for pool, limit in re.findall(r"dagster instance concurrency set (\S+) (\d+)", command)
    }
    assert set(limits) == pools_of(weekly_job("k8s"))
    assert limits[WAREHOUSE_POOL] == 1


def test_the_shipped_environments_are_valid_settings():
    configmaps = [
        d
        for d in yaml.safe_load_all((DEPLOY / "k8s" / "configmap.yaml").read_text())
        if d["kind"] == "ConfigMap"
    ]
    k8s = settings_from_env(configmaps[0]["data"])
    assert k8s.executor == "k8s"
    celery_env = {
        k: v for k, v in dotenv_values(DEPLOY / "celery" / "worker.env.example").items() if v
    }
    celery = settings_from_env(celery_env)
    assert celery.executor == "celery"
    for settings in (k8s, celery):
        settings.check_folders()
        # Every shared path is absolute: each pod or worker host mounts it at the same place.
        for path in (settings.landing_dir, settings.outputs_dir, settings.duckdb_path):
            assert Path(path).is_absolute()


# Two independent steps that both write the warehouse: ingest and the business inputs.
PROBE_ASSETS = (
    "retouch/generations",
    "retouch/quarantine",
    "business/kpi_daily",
    "business/rum_lcp",
    "business/quarantine",
)


def probe_job() -> dg.JobDefinition:
    """Those steps of the project's definitions (their checks left out), built the way a step
    process rebuilds them: from the environment (RETOUCH_*)."""
    selection = dg.AssetSelection.assets(*(k.split("/") for k in PROBE_ASSETS)).without_checks()
    probe = dg.define_asset_job("deploy_probe", selection=selection)
    defs = dg.Definitions.merge(
        build_definitions(settings_from_env()), dg.Definitions(jobs=[probe])
    )
    return defs.resolve_job_def("deploy_probe")


def test_a_process_per_step_writes_what_one_process_writes(small_sample, tmp_path, monkeypatch):
    """Two independent warehouse steps under the multiprocess executor, each in its own process
    on a persistent instance with the shipped pools: they never overlap, and write the same rows
    as one process does."""
    from retouch_assets.ingest.tables import GENERATIONS, QUARANTINE
    from retouch_assets.warehouse import connect, fetch_dicts

    week = "2026-10-05"
    home = tmp_path / "home"
    home.mkdir()
    instance_config = load_yaml(DEPLOY / "celery" / "dagster.yaml")
    instance_config["storage"] = {"sqlite": {"base_dir": str(home / "storage")}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))

    def environment(name: str, executor: str) -> None:
        for var, value in {
            "DAGSTER_HOME": str(home),
            ENV_EXECUTOR: executor,
            "RETOUCH_LANDING_DIR": str(small_sample),
            "RETOUCH_DUCKDB_PATH": str(tmp_path / name / "warehouse.duckdb"),
            "RETOUCH_OUTPUTS_DIR": str(tmp_path / name / "outputs"),
            "RETOUCH_REPORTS_DIR": str(tmp_path / name / "reports"),
            "RETOUCH_BUSINESS_DIR": str(tmp_path / name / "business"),
        }.items():
            monkeypatch.setenv(var, value)

    environment("multiprocess", "multiprocess")
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(probe_job), instance, tags={"dagster/partition": week}
        )
        assert result.success
        spans: dict[str, list[float]] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
                spans.setdefault(event.step_key or "", []).append(entry.timestamp)
        assert set(spans) == {"ingest_landing_batches", "read_business_inputs"}
        (_, first_end), (second_start, _) = sorted(spans.values())
        assert first_end <= second_start  # the `retouch_warehouse` pool: one writer at a time
        pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
        assert len(pids) == 2  # each step in its own process

    environment("in_process", "in_process")
    in_process = probe_job().execute_in_process(
        partition_key=week, instance=dg.DagsterInstance.ephemeral()
    )
    assert in_process.success

    def rows(name: str) -> dict:
        with connect(tmp_path / name / "warehouse.duckdb", read_only=True) as con:
            return {
                table.name: sorted(
                    fetch_dicts(con, f"SELECT * FROM {table.name}"),
                    key=repr,
                )
                for table in (GENERATIONS, QUARANTINE)
            }

    assert rows("multiprocess") == rows("in_process")
