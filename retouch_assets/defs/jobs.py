"""Jobs: the weekly pipeline materializes every asset of one week; and the executor every job
runs its steps with, chosen by configuration (`RETOUCH_EXECUTOR`, docs/deployment.md)."""

import dagster as dg

from retouch_assets.settings import ENV_EXECUTOR, EXECUTORS, SettingsError

# Partitioning (Monday weeks) is inferred from the selected assets.
weekly_job = dg.define_asset_job(
    name="retouch_weekly",
    selection=dg.AssetSelection.all(),
    description="Every layer of the asset graph for one Monday week (UTC).",
)


def executor_for(name: str) -> dg.ExecutorDefinition:
    """The executor named by the `RETOUCH_EXECUTOR` setting. The same code runs under each:
    what differs between them (image, volumes, broker, resources per step) is run config, as
    shipped in deploy/. `in_process` is the default: a run's steps share one process, hence
    one warehouse connection. Under the others each step opens the warehouse in its own
    process, one at a time through the `retouch_warehouse` pool (limit 1)."""
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    try:
        if name == "k8s":
            from dagster_k8s import k8s_job_executor

            return k8s_job_executor
        if name == "celery":
            from dagster_celery import celery_executor

            return celery_executor
    except ImportError as exc:
        package = "dagster-k8s" if name == "k8s" else "dagster-celery"
        raise SettingsError(
            f"{ENV_EXECUTOR}={name}: {package} is not installed ({exc}). Fix: install "
            f"{package}==0.29.27 in the image (it is in the project's dev extra), or unset "
            f"{ENV_EXECUTOR}"
        ) from exc
    raise SettingsError(f"{ENV_EXECUTOR}={name!r}: not one of {', '.join(EXECUTORS)}")
