"""Every contract violation goes to quarantine with its own reason; the rest goes on."""

import hashlib
import json
import os
import threading
import time

import pytest
from PIL import Image

from retouch_assets.ingest.landing import RAW_PREFIX_BYTES, triage_landing
from retouch_assets.vocabulary import QuarantineReason as R
from tests.conftest import BOUNDS, valid_record


def _only_rejection(landing, batch_id="b1"):
    triage = triage_landing(landing, BOUNDS)
    assert len(triage.quarantined) == 1, triage.quarantined
    (item,) = triage.quarantined
    assert item.batch_id == batch_id
    return item


def _layer(**overrides):
    """The valid record's text layer with some fields changed."""
    return valid_record()["text_layers"][0] | overrides


def test_a_valid_record_is_accepted(make_batch):
    landing = make_batch("b1", [valid_record()])
    triage = triage_landing(landing, BOUNDS)
    assert [a.record.artifact_id for a in triage.accepted] == ["art-1"]
    assert triage.quarantined == []


def test_line_that_is_not_json(make_batch):
    landing = make_batch("b1", [valid_record(), '{"artifact_id": "x", '])
    item = _only_rejection(landing)
    assert item.rejection.code == R.INVALID_JSON
    assert item.line_no == 2 and item.raw == '{"artifact_id": "x", '


def test_json_that_is_not_an_object(make_batch):
    item = _only_rejection(make_batch("b1", ["[1, 2, 3]"]))
    assert item.rejection.code == R.NOT_AN_OBJECT


def test_line_that_is_not_utf8(make_batch):
    item = _only_rejection(make_batch("b1", [b'{"artifact_id": "\xff\xfe"}']))
    assert item.rejection.code == R.INVALID_ENCODING
    assert item.artifact_id is None


def test_missing_field(make_batch):
    record = valid_record()
    del record["seed"]
    item = _only_rejection(make_batch("b1", [record]))
    assert item.rejection.code == R.MISSING_FIELD
    assert "seed" in item.rejection.detail
    assert item.artifact_id == "art-1"


@pytest.mark.parametrize(
    ("field", "value"), [("steps", "30"), ("seed", 1.5), ("cfg_scale", True), ("channel", 3)]
)
def test_mistyped_field(make_batch, field, value):
    item = _only_rejection(make_batch("b1", [valid_record(**{field: value})]))
    assert item.rejection.code == R.WRONG_TYPE
    assert field in item.rejection.detail


@pytest.mark.parametrize("value", ["2026-10-07 10:00:00", "2026-10-07T10:00:00", "yesterday", 17])
def test_bad_timestamp(make_batch, value):
    item = _only_rejection(make_batch("b1", [valid_record(generated_at=value)]))
    assert item.rejection.code == R.BAD_TIMESTAMP
    assert "generated_at" in item.rejection.detail


@pytest.mark.parametrize("layer", [_layer(fg="#12G45Z"), _layer(bg="red"), _layer(fg="#FFF")])
def test_bad_colour(make_batch, layer):
    item = _only_rejection(make_batch("b1", [valid_record(text_layers=[layer])]))
    assert item.rejection.code == R.BAD_COLOUR
    assert "text_layers[0]" in item.rejection.detail


def test_text_layer_without_a_measurable_background(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(text_layers=[_layer(bg=None)])]))
    assert item.rejection.code == R.BAD_TEXT_LAYER


def test_duplicate_key_within_a_batch(make_batch):
    landing = make_batch("b1", [valid_record(), valid_record(seed=7)])
    item = _only_rejection(landing)
    assert item.rejection.code == R.DUPLICATE_KEY and item.line_no == 2
    assert "b1 line 1" in item.rejection.detail


def test_duplicate_key_across_batches_keeps_the_first_batch(make_batch):
    make_batch("b1", [valid_record()])
    landing = make_batch("b2", [valid_record(attempt=2), valid_record()])
    item = _only_rejection(landing, batch_id="b2")
    assert item.rejection.code == R.DUPLICATE_KEY and item.line_no == 2


def test_prompt_hash_that_does_not_match(make_batch):
    good = hashlib.sha256(b"a cup of coffee").hexdigest()
    landing = make_batch(
        "b1",
        [valid_record(prompt_hash=good), valid_record(artifact_id="art-2", prompt_hash="0" * 64)],
    )
    item = _only_rejection(landing)
    assert item.rejection.code == R.PROMPT_HASH_MISMATCH and item.artifact_id == "art-2"


@pytest.mark.parametrize(("field", "value"), [("processing_ms", -1), ("review_seconds", -3.0)])
def test_negative_time(make_batch, field, value):
    item = _only_rejection(make_batch("b1", [valid_record(**{field: value})]))
    assert item.rejection.code == R.NEGATIVE_TIME
    assert field in item.rejection.detail


