"""Decode any image to 8-bit sRGB the same way every time: EXIF orientation applied, embedded
ICC profiles converted to sRGB (relative colorimetric), alpha composited over a fixed
background, 16-bit and palette images reduced to 8-bit RGB.

Image files are untrusted input. Before any pixel is decoded:

- the file is opened without blocking and must be a regular file (a FIFO, device, socket or
  directory is refused: reading a FIFO would wait forever);
- its content, not its extension, picks the decoder, among `DECODABLE_FORMATS` only (no
  EPS/PDF, which would start Ghostscript, nor the many exotic Pillow plugins);
- the size its header declares must be at most `MAX_IMAGE_PIXELS`, so a small file that
  declares a huge canvas (a decompression bomb) is refused before memory is allocated for it.
  Pillow's own guard (`PIL.Image.MAX_IMAGE_PIXELS`, left at its default) refuses more than
  twice its limit inside `Image.open`; both refusals come back as a decode error.

Animated images (GIF, WebP, APNG) are measured on their first frame. Anything that goes wrong
while decoding an untrusted file (Pillow raises OSError, SyntaxError, ValueError, EOFError,
struct.error, ZeroDivisionError, MemoryError, DecompressionBombError, and with warnings turned
into errors DecompressionBombWarning) is reported as a decode error, never raised as is.
"""

import io
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

DEFAULT_BACKGROUND = (255, 255, 255)

# The largest image decoded, in pixels (width × height of the first frame): 80 MP is above any
# marketing master (an 8K × 8K canvas is 67 MP) and keeps one decode at most ~0.3 GB for 8-bit
# RGBA (~0.6 GB as float64 for 16-bit grey, which `_to_8bit` widens).
MAX_IMAGE_PIXELS = 80_000_000
# Pillow warns from 89 MP on (above our limit): every image it would warn about is refused by
# `open_image` from its header, so its warning would only repeat that on stderr. A filter, not
# `catch_warnings`, because images are opened on several threads at once.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning, module="PIL.Image")

# The container formats accepted, as Pillow names them; the file's content decides which.
# (Pillow's JPEG decoder also reads JPEG files with a multi-picture extension, MPO.)
DECODABLE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP")

_MAX_MESSAGE_CHARS = 500


class DecodeError(ValueError):
    """The file cannot be turned into sRGB pixels; the message says why."""


class NotARegularFile(OSError):
    """The path names a directory, FIFO, socket or device: nothing to decode, never opened."""


class ImageTooLarge(ValueError):
    """The image declares more than MAX_IMAGE_PIXELS pixels."""


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_kind(mode: int) -> str:
    """What a non-regular `st_mode` names, for messages: "a directory", "a FIFO (named pipe)"..."""
    return next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")


def open_regular_file(path: str | os.PathLike) -> BinaryIO:
    """Open `path` for reading in binary mode if it is a regular file; NotARegularFile if not.

    The file is opened non-blocking and checked with fstat on the open descriptor, so a FIFO
    swapped in after an earlier check cannot block the reader either."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"{Path(path).name} is {file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def open_image(path: str | os.PathLike) -> Iterator[Image.Image]:
    """Open an untrusted image file with every check of the module docstring; nothing is
    decoded yet (call `load()`)."""
    with (
        open_regular_file(path) as stream,
        Image.open(stream, formats=DECODABLE_FORMATS) as image,
    ):
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageTooLarge(f"declares an empty canvas ({width}×{height})")
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(
                f"declares {width}×{height} = {width * height} pixels "
                f"(at most {MAX_IMAGE_PIXELS}); refused before decoding"
            )
        yield image


def describe_failure(exc: BaseException) -> str:
    """`Type: message`, bounded, for an exception raised while decoding an untrusted file."""
    if isinstance(exc, UnidentifiedImageError):
        formats = ", ".join(DECODABLE_FORMATS)
        return f"{type(exc).__name__}: not an image in a supported format ({formats})"
    message = str(exc).strip()
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def decode_problem(path: str | os.PathLike) -> str | None:
    """Why the image at `path` cannot be opened and fully decoded (its first frame), or None
    when it can. Never raises an Exception for any file content."""
    try:
        with open_image(path) as image:
            image.load()
    except Exception as exc:  # an untrusted-input boundary: every failure is an answer
        return describe_failure(exc)
    return None


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


def _embedded_profile(icc: bytes) -> tuple[ImageCms.ImageCmsProfile, str]:
    """An embedded ICC profile and its description; DecodeError when it cannot be read."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return source, ImageCms.getProfileDescription(source).strip()
    except (OSError, ImageCms.PyCMSError) as exc:
        raise DecodeError(f"embedded ICC profile cannot be read: {exc}") from None


def _convert_to_srgb(
    image: Image.Image, source: ImageCms.ImageCmsProfile, profile_name: str, working_mode: str
) -> Image.Image:
    """`image` converted from its embedded profile to sRGB (relative colorimetric)."""
    if image.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        image = image.convert(working_mode)
    try:
        converted = ImageCms.profileToProfile(
            image,
            source,
            _srgb_profile(),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode=working_mode if image.mode != "CMYK" else "RGB",
        )
    except ImageCms.PyCMSError as exc:
        raise DecodeError(f"ICC conversion from '{profile_name}' failed: {exc}") from None
    assert converted is not None  # profileToProfile returns None only when converting in place
    return converted


def to_srgb8(
    image: Image.Image, background: tuple[int, int, int] = DEFAULT_BACKGROUND
) -> DecodedImage:
    """Convert an open Pillow image; see the module docstring for the rules."""
    # In place: an image without an EXIF rotation is not copied (the pixels are the same).
    ImageOps.exif_transpose(image, in_place=True)
    icc = image.info.get("icc_profile")
    image = _to_8bit(image)
    had_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    profile = _embedded_profile(icc) if icc else None
    profile_name = profile[1] if profile is not None else None
    working_mode = "RGBA" if had_alpha else "RGB"
    if profile is not None and not _is_srgb(profile[1]):
        image = _convert_to_srgb(image, *profile, working_mode)
    if had_alpha:
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        image = Image.alpha_composite(base, rgba)
    pixels = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    return DecodedImage(np.ascontiguousarray(pixels), profile_name, had_alpha)


def decode_srgb8(path: Path, background: tuple[int, int, int] = DEFAULT_BACKGROUND) -> DecodedImage:
    """Open, fully decode and convert an image file to 8-bit sRGB; DecodeError if it cannot
    (see the module docstring for what is refused)."""
    try:
        with open_image(path) as image:
            image.load()
            return to_srgb8(image, background)
    except DecodeError:
        raise
    except Exception as exc:  # an untrusted-input boundary: every failure is a DecodeError
        raise DecodeError(f"{Path(path).name}: {describe_failure(exc)}") from None
