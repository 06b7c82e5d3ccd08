"""Publishing approved and healed images: an sRGB PNG with XMP provenance (IPTC digital
source type, generation parameters, gate results) and a JSON sidecar with the same facts.

Publication is atomic and non-destructive. A file's name is the artifact's safe stem (see
`safe_paths`) plus the first characters of the PNG's sha256, so the same image always gets the
same name and a changed image a new one. Each image is encoded once, straight into a temporary
file in the week's folder, its sha256 computed from the bytes as they are written, and renamed
into place under its content-addressed name; files of the previous publication are removed only
after the new rows are committed (`remove_stale`), so a failure at any instant leaves the
previous publication and its rows intact, and a re-run repairs whatever a killed run left behind.
"""

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from retouch_assets.gates.locks import TemplateLock, lock_reason
from retouch_assets.safe_paths import (
    TEMP_PREFIX,
    inside,
    safe_stem,
    sha256_bytes,
    sha256_file,
    write_atomic,
)
from retouch_assets.slo.governance import Freeze, held_reason
from retouch_assets.vocabulary import PUBLISHABLE, Status

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_KEY = "XML:com.adobe.xmp"
RETOUCH_NS = "urn:retouch-assets:ns:1.0#"

# Writes an encoded image into a binary stream.
Encoder = Callable[[BinaryIO], None]

# Provenance keys written as XMP properties of the retouch namespace (the rest is in the
# `retouch:provenance` JSON and the sidecar).
_XMP_FIELDS = {
    "artifact_id": "artifactId",
    "attempt": "attempt",
    "status": "status",
    "campaign_id": "campaignId",
    "template_id": "templateId",
    "model_version": "modelVersion",
    "retouch_version": "retouchVersion",
    "prompt_version": "promptVersion",
    "prompt_hash": "promptHash",
    "seed": "seed",
    "steps": "steps",
    "cfg_scale": "cfgScale",
    "sampler": "sampler",
    "generated_at": "generatedAt",
}


# The ICC header's creation time (bytes 24-35, six big-endian uint16: year .. second). LittleCMS
# stamps the current time, which would make the same image publish as different bytes in every
# process; a fixed stamp keeps publication content-addressed (the profile carries no ID hash).
_ICC_DATE = slice(24, 36)
_FIXED_ICC_DATE = struct.pack(">6H", 2025, 1, 1, 0, 0, 0)


@cache
def _srgb_icc() -> bytes:
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[_ICC_DATE] = _FIXED_ICC_DATE
    return bytes(profile)


def xmp_packet(provenance: dict) -> str:
    """An XMP packet: IPTC DigitalSourceType plus the retouch provenance properties."""
    attributes = [
        f"Iptc4xmpExt:DigitalSourceType={quoteattr(TRAINED_ALGORITHMIC_MEDIA)}",
        f"xmp:CreatorTool={quoteattr('retouch_assets')}",
    ]
    for key, name in _XMP_FIELDS.items():
        if provenance.get(key) is not None:
            attributes.append(f"retouch:{name}={quoteattr(str(provenance[key]))}")
    attributes.append(f"retouch:provenance={quoteattr(json.dumps(provenance, sort_keys=True))}")
    body = "\n   ".join(attributes)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '   xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '   xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f'   xmlns:retouch="{RETOUCH_NS}"\n'
        f"   {body}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )


# How the published PNG is compressed, chosen from measurements on the e2e benchmark's 1224×816
# photographs (thread CPU time per image, median of 8; see docs/benchmarks.md): zlib level 3,
# the former setting, 99 ms and 0.97 MB; level 1, 62 ms and 1.04 MB; the default level 6, 301 ms
# and 0.88 MB; the run-length strategy (Z_RLE) 59 ms and 0.87 MB. Pillow's adaptive per-row
# filters leave residuals that are mostly runs, so Z_RLE is both the fastest lossless setting
# and nearly the smallest (lossless WebP at its fastest method: 48 ms, 0.80 MB, but a new
# format for every consumer of the files, and at most 16383 pixels a side).
PNG_COMPRESS_LEVEL = 1  # with Z_RLE the level hardly matters; 1 is zlib's fastest set-up
PNG_COMPRESS_TYPE = 3  # zlib's Z_RLE strategy
IMAGE_SUFFIX = ".png"


