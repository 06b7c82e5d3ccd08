"""Decode any image to 8-bit sRGB the same way every time: EXIF orientation applied, embedded
ICC profiles converted to sRGB (relative colorimetric), alpha composited over a fixed
background, 16-bit and palette images reduced to 8-bit RGB."""

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

DEFAULT_BACKGROUND = (255, 255, 255)


class DecodeError(ValueError):
    """The file cannot be turned into sRGB pixels; the message says why."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # (H, W, 3) uint8, sRGB
    profile: str | None  # description of the embedded ICC profile that was converted, if any
    had_alpha: bool


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _is_srgb(description: str) -> bool:
    return "srgb" in description.lower().replace(" ", "")


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(values / peak * 255.0), 0, 255).astype(np.uint8))
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8))
    return image


def to_srgb8(
    image: Image.Image, background: tuple[int, int, int] = DEFAULT_BACKGROUND
) -> DecodedImage:
    """Convert an open Pillow image; see the module docstring for the rules."""
    image = ImageOps.exif_transpose(image)
    icc = image.info.get("icc_profile")
    image = _to_8bit(image)
    had_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    profile_name = None
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            profile_name = ImageCms.getProfileDescription(source).strip()
        except (OSError, ImageCms.PyCMSError) as exc:
            raise DecodeError(f"embedded ICC profile cannot be read: {exc}") from None
    working_mode = "RGBA" if had_alpha else "RGB"
    if profile_name is not None and not _is_srgb(profile_name):
        if image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
            image = image.convert(working_mode)
        try:
            image = ImageCms.profileToProfile(
                image,
                source,
                _srgb_profile(),
                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                outputMode=working_mode if image.mode != "CMYK" else "RGB",
            )
        except ImageCms.PyCMSError as exc:
            raise DecodeError(f"ICC conversion from '{profile_name}' failed: {exc}") from None
    else:
        profile_name = profile_name if profile_name is not None else None
    if had_alpha:
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        image = Image.alpha_composite(base, rgba)
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return DecodedImage(np.ascontiguousarray(pixels), profile_name, had_alpha)


def decode_srgb8(path: Path, background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> DecodedImage:
    """Open, fully decode and convert an image file to 8-bit sRGB; DecodeError if it cannot."""
    try:
        with Image.open(path) as image:
            image.load()
            return to_srgb8(image, background)
    except DecodeError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"{Path(path).name}: {type(exc).__name__}: {exc}") from None
