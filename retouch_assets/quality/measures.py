"""Histogram delta, WCAG 2.x contrast and perceptual hashes: vectorised, no per-pixel Python."""

from dataclasses import dataclass

import numpy as np

from retouch_assets.quality.icc import srgb_transfer_decode

AA_NORMAL = 4.5
AA_LARGE = 3.0
LARGE_TEXT_PX = 24.0
LARGE_BOLD_TEXT_PX = 18.66


def histogram_delta_pct(image: np.ndarray, master: np.ndarray) -> float:
    """Mean over R, G, B of the total-variation distance (½ Σ|p − q|) between the normalised
    256-bin histograms, in percent."""
    from retouch_assets.quality.delta_e import rgb_histograms

    p = rgb_histograms(image) / (image.shape[0] * image.shape[1])
    q = rgb_histograms(master) / (master.shape[0] * master.shape[1])
    return float((0.5 * np.abs(p - q).sum(axis=1)).mean() * 100.0)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def rgb_to_hex(rgb) -> str:
    return "#" + "".join(f"{int(c):02X}" for c in rgb)


def relative_luminance(rgb8: np.ndarray) -> np.ndarray:
    """WCAG 2.x relative luminance of 8-bit sRGB colours, shape (..., 3) -> (...)."""
    linear = srgb_transfer_decode(np.asarray(rgb8, dtype=np.float64) / 255.0)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def contrast_ratio(lum_a, lum_b):
    """WCAG contrast ratio (L_lighter + 0.05) / (L_darker + 0.05); works on arrays."""
    hi, lo = np.maximum(lum_a, lum_b), np.minimum(lum_a, lum_b)
    return (hi + 0.05) / (lo + 0.05)


def is_large_text(font_px: float, bold: bool) -> bool:
    """WCAG large text: at least 24 px, or 18.66 px (14 pt) bold."""
    return font_px >= LARGE_TEXT_PX or (bold and font_px >= LARGE_BOLD_TEXT_PX)


def required_ratio(
    font_px: float, bold: bool, normal: float = AA_NORMAL, large: float = AA_LARGE
) -> float:
    return large if is_large_text(font_px, bold) else normal


# Pixels this close to the text colour (contrast < 1.5:1) are taken to be glyphs or their
# anti-aliased edges, not background.
GLYPH_CONTRAST = 1.5
# The worst case over the background is a low percentile, not the minimum, so that a few
# anti-aliasing pixels that escaped the glyph mask do not decide the result.
WORST_BACKGROUND_PERCENTILE = 5.0


@dataclass(frozen=True)
class LayerContrast:
    layer_id: str
    ratio: float
    required: float
    background: str  # the background colour used (#RRGGBB), measured or declared
    measured: bool

    @property
    def passed(self) -> bool:
        return self.ratio >= self.required


def layer_contrast(
    layer: dict, image: np.ndarray | None, normal: float = AA_NORMAL, large: float = AA_LARGE
) -> LayerContrast:
    """Contrast of one text layer: against its declared `bg`, or else the worst case of the
    image's pixels under `bbox` (clipped to the image), glyph pixels excluded."""
    fg = hex_to_rgb(layer["fg"])
    fg_lum = float(relative_luminance(np.array(fg)))
    need = required_ratio(layer["font_px"], layer["bold"], normal, large)
    if layer.get("bg"):
        bg_lum = float(relative_luminance(np.array(hex_to_rgb(layer["bg"]))))
        return LayerContrast(
            layer["id"], float(contrast_ratio(fg_lum, bg_lum)), need, layer["bg"].upper(), False
        )
    if image is None:
        raise ValueError(f"layer {layer['id']} has no bg and no image to measure")
    x, y, w, h = layer["bbox"]
    region = image[max(y, 0) : max(y + h, 0), max(x, 0) : max(x + w, 0)].reshape(-1, 3)
    if region.size == 0:
        raise ValueError(f"layer {layer['id']} bbox {layer['bbox']} lies outside the image")
    ratios = contrast_ratio(fg_lum, relative_luminance(region))
    background = ratios >= GLYPH_CONTRAST
    candidates = ratios[background] if background.any() else ratios
    worst = float(np.percentile(candidates, WORST_BACKGROUND_PERCENTILE))
    pixels = region[background] if background.any() else region
    worst_pixel = pixels[
        int(np.argmin(np.abs((ratios[background] if background.any() else ratios) - worst)))
    ]
    return LayerContrast(layer["id"], worst, need, rgb_to_hex(worst_pixel), True)


