"""The web delivery manifest of a published image: what a CMS or DAM needs to take it as it
is. `srcset`/`sizes` candidates per format from its renditions, the alt text (optional in the
landing manifest: a missing one is reported, never rejected), schema.org `ImageObject`
structured data (JSON-LD) and the usage rights and their expiry.

Everything from the landing manifest (alt text, credits, terms, ids) is data: it goes into
the document through `json.dumps` only, with `<`, `>` and `&` escaped as well, so the JSON-LD
can be embedded in a `<script type="application/ld+json">` element as it is. URLs are built
from content-addressed file names (safe stems), never from input text.
"""

import json
from datetime import date
from pathlib import Path, PurePosixPath

from retouch_assets.config import Channel
from retouch_assets.gates.publish import TRAINED_ALGORITHMIC_MEDIA
from retouch_assets.safe_paths import inside, sha256_bytes, write_atomic
from retouch_assets.vocabulary import RenditionFormat

MANIFEST_SUFFIX = ".delivery.json"
# The order a browser should try formats in: the smallest first; JPEG is the fallback.
_FORMAT_ORDER = (RenditionFormat.AVIF, RenditionFormat.WEBP, RenditionFormat.JPEG)


def url_of(path: Path, week_folder: Path, base_url: str | None, week: date) -> str:
    """The file's URL: relative to the manifest's folder (the week's), or under `base_url`."""
    relative = PurePosixPath(*path.resolve().relative_to(week_folder.resolve()).parts)
    return f"{base_url}{week.isoformat()}/{relative}" if base_url else str(relative)


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def delivery_manifest(
    row: dict,
    published: dict,
    renditions: list[dict],
    channel: Channel | None,
    week_folder: Path,
    week: date,
    base_url: str | None,
    image_size: tuple[int, int],
) -> dict:
    """The manifest document of one published image. `row`: its generation (and decision)
    row; `published`: its `gated_outputs` record; `renditions`: its `retouch.renditions`
    rows; `image_size`: the published PNG's (width, height)."""

    def url(path: str) -> str:
        return url_of(Path(path), week_folder, base_url, week)

    ordered = sorted(renditions, key=lambda r: (_FORMAT_ORDER.index(r["format"]), r["width"]))
    sources = []
    for fmt in _FORMAT_ORDER:
        of_format = [r for r in ordered if r["format"] == fmt]
        if of_format:
            sources.append(
                {
                    "type": of_format[0]["mime"],
                    "srcset": ", ".join(f"{url(r['path'])} {r['width']}w" for r in of_format),
                }
            )
    alt = _text(row.get("alt_text"))
    width, height = image_size
    content_url = url(published["output_path"])
    smallest = min(renditions, key=lambda r: (r["width"], r["bytes"]), default=None)
    json_ld: dict = {
        "@context": "https://schema.org",
        "@type": "ImageObject",
        "contentUrl": content_url,
        "encodingFormat": "image/png",
        "width": width,
        "height": height,
        "dateCreated": row["generated_at"].isoformat(),
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "identifier": row["artifact_id"],
    }
    optional = {
        "caption": alt,
        "description": alt,
        "creditText": _text(row.get("credit_text")),
        "copyrightNotice": _text(row.get("copyright_notice")),
        "license": row.get("license_url"),
        "acquireLicensePage": row.get("acquire_license_url"),
        "expires": row["rights_expire_at"].isoformat() if row.get("rights_expire_at") else None,
    }
    json_ld |= {k: v for k, v in optional.items() if v is not None}
    creator = _text(row.get("creator"))
    if creator:
        json_ld["creator"] = {"@type": "Organization", "name": creator}
    if smallest is not None:
        json_ld["thumbnail"] = {
            "@type": "ImageObject",
            "contentUrl": url(smallest["path"]),
            "encodingFormat": smallest["mime"],
            "width": smallest["width"],
            "height": smallest["height"],
        }
    fallback = next((r for r in reversed(ordered) if r["format"] == RenditionFormat.JPEG), None)
    return {
        "artifact_id": row["artifact_id"],
        "attempt": row["attempt"],
        "channel": row["channel"],
        "alt": alt,
        "alt_text_missing": alt is None,
        "sizes": channel.sizes if channel is not None else None,
        "sources": sources,
        "img": {
            "src": url(fallback["path"]) if fallback else content_url,
            "width": fallback["width"] if fallback else width,
            "height": fallback["height"] if fallback else height,
        },
        "original": {"url": content_url, "type": "image/png", "width": width, "height": height},
        "renditions": [
            {
                "url": url(r["path"]),
                "type": r["mime"],
                "format": r["format"],
                "width": r["width"],
                "height": r["height"],
                "bytes": r["bytes"],
                "sha256": r["sha256"],
                "within_budget": r["within_budget"],
                "meets_floor": r["meets_floor"],
            }
            for r in ordered
        ],
        "rights": {
            "creator": creator,
            "credit_text": _text(row.get("credit_text")),
            "copyright_notice": _text(row.get("copyright_notice")),
            "usage_terms": _text(row.get("usage_terms")),
            "license_url": row.get("license_url"),
            "acquire_license_url": row.get("acquire_license_url"),
            "expires_at": json_ld.get("expires"),
        },
        "json_ld": json_ld,
    }


def manifest_bytes(document: dict) -> bytes:
    """Stable JSON (sorted keys), with `<`, `>` and `&` escaped so that no input text can
    close a `<script>` element the JSON-LD is embedded in."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return (text + "\n").encode("utf-8")


def write_manifest(image_path: Path, document: dict) -> tuple[Path, str]:
    """Write the manifest next to the published image (its name with MANIFEST_SUFFIX),
    atomically; an identical file is left as it is. Returns (path, sha256)."""
    data = manifest_bytes(document)
    folder = image_path.parent
    name = image_path.name.removesuffix(image_path.suffix) + MANIFEST_SUFFIX
    target = inside(folder, name)
    if not (target.is_file() and target.read_bytes() == data):
        write_atomic(folder, name, data)
    return target, sha256_bytes(data)


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:  # reads the header only
        return image.size


def attach_manifests(
    records: list[dict],
    rows: list[dict],
    renditions_of: dict[tuple, list[dict]],
    channels: dict[str, Channel],
    base_url: str | None,
    week_folder: Path,
    week: date,
) -> list[dict]:
    """`records` (publication's rows) with the web delivery manifest of every published image
    written next to it (`delivery_manifest_path`, `delivery_manifest_sha256`)."""
    by_key = {(r["artifact_id"], r["attempt"]): r for r in rows}
    out = []
    for record in records:
        if not record.get("output_path"):
            out.append(record)
            continue
        key = (record["artifact_id"], record["attempt"])
        row = by_key[key]
        image = Path(record["output_path"])
        document = delivery_manifest(
            row,
            record,
            renditions_of.get(key, []),
            channels.get(row["channel"]),
            week_folder,
            week,
            base_url,
            _png_size(image),
        )
        path, digest = write_manifest(image, document)
        out.append(
            record | {"delivery_manifest_path": str(path), "delivery_manifest_sha256": digest}
        )
    return out


def published_without_alt_text(records: list[dict], rows: list[dict]) -> int:
    """Published images whose landing line had no (or a blank) alt text."""
    published = {(r["artifact_id"], r["attempt"]) for r in records if r.get("output_path")}
    return sum(
        1
        for r in rows
        if (r["artifact_id"], r["attempt"]) in published and _text(r.get("alt_text")) is None
    )
