"""The landing sensor requests one run per week a new batch touches, and remembers batches."""

import json

import dagster as dg

from retouch_assets.defs.ingest.sensors import landing_batches_sensor
from retouch_assets.resources import LandingResource
from tests.conftest import valid_record


def _tick(landing, cursor=None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"landing": LandingResource(path=str(landing))}
    )
    return landing_batches_sensor(context), context.cursor


def test_new_batches_request_their_weeks_then_nothing(make_batch):
    landing = make_batch(
        "b1",
        [
            valid_record(generated_at="2026-10-07T09:00:00Z"),
            valid_record(artifact_id="art-2", generated_at="2026-10-13T09:00:00Z"),
        ],
    )
    requests, cursor = _tick(landing)
    assert sorted(r.partition_key for r in requests) == ["2026-10-05", "2026-10-12"]
    assert len({r.run_key for r in requests}) == 2
    assert json.loads(cursor) == ["b1"]

    again, cursor_again = _tick(landing, cursor)
    assert isinstance(again, dg.SkipReason)
    assert cursor_again == cursor


def test_only_the_new_batch_is_requested(make_batch):
    make_batch("b1", [valid_record(generated_at="2026-10-07T09:00:00Z")])
    _, cursor = _tick(make_batch("b1", [valid_record(generated_at="2026-10-07T09:00:00Z")]))
    landing = make_batch("b2", [valid_record(artifact_id="x", generated_at="2026-10-21T09:00:00Z")])
    requests, cursor = _tick(landing, cursor)
    assert [r.partition_key for r in requests] == ["2026-10-19"]
    assert requests[0].tags["retouch/batches"] == "b2"
    assert json.loads(cursor) == ["b1", "b2"]


def test_a_folder_without_manifest_waits(make_batch, tmp_path):
    landing = tmp_path / "landing"
    (landing / "b1" / "images").mkdir(parents=True)
    result, cursor = _tick(landing)
    assert isinstance(result, dg.SkipReason) and cursor is None