def test_attempt_below_one(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(attempt=0)]))
    assert item.rejection.code == R.OUT_OF_RANGE


@pytest.mark.parametrize("path", ["/etc/hostname", "C:\\images\\x.png", "\\\\server\\share\\x.png"])
def test_absolute_path(make_batch, path):
    item = _only_rejection(make_batch("b1", [valid_record(image=path)]))
    assert item.rejection.code == R.UNSAFE_PATH
    assert "absolute" in item.rejection.detail or "drive" in item.rejection.detail


@pytest.mark.parametrize("path", ["../other/out.png", "images/../../x.png", "./.."])
def test_path_that_leaves_the_batch_folder(make_batch, path):
    item = _only_rejection(make_batch("b1", [valid_record(master=path)]))
    assert item.rejection.code == R.UNSAFE_PATH
    assert "master" in item.rejection.detail


def test_symlink_that_leaves_the_batch_folder(make_batch, tmp_path):
    landing = make_batch("b1", [valid_record(image="images/link.png")])
    outside = tmp_path / "secret.png"
    outside.write_bytes((landing / "b1" / "images" / "out.png").read_bytes())
    os.symlink(outside, landing / "b1" / "images" / "link.png")
    item = _only_rejection(landing)
    assert item.rejection.code == R.SYMLINK_ESCAPE
    assert "resolves outside" in item.rejection.detail
    assert "images/link.png" in item.rejection.detail


def test_symlinked_folder_that_leaves_the_batch_folder(make_batch, tmp_path):
    landing = make_batch("b1", [valid_record(image="elsewhere/out.png")])
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "out.png").write_bytes(
        (landing / "b1" / "images" / "out.png").read_bytes()
    )
    os.symlink(tmp_path / "outside", landing / "b1" / "elsewhere")
    item = _only_rejection(landing)
    assert item.rejection.code == R.SYMLINK_ESCAPE
    assert "'elsewhere'" in item.rejection.detail


def test_symlink_inside_the_batch_folder_is_followed(make_batch):
    landing = make_batch("b1", [valid_record(image="images/link.png")])
    os.symlink("out.png", landing / "b1" / "images" / "link.png")
    triage = triage_landing(landing, BOUNDS)
    assert [a.record.image for a in triage.accepted] == ["images/link.png"]


@pytest.mark.parametrize(
    ("image", "link", "target", "code", "detail"),
    [
        pytest.param(
            "images/gone.png",
            "images/gone.png",
            "never-uploaded.png",
            R.MISSING_FILE,
            "is a broken symbolic link",
            id="dangling symlink is a missing file",
        ),
        pytest.param(
            "linked/nowhere.png",
            "linked",
            "images",
            R.MISSING_FILE,
            "does not exist (through the symbolic link 'linked')",
            id="missing file behind a symlinked folder is not a broken link",
        ),
        pytest.param(
            "images/loop.png",
            "images/loop.png",
            "loop.png",
            R.NOT_A_FILE,
            "symbolic link loop",
            id="symlink loop is not a file",
        ),
    ],
)
def test_unusable_symlinks_are_refused(make_batch, image, link, target, code, detail):
    landing = make_batch("b1", [valid_record(image=image)])
    os.symlink(target, landing / "b1" / link)
    item = _only_rejection(landing)
    assert item.rejection.code == code
    assert detail in item.rejection.detail


def test_file_name_too_long_for_the_file_system_is_a_missing_file(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(image="images/" + "x" * 300 + ".png")]))
    assert item.rejection.code == R.MISSING_FILE


def test_directory_as_image_is_not_a_file(make_batch):
    landing = make_batch("b1", [valid_record(image="images/folder.png")])
    (landing / "b1" / "images" / "folder.png").mkdir()
    item = _only_rejection(landing)
    assert item.rejection.code == R.NOT_A_FILE
    assert "image 'images/folder.png' is a directory" in item.rejection.detail


def test_fifo_as_master_is_not_a_file_and_never_opened(make_batch):
    landing = make_batch("b1", [valid_record(master="masters/pipe.png")])
    fifo = landing / "b1" / "masters" / "pipe.png"
    os.mkfifo(fifo)
    done = threading.Event()
    threading.Thread(target=_unblock_reader_of, args=(fifo, done), daemon=True).start()
    started = time.monotonic()
    try:
        item = _only_rejection(landing)  # a reader of the FIFO would wait for a writer forever
    finally:
        done.set()
    assert time.monotonic() - started < 5  # nobody had to be unblocked
    assert item.rejection.code == R.NOT_A_FILE
    assert "FIFO" in item.rejection.detail


def _unblock_reader_of(fifo, done, after_s=5.0):
    """Should the code under test open the FIFO for reading, open it for writing after a while
    (then close it: the reader sees end of file), so a regression fails instead of hanging."""
    if done.wait(after_s):
        return
    while not done.is_set():
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: no reader (yet)
            done.wait(0.05)


