"""Identifiers never become paths: safe, stable, collision-free names; every write stays inside
its root; publication is atomic and non-destructive."""

import io
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from retouch_assets.gates.publish import (
    IMAGE_SUFFIX,
    TRAINED_ALGORITHMIC_MEDIA,
    XMP_KEY,
    HashingWriter,
    publish_files,
    sidecar_json,
    week_folder,
    write_png,
)
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
