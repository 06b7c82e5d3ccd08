"""Prove that a plain PNG decodes, without decoding it.

Ingest must refuse every image whose first frame does not decode (`quality.decode`), which
used to cost a full Pillow decode of every upload: inflate, then unfilter every row and unpack
it into image memory. For a PNG, the part that can fail is the first: Pillow's PNG decoder
(`ZipDecode`) fails only when the zlib stream is broken or ends early, or when a row starts
with an unknown filter type (> 4); unfiltering known filter types cannot fail. So for a
*plain* PNG this module inflates the image data with zlib (no unfiltering, no image memory,
in bounded pieces, the GIL released) and checks exactly that, plus more than Pillow does.

It answers only "proven decodable" or "not proven": the caller then decodes with Pillow as
before, which gives the exact same refusal (or acceptance) as ever. A file is proven only when
all of these hold, each one stricter than what Pillow's `load()` needs:

- Pillow opened it as PNG (every chunk before the image data already read, CRC-checked and
  interpreted by `Image.open`, with every size check of `open_image`);
- IHDR: bit depth 8 (colour types 0, 2, 3, 4, 6) or 16 (0, 2, 4, 6), compression 0, filter
  method 0, not interlaced; no APNG chunk (acTL/fcTL/fdAT) before the image data;
- the image data is a run of IDAT chunks, every one complete with a correct CRC, followed by
  an IEND chunk of length 0;
- the concatenated data is one zlib stream that ends (adler32 checked by zlib) exactly after
  `height × (1 + row bytes)` bytes, with nothing after it, and every row's filter byte ≤ 4.

A PNG that fails any of these may still decode (Pillow ignores IDAT CRCs and trailing data,
and reads ancillary chunks after the image data with their own rules): the full decode
decides. `tests/test_png_check.py` checks that a proof always agrees with a full decode.
"""

import struct
import zlib
from typing import IO

import numpy as np
from PIL import Image, ImageFile

# Bit depth -> the colour types proven; and samples per pixel of each colour type.
_PROVEN = {8: frozenset({0, 2, 3, 4, 6}), 16: frozenset({0, 2, 4, 6})}
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_APNG = frozenset({b"acTL", b"fcTL", b"fdAT"})
_MAX_FILTER = 4
# Bounds on what one step holds: compressed bytes read at once, inflated bytes produced at once.
_READ = 1 << 20
_INFLATE = 1 << 22


def _chunk_header(stream: IO[bytes]) -> tuple[int, bytes] | None:
    header = stream.read(8)
    if len(header) != 8:
        return None
    length, kind = struct.unpack(">I4s", header)
    return length, kind


def _ihdr(stream: IO[bytes]) -> tuple[int, int, int] | None:
    """(width, height, row bytes) of a plain PNG's IHDR, or None when it is not one."""
    stream.seek(0)
    head = stream.read(8 + 8 + 13)
    if len(head) != 29 or head[:8] != _SIGNATURE or head[8:16] != b"\x00\x00\x00\x0dIHDR":
        return None
    width, height, depth, colour, compression, method, interlace = struct.unpack(
        ">IIBBBBB", head[16:29]
    )
    if colour not in _PROVEN.get(depth, ()) or (compression, method, interlace) != (0, 0, 0):
        return None
    return width, height, width * _SAMPLES[colour] * depth // 8


def _no_apng_before(stream: IO[bytes], data_start: int) -> bool:
    """No APNG chunk among the chunks before the one whose data starts at `data_start`."""
    position = 8
    while position + 8 < data_start:
        stream.seek(position)
        header = _chunk_header(stream)
        if header is None or header[1] in _APNG:
            return False
        position += 12 + header[0]
    return position + 8 == data_start


class _Rows:
    """Counts inflated bytes and checks the filter byte that starts each row."""

    def __init__(self, stride: int, expected: int):
        self.stride, self.expected, self.seen = stride, expected, 0

    def take(self, piece: bytes) -> bool:
        if self.seen + len(piece) > self.expected:
            return False
        if piece:
            first = (-self.seen) % self.stride
            filters = np.frombuffer(piece, dtype=np.uint8)[first :: self.stride]
            if filters.size and int(filters.max()) > _MAX_FILTER:
                return False
        self.seen += len(piece)
        return True


def _inflate(stream: IO[bytes], length: int, inflater, rows: _Rows, crc: int) -> int | None:
    """Inflate one IDAT chunk's data (`length` bytes at the stream's position); its CRC, or
    None when the data is short or does not inflate into whole, valid rows."""
    left = length
    while left:
        data = stream.read(min(left, _READ))
        if not data:
            return None
        left -= len(data)
        crc = zlib.crc32(data, crc)
        try:
            while data:
                if inflater.eof:  # data after the end of the zlib stream
                    return None
                if not rows.take(inflater.decompress(data, _INFLATE)):
                    return None
                data = inflater.unconsumed_tail
        except zlib.error:
            return None
    return crc


def image_proven_decodable(image: Image.Image) -> bool:
    """Whether `image`, just opened by Pillow (nothing decoded yet), is a PNG proven to decode
    (see the module docstring). The file's position is left where Pillow had it."""
    if not isinstance(image, ImageFile.ImageFile) or image.format != "PNG":
        return False
    if len(image.tile) != 1 or image.fp is None:
        return False
    stream = image.fp
    position = stream.tell()
    try:
        width, height = image.size
        return png_proven_decodable(stream, width, height, image.tile[0].offset)
    finally:
        stream.seek(position)  # should the caller decode after all


def png_proven_decodable(stream: IO[bytes], width: int, height: int, data_start: int) -> bool:
    """Whether the PNG in `stream` (opened by Pillow as `width` × `height`, its image data
    starting at byte `data_start`: the first tile's offset) is proven to decode (see the
    module docstring). Reads the stream from where it needs; never raises for any content."""
    try:
        return _proven(stream, width, height, data_start)
    except (OSError, ValueError, struct.error, OverflowError, MemoryError):
        return False


def _proven(stream: IO[bytes], width: int, height: int, data_start: int) -> bool:
    ihdr = _ihdr(stream)
    if ihdr is None or ihdr[:2] != (width, height) or not _no_apng_before(stream, data_start):
        return False
    stride = ihdr[2] + 1
    rows, inflater = _Rows(stride, height * stride), zlib.decompressobj()
    stream.seek(data_start - 8)
    header = _chunk_header(stream)
    while header is not None and header[1] == b"IDAT":
        crc = _inflate(stream, header[0], inflater, rows, zlib.crc32(b"IDAT"))
        stored = stream.read(4)
        if crc is None or len(stored) != 4 or struct.unpack(">I", stored)[0] != crc:
            return False
        header = _chunk_header(stream)
    return (
        header == (0, b"IEND")
        and inflater.eof
        and not inflater.unused_data
        and rows.seen == rows.expected
    )