def test_file_that_does_not_exist(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(image="images/nowhere.png")]))
    assert item.rejection.code == R.MISSING_FILE


@pytest.mark.parametrize("field", ["image", "master"])
def test_file_that_does_not_decode(make_batch, field):
    landing = make_batch("b1", [valid_record()])
    path = landing / "b1" / valid_record()[field]
    path.write_bytes(path.read_bytes()[:60])  # a truncated upload
    item = _only_rejection(landing)
    assert item.rejection.code == R.UNDECODABLE_IMAGE
    assert field in item.rejection.detail


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("artifact_id", "art\x001", "artifact_id contains a NUL byte at position 3"),
        ("artifact_id", "art\r1", "artifact_id contains a carriage return"),
        ("campaign_id", "cmp\na", "campaign_id contains a line feed"),
        ("template_id", "t" * 300, "template_id is 300 characters long (at most 200)"),
        ("channel", " web", "channel has leading or trailing whitespace"),
        ("retouch_version", "rt-1\t", "retouch_version contains a tab"),
        ("model_version", "", "model_version is empty"),
        ("prompt_version", "v1\u202egnp.exe", "prompt_version contains invisible"),
        ("prompt_version", "v1\u2028v2", "\\u2028 LINE SEPARATOR"),
        ("artifact_id", "art\ud800", "artifact_id contains a lone surrogate"),
    ],
)
def test_hostile_identifier_is_quarantined(make_batch, field, value, detail):
    item = _only_rejection(make_batch("b1", [valid_record(**{field: value})]))
    assert item.rejection.code == R.BAD_IDENTIFIER
    assert detail in item.rejection.detail
    item.rejection.reason.encode("utf-8")  # storable: the value is escaped, never echoed raw
    assert "\x00" not in item.rejection.reason and "\n" not in item.rejection.reason


def test_hostile_text_layer_id_is_quarantined(make_batch):
    landing = make_batch("b1", [valid_record(text_layers=[_layer(id="h\x00")])])
    item = _only_rejection(landing)
    assert item.rejection.code == R.BAD_IDENTIFIER
    assert "text_layers[0].id contains a NUL byte" in item.rejection.detail


@pytest.mark.parametrize(
    "value", ["../../x", "/abs/x", "sub/dir/x", "C:\\x", ".", "..", "ü-ß-猫-😀"]
)
def test_path_like_identifiers_are_data(make_batch, value):
    landing = make_batch("b1", [valid_record(artifact_id=value, campaign_id=value)])
    triage = triage_landing(landing, BOUNDS)
    assert [a.record.artifact_id for a in triage.accepted] == [value]


@pytest.mark.parametrize("field", ["prompt", "negative_prompt", "image"])
def test_lone_surrogate_in_text_is_invalid_encoding(make_batch, field):
    line = '{"' + field + '": "x\\ud800", ' + _rest(field)
    item = _only_rejection(make_batch("b1", [line]))
    assert item.rejection.code == R.INVALID_ENCODING
    assert field in item.rejection.detail


def _rest(skip):
    record = valid_record()
    record.pop(skip, None)
    return json.dumps(record)[1:]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ('{"seed": NaN}', R.INVALID_JSON),
        ('{"a": Infinity}', R.INVALID_JSON),
        ('{"artifact_id": "a", "artifact_id": "b"}', R.INVALID_JSON),
        ("[" * 100_000 + "]" * 100_000, R.INVALID_JSON),
        ('{"seed": ' + "9" * 5000 + "}", R.INVALID_JSON),
        ("\ufeff{}", R.INVALID_JSON),  # a BOM that is not at the start of the file
        ("\u00a0", R.INVALID_JSON),  # not ASCII whitespace: a line, and not JSON
        ("null", R.NOT_AN_OBJECT),
    ],
)
def test_hostile_json(make_batch, line, code):
    item = _only_rejection(make_batch("b1", [valid_record(), line]))
    assert item.rejection.code == code
    assert item.line_no == 2


_HUGE_FLOAT = 123456.789  # written as the literal 1e400, which json.loads reads as inf


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", 2**63),
        ("steps", 2**70),
        ("attempt", 2**64),
        ("processing_ms", 10**30),
        ("cfg_scale", _HUGE_FLOAT),
        ("review_seconds", _HUGE_FLOAT),
        ("text_layers", [_layer(bbox=[0, 0, 2**31, 4], bg=None)]),
        ("text_layers", [_layer(font_px=_HUGE_FLOAT)]),
    ],
)
def test_huge_numbers_are_out_of_range(make_batch, field, value):
    line = json.dumps(valid_record(**{field: value})).replace(str(_HUGE_FLOAT), "1e400")
    item = _only_rejection(make_batch("b1", [line]))
    assert item.rejection.code == R.OUT_OF_RANGE
    assert field in item.rejection.detail


