"""Resizing and encoding one rendition: Pillow's AVIF, WebP and JPEG encoders with the sRGB
profile (the same bytes as the published PNG's, `gates.publish._srgb_icc`) and the XMP
provenance packet embedded."""

import io
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from retouch_assets.gates.publish import _srgb_icc
from retouch_assets.vocabulary import RenditionFormat

MIME = {
    RenditionFormat.AVIF: "image/avif",
    RenditionFormat.WEBP: "image/webp",
    RenditionFormat.JPEG: "image/jpeg",
}
SUFFIX = {
    RenditionFormat.AVIF: ".avif",
    RenditionFormat.WEBP: ".webp",
    RenditionFormat.JPEG: ".jpg",
}


@dataclass(frozen=True)
class EncoderSettings:
    """Encoder effort, chosen from `retouch bench renditions` (see docs/renditions.md)."""

    avif_speed: int = 8  # libavif 0 (slowest, smallest) .. 10
    webp_method: int = 4  # libwebp 0 (fastest) .. 6


DEFAULT_SETTINGS = EncoderSettings()


def target_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """(width, height) at `target_width`, aspect kept, never larger than the source."""
    w = min(target_width, width)
    return w, max(1, round(height * w / width))


def resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """8-bit sRGB pixels at `size` (width, height) with Lanczos; the same array when equal."""
    if (pixels.shape[1], pixels.shape[0]) == size:
        return pixels
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))


@cache
def _xmp_bytes(xmp: str) -> bytes:
    return xmp.encode("utf-8")


def encode(
    pixels: np.ndarray,
    fmt: RenditionFormat,
    quality: int,
    xmp: str,
    settings: EncoderSettings = DEFAULT_SETTINGS,
) -> bytes:
    """One rendition's bytes: `pixels` (8-bit sRGB) at `quality`, the sRGB profile and `xmp`
    embedded."""
    image = Image.fromarray(pixels)
    out = io.BytesIO()
    common = {"icc_profile": _srgb_icc(), "xmp": _xmp_bytes(xmp), "quality": quality}
    if fmt == RenditionFormat.JPEG:
        image.save(out, format="JPEG", optimize=True, progressive=True, **common)
    elif fmt == RenditionFormat.WEBP:
        image.save(out, format="WEBP", method=settings.webp_method, **common)
    else:
        # One thread per encode: images are encoded in parallel, one per worker thread.
        image.save(out, format="AVIF", speed=settings.avif_speed, max_threads=1, **common)
    return out.getvalue()


def decode(data: bytes) -> np.ndarray:
    """The encoded rendition's 8-bit RGB pixels (its embedded profile is sRGB)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
