"""Publishing approved and healed images: an sRGB PNG with XMP provenance (IPTC digital
source type, generation parameters, gate results) and a signed C2PA manifest
(`retouch_assets.provenance`), and a JSON sidecar with the same facts.

Publication is atomic and non-destructive. A file's name is the artifact's safe stem (see
`safe_paths`) plus the first characters of the PNG's sha256, so the same image always gets the
same name and a changed image a new one. Each image is encoded once and signed (below), its
signed bytes written into a temporary file in the week's folder, their sha256 computed as they
are written, and renamed into place under its content-addressed name; files of the previous
publication are removed only after the new rows are committed (`remove_stale`), so a failure at
any instant leaves the previous publication and its rows intact, and a re-run repairs whatever a
killed run left behind.

Signing: the PNG is encoded (unsigned) into memory, its manifest embedded by the C2PA library,
and the signed bytes written as above, named by their own sha256. A manifest carries random
instance ids and salts, so signing the same image twice gives different bytes: the record keeps
`c2pa_input_sha256`, the hash of everything signed (the unsigned PNG, the manifest definition,
the master's bytes, the signing certificate), and a re-run whose input hash is unchanged keeps
the published file (and its name, hash and mtime) instead of signing again.
"""

import hashlib
import io
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import cache, partial
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, cast
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from retouch_assets.cores import available_cores
from retouch_assets.gates.locks import TemplateLock, lock_reason
from retouch_assets.provenance.manifest import (
    GENERATION_PARAMETERS,
    TRAINED_ALGORITHMIC_MEDIA,
    Claim,
    master_ingredient,
    publication_claim,
)
from retouch_assets.quality.decode import MAX_IMAGE_PIXELS, open_regular_file
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

PNG_MIME = "image/png"
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
    return Published(image, _write_sidecar(folder, image, sidecar), digest, sha256_bytes(sidecar))


def _write_sidecar(folder: Path, image: Path, sidecar: bytes) -> Path:
    """The image's sidecar (its name with .json), rewritten only when its content changed."""
    sidecar_path = inside(folder, image.with_suffix(".json").name)
    unchanged = sidecar_path.is_file() and sidecar_path.stat().st_size == len(sidecar)
    if not (unchanged and sidecar_path.read_bytes() == sidecar):
        write_atomic(folder, sidecar_path.name, sidecar)
    return sidecar_path


def _bytes_encoder(data: bytes) -> Encoder:
    def encode(handle: BinaryIO) -> None:
        handle.write(data)

    return encode


def week_folder(outputs_root: Path, week: date) -> Path:
    return inside(outputs_root, week.isoformat())


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
        **{k: row[k] for k in GENERATION_PARAMETERS},
        "final_delta_e_mean": row["final_delta_e_mean"],
        "final_hist_delta_pct": row["final_hist_delta"],
        "heal_actions": json.loads(row["heal_actions"]),
        "gates": gates,
    }


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary chunks that change nothing in the decoded pixels (`decode_srgb8` ignores them); like
# re-encoding, publishing from the image data drops them. Any other chunk (a colour profile,
# EXIF or text, which may carry an orientation, transparency, a palette) means: decode it.
_INERT_CHUNKS = frozenset({b"pHYs", b"tIME", b"gAMA", b"cHRM", b"sRGB"})
_PLAIN_HEADER = (8, 2, 0, 0, 0)  # bit depth 8, RGB, deflate, adaptive filters, not interlaced


@dataclass(frozen=True)
class PlainPng:
    """A PNG whose pixels are its 8-bit sRGB pixels as they are: its header and image data."""

    header: bytes  # the IHDR chunk's 13 bytes
    image_data: bytes  # the zlib stream of its IDAT chunks


