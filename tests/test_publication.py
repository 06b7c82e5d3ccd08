"""Identifiers never become paths: safe, stable, collision-free names; every write stays inside
its root; publication is atomic and non-destructive."""

import io
import json
import struct
import zlib
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from retouch_assets.gates.publish import (
    IMAGE_SUFFIX,
    TRAINED_ALGORITHMIC_MEDIA,
    XMP_KEY,
    HashingWriter,
    PublicationPlan,
    plain_png,
    publish_files,
    publish_week,
    sidecar_json,
    week_folder,
    write_plain_png,
    write_png,
)
from retouch_assets.quality.decode import MAX_IMAGE_PIXELS, decode_srgb8
from retouch_assets.safe_paths import (
    SLUG_MAX,
    UnsafePath,
    inside,
    remove_stale,
    safe_stem,
    sha256_bytes,
    sha256_file,
    write_atomic,
)

WEEK = date(2026, 10, 5)
HOSTILE_IDS = [
    "../../x",
    "../../../../../../tmp/pwned",
    "/etc/passwd",
    "sub/dir/x",
    "C:\\Windows\\x",
    "..",
    ".",
    "",
    "a" * 300,
    "nul\x00byte",
    "line\nbreak",
    "tab\tand\rcarriage",
    "emoji 🎨 und Umlaut ä",
    "—",
    "con",
    "x" * 5000 + "/..",
]


@pytest.mark.parametrize("identifier", HOSTILE_IDS)
def test_a_hostile_id_becomes_a_plain_bounded_file_name(identifier):
    stem = safe_stem(identifier, 1)
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem
    assert stem not in {".", ".."} and not stem.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in stem)
    assert len(stem) <= SLUG_MAX + 20
    assert safe_stem(identifier, 1) == stem  # stable across runs


def test_ids_that_slug_alike_still_get_different_names():
    ids = ["a/b", "a\\b", "a b", "a?b", "a\x00b", "A/B", "a/b "]
    stems = {safe_stem(i, 1) for i in ids}
    assert len(stems) == len(ids)
    assert safe_stem("a", 1) != safe_stem("a", 2)


@pytest.mark.parametrize("identifier", HOSTILE_IDS)
def test_publishing_a_hostile_id_writes_only_inside_the_week_folder(tmp_path, identifier):
    outputs = tmp_path / "root" / "outputs"
    outputs.mkdir(parents=True)
    before = set(tmp_path.rglob("*"))
    image, sidecar, digest, _ = publish_files(outputs, WEEK, identifier, 1, b"png-bytes", b"{}\n")
    created = set(tmp_path.rglob("*")) - before
    folder = week_folder(outputs, WEEK)
    assert created == {folder, image, sidecar}
    assert image.parent == folder and sidecar.parent == folder
    assert image.read_bytes() == b"png-bytes" and digest == sha256_bytes(b"png-bytes")


def test_inside_refuses_paths_that_leave_the_root(tmp_path):
    assert inside(tmp_path, "a", "b.png") == (tmp_path / "a" / "b.png").resolve()
    for escaping in ("../x", "/etc/passwd", "a/../../x"):
        with pytest.raises(UnsafePath):
            inside(tmp_path, escaping)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(UnsafePath):
        inside(tmp_path, "link", "etc")


def test_an_atomic_write_leaves_the_old_file_when_it_fails(tmp_path, monkeypatch):
    target = write_atomic(tmp_path, "w/a.png", b"old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("retouch_assets.safe_paths.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path, "w/a.png", b"new")
    assert target.read_bytes() == b"old"


def test_the_same_image_keeps_its_name_and_a_changed_one_gets_a_new_name(tmp_path):
    first = publish_files(tmp_path, WEEK, "art-1", 1, b"v1", b"{}")
    again = publish_files(tmp_path, WEEK, "art-1", 1, b"v1", b"{}")
    changed = publish_files(tmp_path, WEEK, "art-1", 1, b"v2", b"{}")
    assert first == again and changed[0] != first[0]
    assert first[0].read_bytes() == b"v1"  # the previous publication is still there


