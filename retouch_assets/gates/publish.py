"""Publishing approved and healed images: an sRGB PNG with XMP provenance (IPTC digital
source type, generation parameters, gate results) and a JSON sidecar with the same facts.

Publication is atomic and non-destructive. A file's name is the artifact's safe stem (see
`safe_paths`) plus the first characters of the PNG's sha256, so the same image always gets the
same name and a changed image a new one. Each file is written to a temporary name in the
week's folder and renamed into place; files of the previous publication are removed only after
the new rows are committed (`remove_stale`), so a failure at any instant leaves the previous
publication and its rows intact, and a re-run repairs whatever a killed run left behind.
"""

import io
import json
import os
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from retouch_assets.gates.locks import TemplateLock, lock_reason
from retouch_assets.safe_paths import inside, safe_stem, sha256_bytes, write_atomic
from retouch_assets.slo.governance import Freeze, held_reason
from retouch_assets.vocabulary import PUBLISHABLE, Status

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_KEY = "XML:com.adobe.xmp"
RETOUCH_NS = "urn:retouch-assets:ns:1.0#"

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


def render_png(pixels: np.ndarray, provenance: dict) -> bytes:
    """The published PNG: sRGB profile and XMP provenance embedded."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(XMP_KEY, xmp_packet(provenance))
    buffer = io.BytesIO()
    # zlib level 3: within a few percent of the default's size at a third of its time.
    Image.fromarray(pixels).save(
        buffer, format="PNG", pnginfo=info, icc_profile=_srgb_icc(), compress_level=3
    )
    return buffer.getvalue()


def sidecar_json(provenance: dict) -> bytes:
    return (json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n").encode()


def published_stem(artifact_id: str, attempt: int, png_sha256: str) -> str:
    return f"{safe_stem(artifact_id, attempt)}.{png_sha256[:12]}"


class Published(NamedTuple):
    image: Path
    sidecar: Path
    image_sha256: str
    sidecar_sha256: str


def publish_files(
    outputs_root: Path, week: date, artifact_id: str, attempt: int, png: bytes, sidecar: bytes
) -> Published:
    """Write one artifact's PNG and sidecar atomically under `<outputs>/<week>/`; returns both
    paths and their sha256. An identical file already in place is left as it is."""
    digest = sha256_bytes(png)
    stem = published_stem(artifact_id, attempt, digest)
    paths = []
    for suffix, data in ((".png", png), (".json", sidecar)):
        relative = f"{week.isoformat()}/{stem}{suffix}"
        target = inside(outputs_root, relative)
        unchanged = target.is_file() and target.stat().st_size == len(data)
        if not (unchanged and target.read_bytes() == data):
            write_atomic(outputs_root, relative, data)
        paths.append(target)
    return Published(paths[0], paths[1], digest, sha256_bytes(sidecar))


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
            render_png(pixels, facts),
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
