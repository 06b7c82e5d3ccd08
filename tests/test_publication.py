"""Identifiers never become paths: safe, stable, collision-free names; every write stays inside
its root; publication is atomic and non-destructive."""

from datetime import date
from pathlib import Path

import pytest

from retouch_assets.gates.publish import publish_files, week_folder
from retouch_assets.safe_paths import (
    SLUG_MAX,
    UnsafePath,
    inside,
    remove_stale,
    safe_stem,
    sha256_bytes,
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
