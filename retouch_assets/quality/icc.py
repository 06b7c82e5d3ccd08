"""Minimal ICC v2 matrix/TRC profiles with the sRGB transfer curve (Display P3), built from
primaries.

Pillow ships no ICC files, and real producers embed Display P3 or Adobe RGB profiles: this lets
the sample and the tests make such images without downloading anything.
"""

import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
DISPLAY_P3 = {"r": (0.680, 0.320), "g": (0.265, 0.690), "b": (0.150, 0.060), "w": (0.3127, 0.3290)}


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def rgb_to_xyz_matrix(primaries: dict[str, tuple[float, float]]) -> np.ndarray:
    """Linear RGB -> XYZ under the primaries' own white."""
    columns = np.stack([_xyz(primaries[c]) for c in "rgb"], axis=1)
    scale = np.linalg.solve(columns, _xyz(primaries["w"]))
    return columns * scale


def _adapt_to_d50(matrix: np.ndarray, white: np.ndarray) -> np.ndarray:
    cone_src, cone_dst = _BRADFORD @ white, _BRADFORD @ D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return adapt @ matrix


def srgb_transfer_encode(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def srgb_transfer_decode(encoded: np.ndarray) -> np.ndarray:
    c = np.asarray(encoded, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _s15(value: float) -> bytes:
    return struct.pack(">i", int(round(value * 65536)))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    body = b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text
    return body + b"\0" * 8 + b"\0" * 3 + b"\0" * 67  # no Unicode, no ScriptCode


def _text_tag(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


def _curve_tag(samples: int = 1024) -> bytes:
    """The sRGB transfer curve as a sampled table (curveType)."""
    table = srgb_transfer_decode(np.linspace(0.0, 1.0, samples))
    values = np.round(table * 65535).astype(">u2").tobytes()
    return b"curv" + b"\0" * 4 + struct.pack(">I", samples) + values


def matrix_trc_profile(description: str, primaries: dict[str, tuple[float, float]]) -> bytes:
    """An ICC v2 display profile with the sRGB transfer curve and the given primaries."""
    colorants = _adapt_to_d50(rgb_to_xyz_matrix(primaries), _xyz(primaries["w"]))
    curve = _curve_tag()
    tags = [
        (b"desc", _desc_tag(description)),
        (b"cprt", _text_tag("No copyright, built by retouch_assets")),
        (b"wtpt", _xyz_tag(D50)),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        padded = body + b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += padded
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 4  # platform
        + b"\0" * 4  # flags
        + b"\0" * 8  # manufacturer, model
        + b"\0" * 8  # attributes
        + struct.pack(">I", 0)  # perceptual intent
        + b"".join(_s15(v) for v in D50)
        + b"\0" * 4  # creator
        + b"\0" * 16  # profile id
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def encode_in_profile(srgb8: np.ndarray, primaries: dict[str, tuple[float, float]]) -> np.ndarray:
    """Re-express 8-bit sRGB pixels in another RGB space (same white, sRGB curve): what a
    producer working in that space would save, before tagging it with its profile."""
    linear = srgb_transfer_decode(srgb8 / 255.0)
    to_target = np.linalg.solve(
        rgb_to_xyz_matrix(primaries), rgb_to_xyz_matrix({**primaries, **_SRGB})
    )
    converted = linear @ to_target.T
    return np.clip(np.rint(srgb_transfer_encode(converted) * 255.0), 0, 255).astype(np.uint8)


_SRGB = {"r": (0.640, 0.330), "g": (0.300, 0.600), "b": (0.150, 0.060)}