def nearest_accessible_colour(fg: str, background: str, required: float) -> str:
    """The palette balancer: the text colour closest to `fg` (CIEDE2000) that reaches
    `required` against `background`, found by moving fg's lightness in CIELAB while keeping
    its hue and chroma (chroma shrinks only if the lighter/darker colour is out of gamut)."""
    from retouch_assets.quality.delta_e import delta_e_lab, srgb8_to_lab

    fg_rgb = np.array(hex_to_rgb(fg), dtype=np.uint8)
    bg_lum = float(relative_luminance(np.array(hex_to_rgb(background))))
    lab = srgb8_to_lab(fg_rgb.reshape(1, 1, 3))[0, 0]
    lightness = np.linspace(0.0, 100.0, 1001)
    chroma_scale = np.linspace(1.0, 0.0, 11)
    grid_l, grid_c = np.meshgrid(lightness, chroma_scale)
    candidates = np.stack([grid_l, lab[1] * grid_c, lab[2] * grid_c], axis=-1).reshape(-1, 3)
    rgb = _lab_to_srgb8(candidates)
    ok = contrast_ratio(relative_luminance(rgb), bg_lum) >= required
    if not ok.any():
        return "#000000" if bg_lum > 0.18 else "#FFFFFF"
    cand_rgb = rgb[ok]
    distance = delta_e_lab(
        np.broadcast_to(lab, (len(cand_rgb), 3)), srgb8_to_lab(cand_rgb.reshape(1, -1, 3))[0]
    )
    return rgb_to_hex(cand_rgb[int(np.argmin(distance))])


def _lab_to_srgb8(lab: np.ndarray) -> np.ndarray:
    from retouch_assets.quality.delta_e import D65_WHITE, SRGB_TO_XYZ
    from retouch_assets.quality.icc import srgb_transfer_encode

    fy = (lab[:, 0] + 16.0) / 116.0
    fx = fy + lab[:, 1] / 500.0
    fz = fy - lab[:, 2] / 200.0

    def inverse(f):
        return np.where(f > 6.0 / 29.0, f**3, 3 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0))

    xyz = np.stack([inverse(fx), inverse(fy), inverse(fz)], axis=-1) * D65_WHITE
    linear = xyz @ np.linalg.inv(SRGB_TO_XYZ).T
    return np.clip(np.rint(srgb_transfer_encode(linear) * 255.0), 0, 255).astype(np.uint8)


def phash_hex(pixels: np.ndarray) -> str:
    """64-bit perceptual hash (imagehash.phash) as 16 hex digits."""
    import imagehash
    from PIL import Image

    return str(imagehash.phash(Image.fromarray(pixels)))


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


# Rec. 709 luma weights on the encoded values, scaled so that luma runs 0..1.
_LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32) / 255.0


def luma(pixels: np.ndarray) -> np.ndarray:
    """Luma (Y', 0..1) of 8-bit sRGB pixels, shape (H, W, 3) -> (H, W), float32."""
    return pixels.astype(np.float32) @ _LUMA_WEIGHTS


# Sharpness is compared tile by tile: crisp text layers or a local edit hold strong edges in a
# few tiles, and a global energy would let them mask a soft photograph everywhere else.
SHARPNESS_TILE = 32
# Tiles with less detail than this share of the master's median tile are too flat to judge.
FLAT_TILE_SHARE = 0.1


def gradient_maps(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical differences of a luma plane, cropped to a common (H-1, W-1)."""
    return np.diff(y, axis=1)[:-1, :], np.diff(y, axis=0)[:, :-1]


def tile_sums(values: np.ndarray) -> np.ndarray:
    """Sums over SHARPNESS_TILE-square tiles (the ragged edge left out; one tile of the whole
    plane when it is smaller than a tile)."""
    size = min(SHARPNESS_TILE, values.shape[0], values.shape[1])
    if size < 1:
        return np.zeros((0, 0), dtype=np.float64)
    h, w = values.shape[0] // size * size, values.shape[1] // size * size
    tiles = values[:h, :w].reshape(h // size, size, w // size, size)
    return tiles.sum(axis=(1, 3), dtype=np.float64)


def tile_energies(pixels: np.ndarray) -> np.ndarray:
    """Gradient energy of the luma per tile (`tile_sums`)."""
    gx, gy = gradient_maps(luma(pixels))
    return tile_sums(np.square(gx) + np.square(gy))


def sharpness_ratio(tiles: np.ndarray, master_tiles: np.ndarray) -> float | None:
    """How sharp an artifact is relative to its master: the median over the master's detailed
    tiles of the artifact's tile gradient energy over the master's (1 = as sharp, < 1 =
    softer). None when the master has no detail to lose."""
    if tiles.shape != master_tiles.shape:
        return None
    detailed = detailed_tiles(master_tiles)
    if not detailed.any():
        return None
    return float(np.median(tiles[detailed] / master_tiles[detailed]))


def detailed_tiles(master_tiles: np.ndarray) -> np.ndarray:
    """The master's tiles with detail enough to judge sharpness on (a boolean mask)."""
    if master_tiles.size == 0:
        return np.zeros(master_tiles.shape, dtype=bool)
    return master_tiles > max(float(np.median(master_tiles)) * FLAT_TILE_SHARE, 1e-9)
