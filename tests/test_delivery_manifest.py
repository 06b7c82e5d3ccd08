"""The web delivery manifest: valid JSON next to each published image, srcset candidates that
match the rendition files, the JSON-LD ImageObject, alt text reported when missing, hostile
text kept as data; and the optional delivery fields of the landing manifest."""

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image

from retouch_assets.config import Channel
from retouch_assets.delivery.manifest import (
    MANIFEST_SUFFIX,
    delivery_manifest,
    manifest_bytes,
    published_without_alt_text,
    write_manifest,
)
from retouch_assets.gates.publish import TRAINED_ALGORITHMIC_MEDIA
from retouch_assets.ingest.manifest import examine_line
from retouch_assets.vocabulary import QuarantineReason
from tests.conftest import valid_record


def _published(sample_run) -> list[dict]:
    rows = sample_run.query(
        "SELECT o.artifact_id, o.attempt, o.output_path, o.delivery_manifest_path, "
        "o.delivery_manifest_sha256, g.alt_text, g.channel FROM retouch.gated_outputs o "
        "JOIN retouch.generations g USING (artifact_id, attempt) WHERE o.output_path IS NOT NULL"
    )
    keys = ("artifact_id", "attempt", "png", "manifest", "sha256", "alt_text", "channel")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def test_every_published_image_has_a_valid_manifest_matching_its_renditions(sample_run):
    published = _published(sample_run)
    assert published
    for item in published:
        path = Path(item["manifest"])
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        assert path.name == Path(item["png"]).name.removesuffix(".png") + MANIFEST_SUFFIX
        doc = json.loads(data)
        week_folder = path.parent
        files = {
            r[0]: r[1:]
            for r in sample_run.query(
                "SELECT path, format, width, sha256 FROM retouch.renditions "
                "WHERE artifact_id = $a AND attempt = $n",
                {"a": item["artifact_id"], "n": item["attempt"]},
            )
        }
        assert files, "every published sample image has renditions"
        # srcset candidates: exactly the rendition files, by relative URL and width.
        candidates = {
            (candidate.split(" ")[0], candidate.split(" ")[1])
            for source in doc["sources"]
            for candidate in source["srcset"].split(", ")
        }
        expected = {
            (str(Path(p).relative_to(week_folder)), f"{width}w")
            for p, (_, width, _) in files.items()
        }
        assert candidates == expected
        for rendition in doc["renditions"]:
            target = week_folder / rendition["url"]
            assert target.is_file()
            assert hashlib.sha256(target.read_bytes()).hexdigest() == rendition["sha256"]
        assert doc["sizes"] and doc["sources"][0]["type"] in (
            "image/avif",
            "image/webp",
            "image/jpeg",
        )
        # JSON-LD
        ld = doc["json_ld"]
        with Image.open(item["png"]) as png:
            assert (ld["width"], ld["height"]) == png.size
        assert ld["@context"] == "https://schema.org" and ld["@type"] == "ImageObject"
        assert ld["contentUrl"] == Path(item["png"]).name and ld["encodingFormat"] == "image/png"
        assert ld["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
        assert datetime.fromisoformat(ld["dateCreated"]).tzinfo is not None
        smallest = min(doc["renditions"], key=lambda r: (r["width"], r["bytes"]))
        assert ld["thumbnail"]["contentUrl"] == smallest["url"]
        if item["alt_text"]:
            assert doc["alt"] == ld["caption"] == ld["description"] == item["alt_text"]
            assert not doc["alt_text_missing"]
        else:
            assert doc["alt"] is None and doc["alt_text_missing"] and "caption" not in ld


def test_the_sample_has_alt_text_and_rights_on_most_lines_and_reports_the_missing(sample_run):
    (with_alt, total, with_rights) = sample_run.query(
        "SELECT count(alt_text), count(*), count(license_url) FROM retouch.generations"
    )[0]
    assert 0 < with_alt < total and 0 < with_rights < total
    rows = [
        {"artifact_id": p["artifact_id"], "attempt": p["attempt"], "alt_text": p["alt_text"]}
        for p in _published(sample_run)
    ]
    records = [
        {"artifact_id": r["artifact_id"], "attempt": r["attempt"], "output_path": "x"} for r in rows
    ]
    missing = sum(1 for r in rows if not r["alt_text"])
    assert published_without_alt_text(records, rows) == missing


def test_rights_fields_reach_the_json_ld(sample_run):
    item = next(p for p in _published(sample_run) if p["alt_text"])
    (license_url, expires) = sample_run.query(
        "SELECT license_url, rights_expire_at FROM retouch.generations "
        "WHERE artifact_id = $a AND attempt = $n",
        {"a": item["artifact_id"], "n": item["attempt"]},
    )[0]
    doc = json.loads(Path(item["manifest"]).read_bytes())
    if license_url:
        assert doc["json_ld"]["license"] == doc["rights"]["license_url"] == license_url
        assert datetime.fromisoformat(doc["json_ld"]["expires"]) == expires
        assert doc["json_ld"]["creator"] == {"@type": "Organization", "name": "Retouch Studio"}


HOSTILE_ALT = '</script><script>alert("x")</script> & <img src=x onerror=alert(1)>'


def _document(tmp_path: Path, artifact_id: str, alt: str | None, base_url=None) -> dict:
    week = date(2026, 10, 5)
    folder = tmp_path / week.isoformat()
    (folder / "renditions").mkdir(parents=True)
    png = folder / "art-abc_a1.0123456789ab.png"
    Image.new("RGB", (480, 320)).save(png)
    rendition = folder / "renditions" / "art-abc_a1.web.320w.0123456789ab.webp"
    rendition.write_bytes(b"webp")
    row = {
        "artifact_id": artifact_id,
        "attempt": 1,
        "channel": "web",
        "generated_at": datetime(2026, 10, 6, 9, tzinfo=UTC),
        "alt_text": alt,
        "credit_text": alt,
        "license_url": None,
        "rights_expire_at": None,
    }
    renditions = [
        {
            "path": str(rendition),
            "format": "webp",
            "mime": "image/webp",
            "width": 320,
            "height": 213,
            "bytes": 4,
            "sha256": "0" * 64,
            "within_budget": True,
            "meets_floor": True,
        }
    ]
    channel = Channel.model_validate(
        {"formats": ["webp"], "widths": [{"width": 320, "max_kb": 30}], "sizes": "50vw"}
    )
    return delivery_manifest(
        row, {"output_path": str(png)}, renditions, channel, folder, week, base_url, (480, 320)
    )


@pytest.mark.parametrize("artifact_id", ["../../etc/passwd", "a/b\\c", "x\u202ey"])
def test_hostile_alt_text_and_ids_stay_data(tmp_path, artifact_id):
    doc = _document(tmp_path, artifact_id, HOSTILE_ALT)
    data = manifest_bytes(doc)
    text = data.decode()
    assert "<" not in text and ">" not in text and "&" not in text  # safe inside <script>
    back = json.loads(data)
    assert back["alt"] == back["json_ld"]["caption"] == HOSTILE_ALT
    assert back["artifact_id"] == back["json_ld"]["identifier"] == artifact_id
    # URLs come from the content-addressed file names, never from the id.
    urls = [back["json_ld"]["contentUrl"], *(r["url"] for r in back["renditions"])]
    assert all(".." not in u and not u.startswith("/") and artifact_id not in u for u in urls)
    path, _ = write_manifest(tmp_path / "2026-10-05" / "art-abc_a1.0123456789ab.png", doc)
    assert path.parent == tmp_path / "2026-10-05" and json.loads(path.read_bytes()) == back


def test_a_base_url_prefixes_every_url(tmp_path):
    doc = _document(tmp_path, "art-1", "A cup", base_url="https://cdn.example.com/retouch/")
    assert doc["json_ld"]["contentUrl"] == (
        "https://cdn.example.com/retouch/2026-10-05/art-abc_a1.0123456789ab.png"
    )
    assert doc["sources"] == [
        {
            "type": "image/webp",
            "srcset": "https://cdn.example.com/retouch/2026-10-05/renditions/"
            "art-abc_a1.web.320w.0123456789ab.webp 320w",
        }
    ]
    assert doc["sizes"] == "50vw" and doc["img"]["src"].endswith(".png")


def test_a_missing_alt_text_is_accepted_and_bad_rights_fields_are_quarantined():
    ok = examine_line(json.dumps(valid_record())).outcome
    assert ok.alt_text is None  # reported by the run, never rejected
    fine = examine_line(
        json.dumps(
            valid_record(
                alt_text="Ein Cappuccino, warmes Licht",
                license_url="https://example.com/license",
                rights_expire_at="2027-06-30T23:59:59+02:00",
            )
        )
    ).outcome
    assert fine.rights_expire_at == datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC)
    for field, value, code in (
        ("rights_expire_at", "2027-02-30", QuarantineReason.BAD_TIMESTAMP),
        ("rights_expire_at", "2027-06-30", QuarantineReason.BAD_TIMESTAMP),  # no offset
        ("license_url", "javascript:alert(1)", QuarantineReason.BAD_URL),
        ("acquire_license_url", "https://x.example/a b", QuarantineReason.BAD_URL),
        ("alt_text", 42, QuarantineReason.WRONG_TYPE),
        ("alt_text", "x" * 2001, QuarantineReason.OUT_OF_RANGE),
    ):
        rejected = examine_line(json.dumps(valid_record(**{field: value}))).outcome
        assert rejected.code == code, (field, value, rejected)
        assert field in rejected.reason
