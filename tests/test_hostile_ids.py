"""Hostile identifiers through a whole `retouch run`: the run exits 0, every line is filed, the
ones ingest accepts are published under safe names inside the outputs folder, and nothing at
all is written outside the run's folders (the filesystem around the run is scanned before and
after)."""

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image
from skimage import data

from retouch_assets.cli import main
from tests.conftest import valid_record

# id -> accepted by ingest (then published under a safe name) or quarantined as bad_identifier
HOSTILE = {
    "dot-dot": ("../../x", True),
    "deep-dot-dot": ("../../../../../../../../tmp/pwned", True),
    "absolute": ("/etc/passwd", True),
    "sub-folders": ("sub/dir/x", True),
    "windows-path": ("C:\\Windows\\x", True),
    "dot": (".", True),
    "dot-dot-alone": ("..", True),
    "unicode": ("Umlaut ä 猫 🎨", True),
    "long-200": ("a" * 200, True),
    "long-300": ("a" * 300, False),
    "nul": ("nul\x00byte", False),
    "newline": ("line\nbreak", False),
    "carriage-return": ("cr\rhere", False),
    "leading-space": (" padded", False),
    "empty": ("", False),
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    # The run sits a few folders deep, so an escape by `..` would land inside `around`, which
    # is scanned before and after; escapes to absolute places are checked by name below.
    around = tmp_path_factory.mktemp("around")
    run_root = around / "a" / "b" / "c" / "run"
    batch = run_root / "landing" / "b1"
    (batch / "images").mkdir(parents=True)
    pixels = np.ascontiguousarray(data.coffee()[::4, ::4])
    Image.fromarray(pixels).save(batch / "images" / "out.png")
    Image.fromarray(pixels).save(batch / "images" / "master.png")
    layer = {"id": "h", "text": "Hi", "fg": "#000000", "bg": "#FFFFFF", "bbox": None}
    lines = [
        json.dumps(
            valid_record(
                artifact_id=identifier,
                image="images/out.png",
                master="images/master.png",
                text_layers=[layer | {"font_px": 24, "bold": False}],
            )
        )
        for identifier, _ in HOSTILE.values()
    ]
    (batch / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    config = run_root / "retouch-slo.yaml"
    config.write_text("gates:\n  systemic_failure_tolerance: 1.0\n")
    before = set(around.rglob("*"))
    code = main(
        [
            "run",
            "--landing",
            str(run_root / "landing"),
            "--db",
            str(run_root / "w.duckdb"),
            "--config",
            str(config),
            "--outputs",
            str(run_root / "outputs"),
            "--reports",
            str(run_root / "reports"),
        ]
    )
    created = set(around.rglob("*")) - before
    with duckdb.connect(str(run_root / "w.duckdb"), read_only=True) as con:
        published = {
            artifact: (image, sidecar)
            for artifact, image, sidecar in con.execute(
                "SELECT artifact_id, output_path, sidecar_path FROM retouch.gated_outputs "
                "WHERE output_path IS NOT NULL"
            ).fetchall()
        }
        quarantined = dict(
            con.execute("SELECT line_no, reason_code FROM retouch.quarantine").fetchall()
        )
    return {
        "code": code,
        "root": run_root,
        "created": created,
        "published": published,
        "quarantined": quarantined,
    }


def test_the_run_exits_0_and_writes_only_inside_its_folders(hostile_run):
    assert hostile_run["code"] == 0
    root = hostile_run["root"]
    folders = [root / "outputs", root / "reports", root / "landing"]
    # Directly in the run's folder: only the warehouse, its snapshot and its run lock.
    files = {root / n for n in ("w.duckdb", "analytics.duckdb", "w.duckdb.run.lock")}
    for path in hostile_run["created"]:
        assert path in files or path in folders or any(path.is_relative_to(f) for f in folders)
    for folder in (root / "outputs").iterdir():
        # A week's folder holds files and the one fixed `renditions` folder, itself flat.
        assert folder.is_dir()
        assert [p.name for p in folder.iterdir() if p.is_dir()] in ([], ["renditions"])
        assert not any(p.is_dir() for p in (folder / "renditions").glob("*"))
    # Where the absolute and deep `..` ids would have written, had they been paths.
    assert not list(Path("/tmp").glob("pwned*")) and not list(Path("/etc").glob("passwd_a1*"))


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_each_hostile_identifier_is_published_safely_or_quarantined(hostile_run, kind):
    identifier, accepted = HOSTILE[kind]
    line_no = list(HOSTILE).index(kind) + 1
    if accepted:
        image, sidecar = (Path(p) for p in hostile_run["published"][identifier])
        outputs = (hostile_run["root"] / "outputs").resolve()
        for path in (image, sidecar):
            assert path.resolve().parent.parent == outputs and path.is_file()
            assert not path.name.startswith(".")
    else:
        assert hostile_run["quarantined"][line_no] == "bad_identifier"
        assert identifier not in hostile_run["published"]
