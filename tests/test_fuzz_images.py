"""Hostile and unusual image files: every one is decoded or refused with a reason, none crashes
the ingest check (`decode_error`) or the quality decode (`decode_srgb8`), and a decompression
bomb is refused from its header, before any pixel memory is allocated."""

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from retouch_assets.ingest.landing import decode_error
from retouch_assets.quality.decode import MAX_IMAGE_PIXELS, DecodeError, decode_srgb8

# Examples of the corruption property; raise it for a deeper run (see test_fuzz_manifest.py).
EXAMPLES = int(os.environ.get("RETOUCH_FUZZ_EXAMPLES", "60"))
_RNG = np.random.default_rng(7)
_RGB = _RNG.integers(0, 255, (24, 32, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(
    width: int, height: int, rows: bytes, *, bit_depth: int = 8, colour: int = 2
) -> bytes:
    """A PNG written by hand: the header may declare any size, whatever the pixel data holds."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _save(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **params)
    return buffer.getvalue()


def _frames() -> list[Image.Image]:
    return [Image.fromarray(_RNG.integers(0, 255, (24, 32, 3), dtype=np.uint8)) for _ in range(3)]


def _rgb16_png() -> bytes:
    rows = b"".join(b"\x00" + bytes(range(32 * 6)) for _ in range(24))  # filter 0, 16-bit RGB
    return png_bytes(32, 24, rows, bit_depth=16, colour=2)


def _la16_png() -> bytes:
    rows = b"".join(b"\x00" + bytes(range(32 * 4)) for _ in range(24))
    return png_bytes(32, 24, rows, bit_depth=16, colour=4)


RGB = Image.fromarray(_RGB)

# (file name, bytes, expected (H, W) of the decoded first frame)
DECODABLE = {
    "cmyk.jpg": (lambda: _save(RGB.convert("CMYK"), format="JPEG"), (24, 32)),
    "cmyk.tif": (lambda: _save(RGB.convert("CMYK"), format="TIFF"), (24, 32)),
    "grey16.png": (
        lambda: _save(
            Image.fromarray(_RNG.integers(0, 65535, (24, 32), dtype=np.uint16)), format="PNG"
        ),
        (24, 32),
    ),
    "rgb16.png": (_rgb16_png, (24, 32)),
    "la16.png": (_la16_png, (24, 32)),
    "palette.png": (lambda: _save(RGB.convert("P"), format="PNG"), (24, 32)),
    "palette-transparent.gif": (
        lambda: _save(RGB.convert("P"), format="GIF", transparency=0),
        (24, 32),
    ),
    "la.png": (lambda: _save(RGB.convert("LA"), format="PNG"), (24, 32)),
    "bilevel.png": (lambda: _save(RGB.convert("1"), format="PNG"), (24, 32)),
    "rgba.webp": (lambda: _save(RGB.convert("RGBA"), format="WEBP", lossless=True), (24, 32)),
    "animated.gif": (
        lambda: _save(_frames()[0], format="GIF", save_all=True, append_images=_frames()[1:]),
        (24, 32),
    ),
    "animated.webp": (
        lambda: _save(_frames()[0], format="WEBP", save_all=True, append_images=_frames()[1:]),
        (24, 32),
    ),
    "animated.png": (  # APNG
        lambda: _save(_frames()[0], format="PNG", save_all=True, append_images=_frames()[1:]),
        (24, 32),
    ),
    "wide.png": (
        lambda: _save(
            Image.fromarray(_RNG.integers(0, 255, (1, 100_000, 3), dtype=np.uint8)), format="PNG"
        ),
        (1, 100_000),
    ),
    "tall.png": (
        lambda: _save(
            Image.fromarray(_RNG.integers(0, 255, (100_000, 1), dtype=np.uint8)), format="PNG"
        ),
        (100_000, 1),
    ),
    "png-named.jpg": (lambda: _save(RGB, format="PNG"), (24, 32)),  # decoded by content
    "jpeg-named.png": (lambda: _save(RGB, format="JPEG"), (24, 32)),
    "bitmap.bmp": (lambda: _save(RGB, format="BMP"), (24, 32)),
}


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_unusual_but_valid_images_decode_to_8bit_srgb(tmp_path, name):
    make, shape = DECODABLE[name]
    path = tmp_path / name
    path.write_bytes(make())
    assert decode_error(path) is None
    decoded = decode_srgb8(path)
    assert decoded.pixels.shape == (*shape, 3) and decoded.pixels.dtype == np.uint8


def _truncated(fmt: str, keep: float) -> bytes:
    data = _save(RGB, format=fmt)
    return data[: int(len(data) * keep)]


UNDECODABLE = {
    "empty.png": lambda: b"",
    "one-byte.png": lambda: b"\x89",
    "truncated.png": lambda: _truncated("PNG", 0.5),
    "header-only.png": lambda: _truncated("PNG", 0.1),
    "truncated.jpg": lambda: _truncated("JPEG", 0.5),
    "truncated.webp": lambda: _truncated("WEBP", 0.5),
    "truncated.gif": lambda: _truncated("GIF", 0.5),
    "text.png": lambda: b"this is not an image\n",
    "zero-width.png": lambda: png_bytes(0, 10, b""),
    "icon.ico": lambda: _save(RGB, format="ICO"),  # a real image, not a supported format
    "document.pdf": lambda: _save(RGB, format="PDF"),
}


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_broken_images_are_refused_with_a_reason(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(UNDECODABLE[name]())
    reason = decode_error(path)
    assert isinstance(reason, str) and reason
    with pytest.raises(DecodeError, match=name):
        decode_srgb8(path)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_path_that_is_not_a_regular_file_is_never_read(tmp_path, kind):
    path = tmp_path / "x.png"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    started = time.monotonic()
    assert "not a regular file" in decode_error(path)
    with pytest.raises(DecodeError, match="not a regular file"):
        decode_srgb8(path)
    assert time.monotonic() - started < 5


def _peak_rss_of_decoding(path) -> int:
    """Peak resident memory (bytes) of a fresh process that imports the decoder and then
    tries `path`, minus that of one that only imports it: a process's peak is for life, so
    the test process (which decoded real photographs before) cannot measure this itself."""
    script = (
        "import resource, sys\n"
        "from retouch_assets.ingest.landing import decode_error\n"
        "from retouch_assets.quality.decode import decode_srgb8\n"
        "if len(sys.argv) > 1:\n"
        "    decode_error(sys.argv[1])\n"
        "    try:\n"
        "        decode_srgb8(sys.argv[1])\n"
        "    except Exception:\n"
        "        pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
    )
    peaks = [
        int(
            subprocess.run(
                [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
            ).stdout
        )
        for args in ([], [str(path)])
    ]
    return peaks[1] - peaks[0]


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (20_000, 20_000),  # 400 MP: Pillow's own guard refuses it inside Image.open
        (9_000, 9_000),  # 81 MP: under Pillow's warning threshold, over ours
        (1, MAX_IMAGE_PIXELS + 1),
    ],
)
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(width, height, b"\x00" * 1024))  # a few hundred bytes on disk
    started = time.monotonic()
    reason = decode_error(path)
    with pytest.raises(DecodeError) as refused:
        decode_srgb8(path)
    elapsed = time.monotonic() - started
    assert str(width * height) in reason and str(width * height) in str(refused.value)
    # A real decode would need width × height × 3 bytes (1.2 GB for 400 MP): the peak resident
    # memory of the process must not grow by anything near that.
    assert elapsed < 5  # refused from the header (in practice milliseconds)
    assert _peak_rss_of_decoding(path) < 64 * 1024 * 1024


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_bomb_warning_as_an_error_is_a_refusal_too(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(10_000, 10_000, b"\x00" * 1024))  # 100 MP: Pillow warns
    assert "100000000" in decode_error(path)
    with pytest.raises(DecodeError, match="100000000"):
        decode_srgb8(path)


_SEEDS = {
    fmt: _save(Image.fromarray(_RGB), format=fmt)
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP")
}


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")  # Pillow's notes on corrupt metadata
@settings(
    max_examples=EXAMPLES * 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    fmt=st.sampled_from(sorted(_SEEDS)),
    cut=st.one_of(st.none(), st.floats(0, 1)),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=8),
)
def test_corrupted_images_never_raise(tmp_path, fmt, cut, flips):
    data = bytearray(_SEEDS[fmt])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / f"fuzz.{fmt.lower()}"
    path.write_bytes(bytes(data))
    reason = decode_error(path)
    assert reason is None or isinstance(reason, str)
    try:
        decode_srgb8(path)
    except DecodeError:
        pass


def test_decoding_reads_the_content_not_the_name(tmp_path: Path):
    path = tmp_path / "really-a.gif"
    path.write_bytes(_save(RGB, format="PNG"))
    assert np.array_equal(decode_srgb8(path).pixels, _RGB)