def test_overlong_line_is_not_parsed_and_not_stored_whole(make_batch):
    huge = json.dumps(valid_record(artifact_id="art-2", prompt="x" * (10 * 1024 * 1024)))
    landing = make_batch("b1", [valid_record(), huge])
    item = _only_rejection(landing)
    assert item.rejection.code == R.LINE_TOO_LONG and item.line_no == 2
    assert f"{len(huge)} bytes" in item.rejection.detail
    assert hashlib.sha256(huge.encode()).hexdigest() in item.rejection.detail
    assert len(item.raw) == RAW_PREFIX_BYTES and huge.startswith(item.raw)


def test_manifest_framing_bom_crlf_and_no_final_newline(tmp_path):
    batch = tmp_path / "landing" / "b1"
    make = _images(batch)
    lines = [json.dumps(valid_record(artifact_id=f"art-{i}")).encode() for i in range(3)]
    (batch / "manifest.jsonl").write_bytes(
        b"\xef\xbb\xbf" + b"\r\n".join([lines[0], b"  \t ", lines[1], lines[2]])
    )
    triage = triage_landing(tmp_path / "landing", BOUNDS)
    assert triage.quarantined == [] and make
    assert [(a.line_no, a.record.artifact_id) for a in triage.accepted] == [
        (1, "art-0"),
        (3, "art-1"),
        (4, "art-2"),
    ]


def test_empty_manifest_has_no_lines(tmp_path):
    batch = tmp_path / "landing" / "b1"
    batch.mkdir(parents=True)
    (batch / "manifest.jsonl").write_bytes(b"")
    triage = triage_landing(tmp_path / "landing", BOUNDS)
    assert triage.accepted == [] and triage.quarantined == []


def _images(batch):
    for relative in valid_record()["image"], valid_record()["master"]:
        (batch / relative).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(batch / relative)
    return True


def test_timestamp_before_the_first_partition(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(generated_at="2019-03-01T00:00:00Z")]))
    assert item.rejection.code == R.TIMESTAMP_BEFORE_PARTITIONS


def test_timestamp_after_the_current_week(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(generated_at="2031-01-01T00:00:00Z")]))
    assert item.rejection.code == R.TIMESTAMP_IN_FUTURE


def test_every_error_of_a_line_is_named(make_batch):
    item = _only_rejection(make_batch("b1", [valid_record(steps="x", processing_ms=-1, seed=None)]))
    for field in ("steps", "processing_ms", "seed"):
        assert field in item.rejection.detail


def test_a_manifest_linked_to_a_file_outside_the_batch_is_not_read(make_batch, tmp_path):
    secret = tmp_path / "secret.env"
    secret.write_text('RETOUCH_SLACK_WEBHOOK_URL=https://hooks.example/SECRET\n{"a": 1}\n')
    landing = make_batch("b1", [valid_record()])
    manifest = landing / "b1" / "manifest.jsonl"
    manifest.unlink()
    manifest.symlink_to(secret)
    item = _only_rejection(landing)
    assert item.rejection.code == R.SYMLINK_ESCAPE and item.line_no == 0
    assert "SECRET" not in item.raw and "SECRET" not in item.rejection.reason


def test_a_batch_folder_linked_outside_the_landing_folder_is_not_read(make_batch, tmp_path):
    outside = make_batch("elsewhere", [valid_record()]) / "elsewhere"
    landing = tmp_path / "real_landing"
    landing.mkdir()
    (landing / "b1").symlink_to(outside)
    item = _only_rejection(landing)
    assert item.rejection.code == R.SYMLINK_ESCAPE and "batch folder" in item.rejection.reason


def test_a_manifest_linked_inside_its_batch_is_read(make_batch):
    landing = make_batch("b1", [valid_record()])
    manifest = landing / "b1" / "manifest.jsonl"
    manifest.rename(landing / "b1" / "lines.jsonl")
    manifest.symlink_to("lines.jsonl")
    triage = triage_landing(landing, BOUNDS)
    assert len(triage.accepted) == 1 and not triage.quarantined


def test_a_batch_folder_whose_name_is_not_utf8_is_reported_not_crashed(make_batch):
    from retouch_assets.ingest.rows import quarantine_rows
    from retouch_assets.ingest.tables import QUARANTINE

    landing = make_batch("b1", [valid_record()])
    os.rename(bytes(landing / "b1"), bytes(landing) + b"/batch-\xff")
    item = _only_rejection(landing, batch_id="batch-\\xff")
    assert item.rejection.code == R.BAD_IDENTIFIER and "not valid UTF-8" in item.rejection.reason
    assert QUARANTINE.rows(quarantine_rows([item])).num_rows == 1  # storable