def plain_png(data: bytes, max_pixels: int) -> PlainPng | None:
    """`data` as a plain PNG: 8-bit RGB, not interlaced, at most `max_pixels`, with no chunk
    but the inert ones, every chunk's CRC right and its image data a complete zlib stream of
    exactly the filtered rows the header declares. None for anything else."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kinds, header, parts, position = [], b"", [], len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8 : position + 8 + length]
        end = position + 12 + length
        if len(body) != length or end > len(data):
            return None
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", data, end - 4)[0]:
            return None
        kinds.append(kind)
        if kind == b"IEND":
            break
        if kind == b"IHDR" and len(kinds) == 1 and length == 13:
            header = body
        elif kind == b"IDAT":
            if parts and kinds[-2] != b"IDAT":
                return None  # image data interrupted by another chunk
            parts.append(body)
        elif kind not in _INERT_CHUNKS:
            return None
        position = end
    if kinds[-1:] != [b"IEND"] or not header or not parts:
        return None
    width, height, *layout = struct.unpack(">IIBBBBB", header)
    if tuple(layout) != _PLAIN_HEADER or not 0 < width * height <= max_pixels:
        return None
    image_data = b"".join(parts)
    return PlainPng(header, image_data) if _rows_intact(image_data, width, height) else None


def _rows_intact(image_data: bytes, width: int, height: int) -> bool:
    """The zlib stream inflates, checksum verified, to exactly `height` rows of a filter byte
    (0-4) and `width` RGB pixels."""
    row = 1 + 3 * width
    inflater = zlib.decompressobj()
    try:
        rows = inflater.decompress(image_data, row * height + 1)
    except zlib.error:
        return False
    if len(rows) != row * height or not inflater.eof or inflater.unused_data:
        return False
    return int(np.frombuffer(rows, np.uint8)[::row].max()) <= 4


def _chunk(handle: BinaryIO, kind: bytes, body: bytes) -> None:
    handle.write(struct.pack(">I", len(body)) + kind)
    handle.write(body)
    handle.write(struct.pack(">I", zlib.crc32(body, zlib.crc32(kind))))


@cache
def _icc_chunk() -> bytes:
    """The sRGB profile as an iCCP chunk body, as Pillow writes it."""
    return b"ICC Profile\0\0" + zlib.compress(_srgb_icc())


def write_plain_png(png: PlainPng, provenance: dict, handle: BinaryIO) -> None:
    """The published PNG from a plain PNG's own image data: its header and pixels, the sRGB
    profile and the XMP provenance (an uncompressed iTXt chunk, as `write_png` writes it)."""
    xmp = XMP_KEY.encode("latin-1") + b"\0\0\0\0\0" + xmp_packet(provenance).encode("utf-8")
    handle.write(_PNG_SIGNATURE)
    for kind, body in (
        (b"IHDR", png.header),
        (b"iCCP", _icc_chunk()),
        (b"iTXt", xmp),
        (b"IDAT", png.image_data),
        (b"IEND", b""),
    ):
        _chunk(handle, kind, body)


def _reusable_png(path: Path, row: dict) -> PlainPng | None:
    """The delivered file as a plain PNG, when it may be published as it is: no healing
    correction was kept (the rule of `gates.week.final_pixels`) and it is a plain PNG."""
    if any(action.get("passed") for action in json.loads(row["heal_actions"])):
        return None
    try:
        with open_regular_file(path) as handle:
            signature = handle.read(len(_PNG_SIGNATURE))
            if signature != _PNG_SIGNATURE:
                return None  # not a PNG: read no further
            data = signature + handle.read()
    except OSError:
        return None  # decoded instead, which says what is wrong with the file
    return plain_png(data, MAX_IMAGE_PIXELS)


class Signer(Protocol):
    """Embeds a signed C2PA manifest (`provenance.c2pa_io.C2paSigner`)."""

    @property
    def key(self) -> str:
        """Identifies the signing certificate (a new one signs every image again)."""
        ...

    def sign(self, data: bytes, mime: str, claim: Claim) -> bytes: ...


def signing_input_sha256(
    unsigned_sha256: str, claim: Claim, signer_key: str, mime: str = PNG_MIME
) -> str:
    """The hash of everything a signature covers but its random parts: the unsigned file, the
    manifest definition and ingredients, and the signing certificate."""
    content = [unsigned_sha256, claim.digest(mime), signer_key]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


def _encoded(encode: Encoder) -> bytes:
    buffer = io.BytesIO()
    encode(cast(BinaryIO, buffer))
    return buffer.getvalue()


def _kept_publication(
    previous: dict | None, input_sha256: str, folder: Path, sidecar: bytes
) -> Published | None:
    """The previous publication of an artifact, when it was signed from the same input and its
    file is in place with its recorded hash (its sidecar rewritten if that changed)."""
    if not previous or previous.get("c2pa_input_sha256") != input_sha256:
        return None
    path, digest = previous.get("output_path"), previous.get("output_sha256")
    if not path or not digest:
        return None
    image = Path(path)
    expected = f"{published_stem(previous['artifact_id'], previous['attempt'], digest)}"
    if image.parent.resolve() != folder.resolve() or image.name != expected + IMAGE_SUFFIX:
        return None
    if not image.is_file() or sha256_file(image) != digest:
        return None
    return Published(image, _write_sidecar(folder, image, sidecar), digest, sha256_bytes(sidecar))


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
    # The delivered file: an artifact without a kept healing correction whose file is already
    # a plain PNG (`plain_png`) is published from its own compressed image data, not decoded
    # and encoded again. None: every image is decoded and encoded.
    source: Callable[[dict], Path] | None = None
    # Every published image is signed: the signer, and a row's master file (the manifest's
    # ingredient).
    signer: Signer = field(kw_only=True)
    master: Callable[[dict], Path] = field(kw_only=True)
    # The week's previous records by (artifact_id, attempt): a file signed from the same input
    # (`c2pa_input_sha256`) is kept as it is.
    previous: dict[tuple, dict] = field(default_factory=dict, kw_only=True)


def read_master(path: Path) -> bytes | None:
    """A master's bytes (the manifest's ingredient), None when it can no longer be read."""
    try:
        with open_regular_file(path) as handle:
            return handle.read()
    except OSError:
        return None


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
        key = (row["artifact_id"], row["attempt"])
        facts = provenance(row, plan.gates_of.get(key, []))
        plain = _reusable_png(plan.source(row), row) if plan.source is not None else None
        if plain is not None:
            encode: Encoder = partial(write_plain_png, plain, facts)
        else:
            pixels = plan.pixels(row)
            if pixels is None:
                return record | {"hold_reason": "image no longer decodes: not published"}
            encode = partial(write_png, pixels, facts)
        master_path = plan.master(row)
        master = read_master(master_path)
        if master is None:
            return record | {"hold_reason": "master no longer readable: not published"}
        unsigned = _encoded(encode)
        title = f"{safe_stem(row['artifact_id'], row['attempt'])}{IMAGE_SUFFIX}"
        claim = publication_claim(facts, title, master_ingredient(master_path.name, master))
        unsigned_sha256 = sha256_bytes(unsigned)
        input_sha256 = signing_input_sha256(unsigned_sha256, claim, plan.signer.key)
        sidecar = sidecar_json(facts)
        folder = week_folder(outputs_root, week)
        published = _kept_publication(
            plan.previous.get(key), input_sha256, folder, sidecar
        ) or publish_files(
            outputs_root,
            week,
            row["artifact_id"],
            row["attempt"],
            plan.signer.sign(unsigned, PNG_MIME, claim),
            sidecar,
        )
        return record | {
            "output_path": str(published.image),
            "sidecar_path": str(published.sidecar),
            "output_sha256": published.image_sha256,
            "sidecar_sha256": published.sidecar_sha256,
            "unsigned_sha256": unsigned_sha256,
            "c2pa_input_sha256": input_sha256,
        }

    # PNG encoding (zlib) and decoding release the GIL: one thread per core.
    with ThreadPoolExecutor(max_workers=available_cores()) as pool:
        return list(pool.map(one, rows))