def write_png(pixels: np.ndarray, provenance: dict, handle: BinaryIO) -> None:
    """Encode the published PNG, sRGB profile and XMP provenance embedded, into `handle`."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(XMP_KEY, xmp_packet(provenance))
    Image.fromarray(pixels).save(
        handle,
        format="PNG",
        pnginfo=info,
        icc_profile=_srgb_icc(),
        compress_level=PNG_COMPRESS_LEVEL,
        compress_type=PNG_COMPRESS_TYPE,
    )


def sidecar_json(provenance: dict) -> bytes:
    return (json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n").encode()


def canonical_json(value: object) -> str:
    """One text per value, as the sidecar stores it (dates as strings, NaN as NaN): what the
    integrity check compares a sidecar's facts with the warehouse's rows by."""
    return json.dumps(json.loads(json.dumps(value, default=str)), sort_keys=True)


def published_stem(artifact_id: str, attempt: int, png_sha256: str) -> str:
    return f"{safe_stem(artifact_id, attempt)}.{png_sha256[:12]}"


class Published(NamedTuple):
    image: Path
    sidecar: Path
    image_sha256: str
    sidecar_sha256: str


class HashingWriter:
    """A write-only stream that passes bytes on to a file and hashes them on the way. It has
    no `fileno`, so an encoder cannot write around it through the file descriptor."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += memoryview(data).nbytes
        return self._handle.write(data)

    def flush(self) -> None:
        self._handle.flush()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def write_hashed(folder: Path, name_of: Callable[[str], str], encode: Encoder) -> tuple[Path, str]:
    """Stream `encode`'s bytes into a temporary file in `folder`, hashing them as they are
    written, and rename it to `name_of(sha256)`: (path, sha256). A file already there under
    that name with the same content is left as it is (its mtime too)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            writer = HashingWriter(handle)
            encode(cast(BinaryIO, writer))  # all an encoder needs of a stream is `write`
            handle.flush()
            os.fsync(handle.fileno())
        digest = writer.hexdigest()
        target = inside(folder, name_of(digest))
        if _same_file(target, writer.size, digest):
            temp.unlink()
        else:
            os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target, digest


def _same_file(target: Path, size: int, digest: str) -> bool:
    """Whether `target` already holds these bytes (read only when the size matches: a re-run)."""
    return target.is_file() and target.stat().st_size == size and sha256_file(target) == digest


def publish_files(
    outputs_root: Path,
    week: date,
    artifact_id: str,
    attempt: int,
    encode: Encoder | bytes,
    sidecar: bytes,
) -> Published:
    """Write one artifact's image (encoded once by `encode`, or given as bytes) and its sidecar
    atomically under `<outputs>/<week>/`; returns both paths and their sha256. An identical
    file already in place is left as it is."""
    folder = week_folder(outputs_root, week)
    write = encode if callable(encode) else _bytes_encoder(encode)
    image, digest = write_hashed(
        folder, lambda sha: f"{published_stem(artifact_id, attempt, sha)}{IMAGE_SUFFIX}", write
    )
    sidecar_path = inside(folder, image.with_suffix(".json").name)
    unchanged = sidecar_path.is_file() and sidecar_path.stat().st_size == len(sidecar)
    if not (unchanged and sidecar_path.read_bytes() == sidecar):
        write_atomic(folder, sidecar_path.name, sidecar)
    return Published(image, sidecar_path, digest, sha256_bytes(sidecar))


def _bytes_encoder(data: bytes) -> Encoder:
    def encode(handle: BinaryIO) -> None:
        handle.write(data)

    return encode


def week_folder(outputs_root: Path, week: date) -> Path:
    return inside(outputs_root, week.isoformat())


_GENERATION_FIELDS = (
    "model_version",
    "retouch_version",
    "prompt",
    "prompt_version",
    "prompt_hash",
    "negative_prompt",
    "sampler",
    "seed",
    "steps",
    "cfg_scale",
)


def provenance(row: dict, gates: list[dict]) -> dict:
    """What the published file says about itself: ids, generation parameters, gate results."""
    return {
        "artifact_id": row["artifact_id"],
        "attempt": row["attempt"],
        "status": row["status"],
        "campaign_id": row["campaign_id"],
        "template_id": row["template_id"],
        "channel": row["channel"],
        "generated_at": row["generated_at"].isoformat(),
        "digital_source_type": TRAINED_ALGORITHMIC_MEDIA,
        **{k: row[k] for k in _GENERATION_FIELDS},
        "final_delta_e_mean": row["final_delta_e_mean"],
        "final_hist_delta_pct": row["final_hist_delta"],
        "heal_actions": json.loads(row["heal_actions"]),
        "gates": gates,
    }


@dataclass(frozen=True)
class PublicationPlan:
    """What publication needs besides the rows: freezes in force, when versions were first
    seen, each artifact's final gate rows, how to get an artifact's final pixels, and the
    template locks in force."""

    freezes: Sequence[Freeze]
    first_seen: dict
    gates_of: dict[tuple, list[dict]]
    pixels: Callable[[dict], np.ndarray | None]  # None: the image no longer decodes
    locks: Sequence[TemplateLock] = ()


def publish_week(
    rows: list[dict], plan: PublicationPlan, outputs_root: Path, week: date
) -> list[dict]:
    """`retouch.gated_outputs` rows of the week, publishing what passed and is not held."""

    def one(row: dict) -> dict:
        record = {
            k: row[k] for k in ("artifact_id", "attempt", "status", "failed_gates", "heal_actions")
        }
        record |= {"final_delta_e_mean": row["final_delta_e_mean"], "week": week}
        if row["status"] not in PUBLISHABLE:
            return record
        hold = held_reason(row, list(plan.freezes), plan.first_seen)
        if hold:
            return record | {"status": Status.HELD_BY_FREEZE, "hold_reason": hold}
        locked = lock_reason(row, plan.locks)
        if locked:
            return record | {"status": Status.HELD_BY_TEMPLATE_LOCK, "hold_reason": locked}
        pixels = plan.pixels(row)
        if pixels is None:
            return record | {"hold_reason": "image no longer decodes: not published"}
        key = (row["artifact_id"], row["attempt"])
        facts = provenance(row, plan.gates_of.get(key, []))
        published = publish_files(
            outputs_root,
            week,
            row["artifact_id"],
            row["attempt"],
            lambda handle: write_png(pixels, facts, handle),
            sidecar_json(facts),
        )
        return record | {
            "output_path": str(published.image),
            "sidecar_path": str(published.sidecar),
            "output_sha256": published.image_sha256,
            "sidecar_sha256": published.sidecar_sha256,
        }

    # PNG encoding (zlib) and decoding release the GIL: one thread per core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(one, rows))
