"""Weeks, batches and the accounting invariant of the landing triage."""

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

from retouch_assets.ingest import landing
from retouch_assets.ingest.landing import (
    Batch,
    list_batches,
    read_manifest_lines,
    triage_landing,
    week_of,
    weeks_of_batches,
)
from retouch_assets.partitions import weekly_partitions
from retouch_assets.vocabulary import QuarantineReason as R
from tests.conftest import BOUNDS, valid_record


def test_weeks_start_on_monday_in_utc():
    assert week_of(datetime(2026, 10, 5, 0, 0, tzinfo=UTC)) == date(2026, 10, 5)
    assert week_of(datetime(2026, 10, 11, 23, 59, tzinfo=UTC)) == date(2026, 10, 5)
    # Sunday evening in New York is already Monday in UTC.
    new_york = timezone(timedelta(hours=-5))
    assert week_of(datetime(2026, 10, 11, 20, 0, tzinfo=new_york)) == date(2026, 10, 12)


def test_partition_keys_are_the_same_mondays():
    keys = weekly_partitions.get_partition_keys(current_time=datetime(2026, 10, 20, tzinfo=UTC))
    assert keys[0] == "2025-01-06"
    assert all(date.fromisoformat(k).weekday() == 0 for k in keys)
    assert keys[-1] == "2026-10-19"  # end_offset=1: the open week is a partition too


def test_folders_without_a_manifest_are_not_batches_yet(tmp_path, make_batch):
    landing = make_batch("b1", [valid_record()])
    (landing / "b0-still-uploading" / "images").mkdir(parents=True)
    (landing / ".tmp-upload").mkdir()
    assert [b.batch_id for b in list_batches(landing)] == ["b1"]
    assert list_batches(tmp_path / "missing") == []


def test_blank_lines_are_not_records(make_batch):
    landing = make_batch("b1", [valid_record(), "", "   ", valid_record(artifact_id="art-2")])
    lines = read_manifest_lines(list_batches(landing)[0])
    assert [line.line_no for line in lines] == [1, 4]


def test_lines_without_a_usable_timestamp_are_filed_under_the_batch_week(make_batch):
    landing = make_batch(
        "b1",
        [
            valid_record(generated_at="2026-10-14T09:00:00Z"),
            "not json",
            valid_record(artifact_id="art-2", generated_at="2026-10-07T09:00:00Z"),
        ],
    )
    triage = triage_landing(landing, BOUNDS)
    (bad,) = triage.quarantined
    assert bad.week == date(2026, 10, 5)  # the batch's earliest week
    assert sorted(a.week for a in triage.accepted) == [date(2026, 10, 5), date(2026, 10, 12)]


def test_a_rejected_line_with_a_timestamp_is_filed_under_its_own_week(make_batch):
    landing = make_batch(
        "b1",
        [
            valid_record(generated_at="2026-10-07T09:00:00Z"),
            valid_record(artifact_id="art-2", seed=-1, generated_at="2026-10-14T09:00:00Z"),
        ],
    )
    (bad,) = triage_landing(landing, BOUNDS).quarantined
    assert bad.week == date(2026, 10, 12)


def test_week_filter_keeps_only_that_week(make_batch):
    landing = make_batch(
        "b1",
        [
            valid_record(generated_at="2026-10-07T09:00:00Z"),
            valid_record(
                artifact_id="art-2", generated_at="2026-10-14T09:00:00Z", image="images/missing.png"
            ),
        ],
    )
    triage = triage_landing(landing, BOUNDS, weeks={date(2026, 10, 5)})
    assert [a.record.artifact_id for a in triage.accepted] == ["art-1"]
    assert triage.quarantined == []  # the missing file belongs to another week
    assert weeks_of_batches(list_batches(landing), BOUNDS) == [
        date(2026, 10, 5),
        date(2026, 10, 12),
    ]


def test_every_sample_line_is_accepted_or_quarantined_exactly_once(small_sample):
    batches = list_batches(small_sample)
    lines = {(line.batch_id, line.line_no) for b in batches for line in read_manifest_lines(b)}
    whole = triage_landing(small_sample, BOUNDS)
    by_week = [triage_landing(small_sample, BOUNDS, weeks={w}) for w in whole.weeks]
    keys = [(a.batch_id, a.line_no) for t in by_week for a in t.accepted]
    keys += [(q.batch_id, q.line_no) for t in by_week for q in t.quarantined]
    assert len(keys) == len(set(keys)) == len(lines)
    assert set(keys) == lines
    assert {q.rejection.code for q in whole.quarantined} >= {
        R.INVALID_JSON,
        R.MISSING_FIELD,
        R.WRONG_TYPE,
        R.BAD_TIMESTAMP,
        R.BAD_COLOUR,
        R.DUPLICATE_KEY,
        R.PROMPT_HASH_MISMATCH,
        R.NEGATIVE_TIME,
        R.UNSAFE_PATH,
        R.MISSING_FILE,
        R.UNDECODABLE_IMAGE,
    }


def test_line_length_limit_counts_bytes_without_the_line_ending(tmp_path, monkeypatch):
    monkeypatch.setattr(landing, "MAX_LINE_BYTES", 8)
    monkeypatch.setattr(landing, "RAW_PREFIX_BYTES", 4)
    batch = tmp_path / "b1"
    batch.mkdir()
    (batch / "manifest.jsonl").write_bytes(
        b"\xef\xbb\xbf12345678\r\n123456789\n" + b" " * 20 + b"\n12345678\r"
    )
    got = read_manifest_lines(Batch("b1", batch))
    assert [(line.line_no, line.raw) for line in got] == [
        (1, "12345678"),
        (2, "1234"),
        (4, "12345678"),
    ]
    assert [line.rejection and line.rejection.code for line in got] == [None, "line_too_long", None]
    assert "line is 9 bytes long (at most 8)" in got[1].rejection.detail
    assert hashlib.sha256(b"123456789").hexdigest() in got[1].rejection.detail
