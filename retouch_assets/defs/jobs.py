"""Jobs: the weekly pipeline materializes every asset of one week, the monthly job writes the
executive report of one month; and the executor every job runs its steps with, chosen by
configuration (`RETOUCH_EXECUTOR`, docs/deployment.md)."""

import dagster as dg

from retouch_assets.settings import ENV_EXECUTOR, EXECUTORS, SettingsError

# The one monthly asset (defs/ops/reports.py); every other asset is weekly.
EXECUTIVE_REPORT = dg.AssetKey(["ops", "executive_report"])

# Partitioning (Monday weeks) is inferred from the selected assets.
weekly_job = dg.define_asset_job(
    name="retouch_weekly",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(EXECUTIVE_REPORT),
    description="Every layer of the asset graph for one Monday week (UTC).",
)

monthly_job = dg.define_asset_job(
    name="retouch_monthly",
    selection=dg.AssetSelection.assets(EXECUTIVE_REPORT),
    description="The monthly executive report (HTML and PDF) of one month.",
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