def test_stale_files_go_only_when_asked_and_temporary_leftovers_with_them(tmp_path):
    kept = write_atomic(tmp_path, "w/keep.png", b"k")
    stale = write_atomic(tmp_path, "w/old.png", b"o")
    leftover = tmp_path / "w" / ".tmp-x.png.123"
    leftover.write_bytes(b"half")
    removed = remove_stale(tmp_path / "w", keep=[kept])
    assert set(removed) == {stale, leftover} and kept.exists()
    assert remove_stale(Path(tmp_path / "missing"), keep=[]) == []


def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::2, ::2])


def test_a_published_image_is_encoded_once_and_hashed_as_written(tmp_path):
    pixels = _photo()
    facts = {"artifact_id": "art-1", "attempt": 1, "seed": 7, "gates": []}
    published = publish_files(
        tmp_path, WEEK, "art-1", 1, lambda h: write_png(pixels, facts, h), sidecar_json(facts)
    )
    assert published.image_sha256 == sha256_file(published.image)
    assert published.sidecar_sha256 == sha256_file(published.sidecar)
    assert published.image.name.endswith(f".{published.image_sha256[:12]}{IMAGE_SUFFIX}")
    # Lossless, with the sRGB profile and the provenance embedded.
    with Image.open(published.image) as image:
        assert np.array_equal(np.asarray(image), pixels)
        assert (
            ImageCms.getProfileDescription(
                ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
            ).strip()
            == "sRGB built-in"
        )
        assert TRAINED_ALGORITHMIC_MEDIA in image.info[XMP_KEY]
    # Only the two files: the temporary one was renamed into place.
    assert sorted(p.name for p in week_folder(tmp_path, WEEK).iterdir()) == sorted(
        [published.image.name, published.sidecar.name]
    )


def test_the_same_pixels_publish_the_same_bytes_and_leave_the_file_in_place(tmp_path):
    pixels = _photo()
    facts = {"artifact_id": "art-1", "attempt": 1}

    def publish():
        return publish_files(
            tmp_path, WEEK, "art-1", 1, lambda h: write_png(pixels, facts, h), b"{}"
        )

    first = publish()
    stamp = first.image.stat().st_mtime_ns
    assert publish() == first and first.image.stat().st_mtime_ns == stamp


def test_a_failing_encoder_leaves_no_file_and_the_previous_publication_intact(tmp_path):
    before = publish_files(tmp_path, WEEK, "art-1", 1, b"v1", b"{}")

    def fail(handle):
        handle.write(b"half an image")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish_files(tmp_path, WEEK, "art-1", 1, fail, b"{}")
    assert sorted(week_folder(tmp_path, WEEK).iterdir()) == sorted([before.image, before.sidecar])
    assert before.image.read_bytes() == b"v1"


def test_the_hashing_writer_hides_the_file_descriptor(tmp_path):
    """Pillow writes through `fileno()` when a stream has one, around any hashing wrapper."""
    with (tmp_path / "x").open("wb") as handle:
        writer = HashingWriter(handle)
        assert not hasattr(writer, "fileno")
        writer.write(b"ab")
        writer.write(memoryview(b"cd"))
    assert writer.hexdigest() == sha256_bytes(b"abcd") and writer.size == 4


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def test_a_plain_png_is_published_from_its_own_image_data(tmp_path):
    pixels = _photo()
    source = _png(Image.fromarray(pixels), compress_level=9)
    plain = plain_png(source, MAX_IMAGE_PIXELS)
    assert plain is not None
    facts = {"artifact_id": "art-1", "attempt": 1, "seed": 7}
    reused, encoded = io.BytesIO(), io.BytesIO()
    write_plain_png(plain, facts, reused)
    write_png(pixels, facts, encoded)
    for name, data in (("reused.png", reused.getvalue()), ("encoded.png", encoded.getvalue())):
        (tmp_path / name).write_bytes(data)
    # The same pixels, profile and provenance as the image decoded and encoded again.
    assert np.array_equal(decode_srgb8(tmp_path / "reused.png").pixels, pixels)
    with Image.open(tmp_path / "reused.png") as a, Image.open(tmp_path / "encoded.png") as b:
        assert a.info["icc_profile"] == b.info["icc_profile"]
        assert a.info[XMP_KEY] == b.info[XMP_KEY]
    with Image.open(tmp_path / "reused.png") as image:
        image.verify()  # every chunk's CRC
    assert plain_png(reused.getvalue(), MAX_IMAGE_PIXELS) is None  # it carries a profile now


