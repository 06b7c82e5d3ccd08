"""Ingest's cheap PNG check (`ingest.png_check`) never disagrees with a full decode: whatever
it proves decodable, Pillow decodes; whatever it does not prove is fully decoded, so the
answer (and the refusal's reason) is `decode_problem`'s, on every fuzz case."""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from retouch_assets.ingest.landing import decode_error
from retouch_assets.ingest.png_check import image_proven_decodable
from retouch_assets.quality.decode import decode_problem, open_image
from tests.test_fuzz_images import _SEEDS, DECODABLE, UNDECODABLE, _png_chunk

EXAMPLES = int(os.environ.get("RETOUCH_FUZZ_EXAMPLES", "60"))
_RNG = np.random.default_rng(11)


def _proven(path: Path) -> bool:
    with open_image(path) as image:
        return image_proven_decodable(image)


def _plain_png(pixels: np.ndarray, idat_sizes: int = 1 << 30) -> bytes:
    """A PNG as Pillow writes it, its image data split into IDAT chunks of `idat_sizes`."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    return _rechunk(data, idat_sizes)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    found, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        found.append((kind, data[position + 8 : position + 8 + length]))
        position += 12 + length
    return found


def _assemble(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return data_signature() + b"".join(_png_chunk(kind, body) for kind, body in chunks)


def data_signature() -> bytes:
    return b"\x89PNG\r\n\x1a\n"


def _rechunk(data: bytes, size: int) -> bytes:
    chunks = _chunks(data)
    stream = b"".join(body for kind, body in chunks if kind == b"IDAT")
    head = [c for c in chunks if c[0] not in (b"IDAT", b"IEND")]
    idat = [(b"IDAT", stream[i : i + size]) for i in range(0, len(stream), size)]
    return _assemble([*head, *idat, (b"IEND", b"")])


def _image_data(rows: bytes) -> bytes:
    """An RGB 8×4 PNG whose inflated image data is `rows` (filter bytes included)."""
    header = struct.pack(">IIBBBBB", 8, 4, 8, 2, 0, 0, 0)
    return _assemble([(b"IHDR", header), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")])


_ROW = bytes(8 * 3)


@pytest.mark.parametrize("name", sorted(DECODABLE) + sorted(UNDECODABLE))
def test_every_fuzz_file_gets_the_full_decodes_answer(tmp_path, name):
    make = DECODABLE[name][0] if name in DECODABLE else UNDECODABLE[name]
    path = tmp_path / name
    path.write_bytes(make())
    assert decode_error(path) == decode_problem(path)


@pytest.mark.parametrize("colour", ["RGB", "RGBA", "L", "LA", "P", "I;16"])
@pytest.mark.parametrize("idat", [1 << 30, 97])  # one IDAT chunk, or many small ones
def test_plain_pngs_are_proven_without_decoding(tmp_path, colour, idat):
    pixels = _RNG.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(colour) if colour != "I;16" else None
    if image is None:
        image = Image.fromarray(_RNG.integers(0, 65535, (37, 53), dtype=np.uint16))
    path = tmp_path / "plain.png"
    path.write_bytes(_rechunk(_save(image), idat))
    assert _proven(path)
    assert decode_error(path) is None and decode_problem(path) is None


def _save(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# Files Pillow decodes, or refuses, that the check must not prove: the full decode answers.
NOT_PROVEN = {
    "unknown-filter": _image_data((b"\x05" + _ROW) + (b"\x00" + _ROW) * 3),
    "short-rows": _image_data((b"\x00" + _ROW) * 3),
    "long-rows": _image_data((b"\x00" + _ROW) * 5),
    "trailing-data": _image_data((b"\x00" + _ROW) * 4)[:-12]
    + _png_chunk(b"IDAT", b"junk")
    + _png_chunk(b"IEND", b""),
    "no-iend": _image_data((b"\x00" + _ROW) * 4)[:-12],
    "broken-zlib": _assemble(
        [
            (b"IHDR", struct.pack(">IIBBBBB", 8, 4, 8, 2, 0, 0, 0)),
            (b"IDAT", zlib.compress((b"\x00" + _ROW) * 4)[:-7] + b"\xff" * 7),
            (b"IEND", b""),
        ]
    ),
    "interlaced": _assemble(
        [
            (b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 1)),
            (b"IDAT", zlib.compress(b"\x00\x80")),
            (b"IEND", b""),
        ]
    ),
    "text-after-data": _image_data((b"\x00" + _ROW) * 4)[:-12]
    + _png_chunk(b"tEXt", b"k\x00v")
    + _png_chunk(b"IEND", b""),
}


@pytest.mark.parametrize("name", sorted(NOT_PROVEN))
def test_anything_unusual_is_left_to_the_full_decode(tmp_path, name):
    path = tmp_path / f"{name}.png"
    path.write_bytes(NOT_PROVEN[name])
    assert not _proven(path)
    assert decode_error(path) == decode_problem(path)


def test_a_bad_image_data_crc_is_not_proven_but_pillow_still_decodes_it(tmp_path):
    data = bytearray(_plain_png(_RNG.integers(0, 255, (9, 7, 3), dtype=np.uint8)))
    data[-16] ^= 0xFF  # the last byte of the IDAT chunk's CRC (IEND's chunk is 12 bytes)
    path = tmp_path / "crc.png"
    path.write_bytes(bytes(data))
    assert not _proven(path)
    assert decode_error(path) is None and decode_problem(path) is None


def test_an_unknown_filter_keeps_pillows_reason(tmp_path):
    path = tmp_path / "filter.png"
    path.write_bytes(NOT_PROVEN["unknown-filter"])
    reason = decode_error(path)
    assert reason is not None and reason == decode_problem(path)


@pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")
@settings(
    max_examples=EXAMPLES * 3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    idat=st.sampled_from([1 << 30, 50, 7]),
    cut=st.one_of(st.none(), st.floats(0, 1)),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), max_size=6),
    fix_crcs=st.booleans(),
)
def test_corrupted_pngs_get_the_full_decodes_answer(tmp_path, idat, cut, flips, fix_crcs):
    """Bits flipped anywhere, the file cut anywhere; with `fix_crcs` every chunk's CRC is
    recomputed after the damage, so that the damage reaches zlib and the row filters."""
    data = bytearray(_rechunk(_SEEDS["PNG"], idat))
    for where, mask in flips:
        data[8 + int(where * (len(data) - 8))] ^= mask
    if fix_crcs:
        try:
            data = bytearray(_assemble(_chunks(bytes(data))))
        except struct.error:
            pass
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / "fuzz.png"
    path.write_bytes(bytes(data))
    expected = decode_problem(path)
    assert decode_error(path) == expected
    try:
        proven = _proven(path)
    except Exception:  # Image.open refused it: never reaches the check
        proven = False
    if proven:
        assert expected is None
