"""The definitions the UI and the CLI load: keys, groups, checks, jobs, sensors."""

import dagster as dg

from retouch_assets.definitions import defs
from retouch_assets.partitions import monthly_partitions, weekly_partitions


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


LAYERS = {
    "retouch/generations": "ingest",
    "retouch/quarantine": "ingest",
    "retouch/clip_scores": "quality",
    "retouch/artifact_quality": "quality",
    "retouch/gate_results": "gates",
    "retouch/gate_decisions": "gates",
    "retouch/review_queue": "gates",
    "ops/events": "gates",
    "retouch/gated_outputs": "gates",
    "retouch/template_locks": "gates",
    "retouch/renditions": "delivery",
    "slo/sli_facts": "slo",
    "slo/error_budget": "slo",
    "slo/burn_alerts": "slo",
    "baselines/weekly": "baselines",
    "baselines/version_guardrail": "baselines",
    "ops/alert_outbox": "ops",
    "ops/incidents": "ops",
    "ops/incident_events": "ops",
    "ops/reliability_report": "ops",
    "analytics/snapshot": "ops",
    "business/kpi_daily": "business",
    "business/rum_lcp": "business",
    "business/quarantine": "business",
    "business/overlay": "business",
    "business/lcp_weekly": "business",
    "business/drift_outcomes": "business",
    "business/reprocess_cost": "business",
    "business/cost_weekly": "business",
    "business/cost_monthly": "business",
    "qa/template_backlog": "qa",
}
MONTHLY = {"ops/executive_report": "ops"}


def test_asset_keys_mirror_tables_and_sit_in_their_layer():
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == set(LAYERS) | set(
        MONTHLY
    )
    for name, group in LAYERS.items():
        node = graph.get(dg.AssetKey(name.split("/")))
        assert node.group_name == group
        assert node.partitions_def == weekly_partitions
        assert node.owners == ["team:creative-ops-data"]


def test_publication_waits_for_the_gate_decisions():
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["retouch", "gated_outputs"])).parent_keys
    assert dg.AssetKey(["retouch", "gate_decisions"]) in parents


def test_generations_has_a_blocking_partitioned_expectations_check():
    graph = defs.resolve_asset_graph()
    check_key = dg.AssetCheckKey(
        dg.AssetKey(["retouch", "generations"]), "generations_expectations"
    )
    assert check_key in graph.asset_check_keys
    spec = graph.get_check_spec(check_key)
    assert spec.blocking


def test_weekly_job_sensor_and_executor():
    job = defs.resolve_job_def("retouch_weekly")
    assert job.partitions_def == weekly_partitions
    assert job.executor_def.name == "in_process"
    sensor = defs.resolve_sensor_def("landing_batches_sensor")
    assert sensor.job_name == "retouch_weekly"


def test_weeks_are_monday_weeks_in_utc():
    assert weekly_partitions.day_offset == 1
    assert weekly_partitions.timezone == "UTC"


def test_warehouse_steps_share_one_pool():
    assert (
        defs.resolve_assets_def(dg.AssetKey(["retouch", "generations"])).op.pool
        == "retouch_warehouse"
    )


def test_the_analyst_snapshot_closes_every_weekly_run():
    graph = defs.resolve_asset_graph()
    snapshot = dg.AssetKey(["analytics", "snapshot"])
    monthly = dg.AssetKey(["ops", "executive_report"])
    sinks = {k for k in graph.get_all_asset_keys() if not graph.get(k).child_keys}
    assert sinks == {snapshot, monthly}  # every weekly asset is upstream of the snapshot
    weekly = defs.resolve_job_def("retouch_weekly").asset_layer.selected_asset_keys
    assert snapshot in weekly and monthly not in weekly


def test_the_executive_report_is_monthly_with_its_own_job_and_schedule():
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["ops", "executive_report"]))
    assert node.partitions_def == monthly_partitions and node.group_name == "ops"
    assert defs.resolve_job_def("retouch_monthly").partitions_def == monthly_partitions
    schedule = defs.resolve_schedule_def("monthly_executive_report")
    assert schedule.job_name == "retouch_monthly"
    assert schedule.cron_schedule == "0 9 8 * *" and schedule.execution_timezone == "Europe/Berlin"


def test_clip_scoring_has_its_own_pool_and_feeds_the_quality_step():
    clip = defs.resolve_assets_def(dg.AssetKey(["retouch", "clip_scores"]))
    assert clip.op.pool == "retouch_gpu"
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["retouch", "artifact_quality"])).parent_keys
    assert dg.AssetKey(["retouch", "clip_scores"]) in parents
    check = dg.AssetCheckKey(dg.AssetKey(["retouch", "clip_scores"]), "clip_model_configured")
    assert not graph.get_check_spec(check).blocking
    lock_check = dg.AssetCheckKey(
        dg.AssetKey(["retouch", "gated_outputs"]), "template_locks_respected"
    )
    assert graph.get_check_spec(lock_check).blocking


def test_the_guardrail_check_warns_without_blocking():
    graph = defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey(["baselines", "version_guardrail"]), "no_version_regression")
    assert key in graph.asset_check_keys and not graph.get_check_spec(key).blocking


def test_slo_facts_do_not_wait_for_publication():
    # A blocked publication must not stop the SLO facts of the same week.
    graph = defs.resolve_asset_graph()
    upstream = graph.get(dg.AssetKey(["slo", "error_budget"])).parent_keys
    assert dg.AssetKey(["retouch", "gate_decisions"]) not in upstream


def test_schedules_and_the_separate_delivery_job():
    assert defs.resolve_job_def("deliver_alerts_job").partitions_def is None
    sync = defs.resolve_schedule_def("weekly_reliability_sync")
    assert sync.cron_schedule == "0 9 * * 1" and sync.execution_timezone == "Europe/Berlin"
    assert defs.resolve_schedule_def("daily_pipeline").job_name == "retouch_weekly"
    assert defs.resolve_schedule_def("alert_delivery").job_name == "deliver_alerts_job"
