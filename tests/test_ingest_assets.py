"""The ingest layer materialized through Dagster on a temporary warehouse."""

import dagster as dg
import duckdb

from retouch_assets.defs.ingest.assets import ingest_landing_batches
from retouch_assets.defs.ingest.checks import generations_expectations
from retouch_assets.defs.shared import key_of
from retouch_assets.ingest import tables
from retouch_assets.ingest.landing import list_batches, read_manifest_lines, triage_landing
from tests.conftest import BOUNDS, valid_record

GENERATIONS = key_of(tables.GENERATIONS)

CHECK_KEY = dg.AssetCheckKey(GENERATIONS, "generations_expectations")


def _materialize(resources, partition_key):
    return dg.materialize(
        [ingest_landing_batches, generations_expectations],
        resources=resources,
        partition_key=partition_key,
        raise_on_error=False,
    )


def _counts(path):
    with duckdb.connect(path, read_only=True) as con:
        return (
            con.execute("SELECT count(*) FROM retouch.generations").fetchone()[0],
            con.execute("SELECT count(*) FROM retouch.quarantine").fetchone()[0],
        )


def test_every_line_lands_in_exactly_one_table_and_reruns_change_nothing(small_sample, resources):
    res = resources(small_sample)
    weeks = triage_landing(small_sample, BOUNDS, check_files=False).weeks
    lines = sum(len(read_manifest_lines(b)) for b in list_batches(small_sample))
    for _ in range(2):
        for week in weeks:
            result = _materialize(res, week.isoformat())
            assert result.success
            (evaluation,) = result.get_asset_check_evaluations()
            assert evaluation.passed
        generations, quarantine = _counts(res["warehouse"].path)
        assert generations + quarantine == lines
    with duckdb.connect(res["warehouse"].path, read_only=True) as con:
        keys = con.execute(
            "SELECT count(*), count(DISTINCT (artifact_id, attempt)) FROM retouch.generations"
        ).fetchone()
        lines_seen = con.execute(
            "SELECT count(DISTINCT (batch_id, line_no)) FROM ("
            " SELECT batch_id, line_no FROM retouch.generations"
            " UNION ALL SELECT batch_id, line_no FROM retouch.quarantine)"
        ).fetchone()[0]
        layers = con.execute(
            "SELECT text_layers[1].fg, week FROM retouch.generations LIMIT 1"
        ).fetchone()
    assert keys[0] == keys[1] and lines_seen == lines
    assert layers[0].startswith("#") and layers[1].weekday() == 0


def test_materialization_metadata_counts_rows(make_batch, resources):
    landing = make_batch("b1", [valid_record(), "not json"])
    result = _materialize(resources(landing), "2026-10-05")
    materializations = {
        m.asset_key: m.metadata
        for m in result.asset_materializations_for_node("ingest_landing_batches")
    }
    assert materializations[GENERATIONS]["dagster/row_count"].value == 1
    assert materializations[dg.AssetKey(["retouch", "quarantine"])]["dagster/row_count"].value == 1


def test_the_expectations_fail_on_an_unknown_channel_and_say_why(make_batch, resources):
    landing = make_batch(
        "b1", [valid_record(), valid_record(artifact_id="art-2", channel="tiktok")]
    )
    result = _materialize(resources(landing), "2026-10-05")
    assert not result.success  # blocking: the failed check fails the run
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key == CHECK_KEY and not evaluation.passed
    failures = evaluation.metadata["failures"].value
    assert any(
        f["expectation"] == "expect_column_values_to_be_in_set" and f["sample"] == ["tiktok"]
        for f in failures
    )
    assert evaluation.metadata["unsuccessful_expectations"].value >= 1
    # The data is written before the check runs (Dagster semantics): both rows are there.
    assert _counts(resources(landing)["warehouse"].path) == (2, 0)


def test_the_expectations_fail_on_implausible_parameters(make_batch, resources):
    landing = make_batch("b1", [valid_record(steps=5000)])
    (evaluation,) = _materialize(resources(landing), "2026-10-05").get_asset_check_evaluations()
    assert not evaluation.passed
    failures = evaluation.metadata["failures"].value
    assert [f["kwargs"]["column"] for f in failures] == ["steps"]


def test_a_failing_check_stops_assets_downstream_in_the_same_run(make_batch, resources):
    @dg.asset(deps=[GENERATIONS], partitions_def=ingest_landing_batches.partitions_def)
    def published(context):
        return 1

    landing = make_batch("b1", [valid_record(channel="tiktok")])
    result = dg.materialize(
        [ingest_landing_batches, generations_expectations, published],
        resources=resources(landing),
        partition_key="2026-10-05",
        raise_on_error=False,
    )
    assert not result.success
    assert result.asset_materializations_for_node("published") == []


def test_an_empty_week_passes_with_a_note(make_batch, resources):
    landing = make_batch("b1", [valid_record()])  # a line of the week of 2026-10-05 only
    result = _materialize(resources(landing), "2026-10-12")
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["rows"].value == 0
    assert evaluation.metadata["note"].value == "no generations this week"
    assert _counts(resources(landing)["warehouse"].path) == (0, 0)


def test_the_basic_result_format_reports_what_gx_default_summary_does(
    make_batch, resources, monkeypatch
):
    """The check validates with result_format BASIC (half the cost): on a week failing several
    expectations, its outcome is the same as with GX's default SUMMARY."""
    from retouch_assets.config import IngestConfig
    from retouch_assets.ingest import expectations
    from retouch_assets.ingest.queries import generations_frame
    from retouch_assets.partitions import week_from_key

    records = [
        valid_record(artifact_id="art-1", channel="tiktok"),
        valid_record(artifact_id="art-2", steps=5000),
        valid_record(artifact_id="art-3", cfg_scale=99.0),
        valid_record(artifact_id="art-4"),
    ]
    landing = make_batch("b1", records)
    warehouse = resources(landing)["warehouse"]
    _materialize(resources(landing), "2026-10-05")
    with duckdb.connect(warehouse.path, read_only=True) as con:
        frame = generations_frame(con, week_from_key("2026-10-05"))
    frame = frame.assign(extra=1)  # and a drifted schema
    outcomes = {}
    for result_format in ("BASIC", "SUMMARY"):
        monkeypatch.setattr(expectations, "RESULT_FORMAT", result_format)
        outcomes[result_format] = expectations.validate_generations(
            frame, tables.GENERATIONS.column_names, IngestConfig()
        )
    basic, summary = outcomes["BASIC"], outcomes["SUMMARY"]
    assert len(basic.failures) >= 4
    assert (basic.success, basic.statistics) == (summary.success, summary.statistics)
    assert basic.failures == summary.failures