def _corrupt_image_data(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 100
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _recrc(data: bytes) -> bytes:
    """Every chunk's CRC made right again, so only the image data itself is wrong."""
    out, position = bytearray(data[:8]), 8
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8 : position + 8 + length]
        out += data[position : position + 8] + body
        out += struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))
        position += 12 + length
    return bytes(out)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: _png(Image.fromarray(p).convert("RGBA")),
        lambda p: _png(Image.fromarray(p).convert("L")),
        lambda p: _png(Image.fromarray(p).convert("P")),
        lambda p: _png(Image.fromarray(p), icc_profile=b"not a profile"),
        lambda p: _png(Image.fromarray(p), exif=_rotated()),
        lambda p: _png(Image.fromarray(p), pnginfo=_text("Raw profile type exif", "x")),
        lambda p: _png(Image.fromarray(p), transparency=(0, 0, 0)),
        lambda p: _png(Image.fromarray(p))[:-20],
        lambda p: _corrupt_image_data(_png(Image.fromarray(p))),
        lambda p: _recrc(_corrupt_image_data(_png(Image.fromarray(p)))),
        lambda p: _png(Image.fromarray(p[:1, :1])).replace(b"IHDR", b"IHDX"),
        lambda p: (
            Image.fromarray(p).save(buffer := io.BytesIO(), format="JPEG") or buffer.getvalue()
        ),
    ],
    ids=[
        "alpha",
        "grey",
        "palette",
        "icc",
        "exif",
        "exif-as-text",
        "transparency",
        "truncated",
        "bad-crc",
        "bad-image-data",
        "no-header",
        "jpeg",
    ],
)
def test_anything_but_a_plain_png_is_decoded_and_encoded(make):
    assert plain_png(make(_photo()), MAX_IMAGE_PIXELS) is None


def test_a_plain_png_above_the_pixel_limit_is_not_reused():
    assert plain_png(_png(Image.fromarray(_photo())), 100) is None


def _rotated() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    return exif


def _text(key: str, value: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info


def _publishable_row(heal_actions: list) -> dict:
    from datetime import UTC, datetime

    return {
        "artifact_id": "art-1",
        "attempt": 1,
        "status": "approved",
        "failed_gates": [],
        "heal_actions": json.dumps(heal_actions),
        "final_delta_e_mean": 0.5,
        "final_hist_delta": 1.0,
        "campaign_id": "c",
        "template_id": "t",
        "channel": "web",
        "generated_at": datetime(2026, 10, 5, tzinfo=UTC),
        "model_version": "m",
        "retouch_version": "r",
        "prompt": "p",
        "prompt_version": "v1",
        "prompt_hash": "h",
        "negative_prompt": None,
        "sampler": "s",
        "seed": 1,
        "steps": 20,
        "cfg_scale": 7.0,
    }


@pytest.mark.parametrize(
    ("heal_actions", "decoded"),
    [([], False), ([{"preset": "p", "matrix": [], "passed": True}], True)],
)
def test_publication_reuses_a_plain_png_unless_a_correction_was_kept(
    tmp_path, heal_actions, decoded, c2pa_signer
):
    pixels = _photo()
    source = tmp_path / "delivered.png"
    source.write_bytes(_png(Image.fromarray(pixels)))
    calls = []

    def final_pixels(row):
        calls.append(row["artifact_id"])
        return 255 - pixels  # what a kept correction would have changed

    plan = PublicationPlan(
        freezes=(),
        first_seen={},
        gates_of={},
        pixels=final_pixels,
        source=lambda row: source,
        signer=c2pa_signer,
        master=lambda row: source,
    )
    (record,) = publish_week([_publishable_row(heal_actions)], plan, tmp_path / "out", WEEK)
    assert bool(calls) is decoded
    published = decode_srgb8(Path(record["output_path"])).pixels
    assert np.array_equal(published, 255 - pixels if decoded else pixels)
    assert record["output_sha256"] == sha256_file(Path(record["output_path"]))
