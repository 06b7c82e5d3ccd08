"""Every contract violation goes to quarantine with its own reason; the rest goes on."""

import hashlib
import os

import pytest

from retouch_assets.ingest import manifest as m
from retouch_assets.ingest.landing import triage_landing
from tests.conftest import BOUNDS, valid_record


def _only_rejection(landing, batch_id="b1"):
    triage = triage_landing(landing, BOUNDS)
    assert len(triage.quarantined) == 1, triage.quarantined
    (item,) = triage.quarantined
    assert item.batch_id == batch_id
    return item


def _layer(**overrides):
    layer = {
        "id": "h",
        "text": "Hi",
        "fg": "#000000",
        "bg": "#FFFFFF",
        "bbox": None,
        "font_px": 24,
        "bold": False,
    }
    layer.update(overrides)
    return layer


def test_a_valid_record_is_accepted(make_batch):
    landing = make_batch("b1", [valid_record()])
    triage = triage_landing(landing, BOUNDS)
    assert [a.record.artifact_id for a in triage.accepted] == ["art-1"]
    assert triage.quarantined == []


def test_line_that_is_not_json(make_batch):
    landing = make_batch("b1", [valid_record(), '{"artifact_id": "x", '])
    item = _only_rejection(landing)
    assert item.rejection.code == m.INVALID_JSON
    assert item.line_no == 2 and item.raw == '{"artifact_id": "x", '


def test_json_that_is_not_an_object(make_batch):
    item = _only_rejection(make_batch("b1", ["[1, 2, 3]"]))
    assert item.rejection.code == m.NOT_AN_OBJECT


def test_line_that_is_not_utf8(make_batch):
    item = _only_rejection(make_batch("b1", [b'{"artifact_id": "\xff\xfe"}']))
    assert item.rejection.code == m.INVALID_ENCODING
    assert item.artifact_id is None


def test_missing_field(make_batch):
    record = valid_record()
    del record["seed"]
    item = _only_rejection(make_batch("b1", [record]))
    assert item.rejection.code == m.MISSING_FIELD
    assert "seed" in item.rejection.detail
    assert item.artifact_id == "art-1"


@pytest.mark.parametrize(
    ("field", "value"), [("steps", "30"), ("seed", 1.5), ("cfg_scale", True), ("channel", 3)]
)
def test_mistyped_field(make_batch, field, value):
    item = _only_rejection(make_batch("b1", [valid_record(**{field: value})]))
    assert item.rejection.code == m.WRONG_TYPE
    assert field in item.rejection.detail


@pytest.mark.parametrize("value", ["2026-10-07 10:00:00", "2026-10-07T10:00:00", "yesterday", 17])
def test_bad_timestamp(make_batch, value):
    item = _only_rejection(make_batch("b1", [valid_record(generated_at=value)]))
    assert item.rejection.code == m.BAD_TIMESTAMP
    assert "generated_at" in item.rejection.detail


@pytest.mark.parametrize("layer", [_layer(fg="#12G45Z"), _layer(bg="red"), _layer(fg="#FFF")])
def test_bad_colour(make_batch, layer):
    item = _only_rejection(make_batch("b1", [valid_record(text_layers=[layer])]))
    assert item.rejection.code == m.BAD_COLOUR
    assert "text_layers[0]" in item.rejection.detail


def test_text_layer_without_a_measurable_background(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(text_layers=[_layer(bg=None)])]))
    assert item.rejection.code == m.BAD_TEXT_LAYER


def test_duplicate_key_within_a_batch(make_batch):
    landing = make_batch("b1", [valid_record(), valid_record(seed=7)])
    item = _only_rejection(landing)
    assert item.rejection.code == m.DUPLICATE_KEY and item.line_no == 2
    assert "b1 line 1" in item.rejection.detail


def test_duplicate_key_across_batches_keeps_the_first_batch(make_batch):
    make_batch("b1", [valid_record()])
    landing = make_batch("b2", [valid_record(attempt=2), valid_record()])
    item = _only_rejection(landing, batch_id="b2")
    assert item.rejection.code == m.DUPLICATE_KEY and item.line_no == 2


def test_prompt_hash_that_does_not_match(make_batch):
    good = hashlib.sha256(b"a cup of coffee").hexdigest()
    landing = make_batch(
        "b1",
        [valid_record(prompt_hash=good), valid_record(artifact_id="art-2", prompt_hash="0" * 64)],
    )
    item = _only_rejection(landing)
    assert item.rejection.code == m.PROMPT_HASH_MISMATCH and item.artifact_id == "art-2"


@pytest.mark.parametrize(("field", "value"), [("processing_ms", -1), ("review_seconds", -3.0)])
def test_negative_time(make_batch, field, value):
    item = _only_rejection(make_batch("b1", [valid_record(**{field: value})]))
    assert item.rejection.code == m.NEGATIVE_TIME
    assert field in item.rejection.detail


def test_attempt_below_one(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(attempt=0)]))
    assert item.rejection.code == m.OUT_OF_RANGE


@pytest.mark.parametrize("path", ["/etc/hostname", "C:\\images\\x.png", "\\\\server\\share\\x.png"])
def test_absolute_path(make_batch, path):
    item = _only_rejection(make_batch("b1", [valid_record(image=path)]))
    assert item.rejection.code == m.UNSAFE_PATH
    assert "absolute" in item.rejection.detail or "drive" in item.rejection.detail


@pytest.mark.parametrize("path", ["../other/out.png", "images/../../x.png", "./.."])
def test_path_that_leaves_the_batch_folder(make_batch, path):
    item = _only_rejection(make_batch("b1", [valid_record(master=path)]))
    assert item.rejection.code == m.UNSAFE_PATH
    assert "master" in item.rejection.detail


def test_symlink_that_leaves_the_batch_folder(make_batch, tmp_path):
    landing = make_batch("b1", [valid_record(image="images/link.png")])
    outside = tmp_path / "secret.png"
    outside.write_bytes((landing / "b1" / "images" / "out.png").read_bytes())
    os.symlink(outside, landing / "b1" / "images" / "link.png")
    item = _only_rejection(landing)
    assert item.rejection.code == m.UNSAFE_PATH
    assert "resolves outside" in item.rejection.detail


def test_file_that_does_not_exist(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(image="images/nowhere.png")]))
    assert item.rejection.code == m.MISSING_FILE


@pytest.mark.parametrize("field", ["image", "master"])
def test_file_that_does_not_decode(make_batch, field):
    landing = make_batch("b1", [valid_record()])
    path = landing / "b1" / valid_record()[field]
    path.write_bytes(path.read_bytes()[:60])  # a truncated upload
    item = _only_rejection(landing)
    assert item.rejection.code == m.UNDECODABLE_IMAGE
    assert field in item.rejection.detail


def test_timestamp_before_the_first_partition(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(generated_at="2019-03-01T00:00:00Z")]))
    assert item.rejection.code == m.TIMESTAMP_BEFORE_PARTITIONS


def test_timestamp_after_the_current_week(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(generated_at="2031-01-01T00:00:00Z")]))
    assert item.rejection.code == m.TIMESTAMP_IN_FUTURE


def test_every_error_of_a_line_is_named(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(steps="x", processing_ms=-1, seed=None)]))
    for field in ("steps", "processing_ms", "seed"):
        assert field in item.rejection.detail
