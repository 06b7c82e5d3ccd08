"""WCAG contrast, histogram delta, the palette balancer and perceptual hashes."""

import numpy as np
import pytest

from retouch_assets.quality.measures import (
    contrast_ratio,
    hamming,
    hex_to_rgb,
    histogram_delta_pct,
    is_large_text,
    layer_contrast,
    nearest_accessible_colour,
    phash_hex,
    relative_luminance,
)


def _ratio(fg: str, bg: str) -> float:
    return float(
        contrast_ratio(
            relative_luminance(np.array(hex_to_rgb(fg))),
            relative_luminance(np.array(hex_to_rgb(bg))),
        )
    )


@pytest.mark.parametrize(
    ("fg", "bg", "expected"),
    [
        ("#000000", "#FFFFFF", 21.0),
        ("#767676", "#FFFFFF", 4.542),
        ("#777777", "#FFFFFF", 4.478),
        ("#949494", "#FFFFFF", 3.034),
        ("#595959", "#FFFFFF", 7.005),
        ("#FFFFFF", "#0000FF", 8.592),
    ],
)
def test_wcag_reference_ratios(fg, bg, expected):
    assert _ratio(fg, bg) == pytest.approx(expected, abs=1e-3)
    assert _ratio(bg, fg) == pytest.approx(expected, abs=1e-3)  # order does not matter


def test_large_text_thresholds():
    assert is_large_text(24, False) and not is_large_text(23.9, False)
    assert is_large_text(18.66, True) and not is_large_text(18.5, True)


def _layer(**kw):
    layer = {
        "id": "t",
        "text": "x",
        "fg": "#777777",
        "bg": "#FFFFFF",
        "bbox": None,
        "font_px": 16,
        "bold": False,
    }
    layer.update(kw)
    return layer


def test_declared_background_uses_normal_and_large_thresholds():
    assert not layer_contrast(_layer(), None).passed  # 4.478 < 4.5
    assert layer_contrast(_layer(font_px=24), None).passed  # large text needs 3:1
    assert layer_contrast(_layer(font_px=19, bold=True), None).required == 3.0


def test_measured_background_ignores_the_glyphs_and_takes_the_worst_case():
    image = np.zeros((60, 200, 3), np.uint8)  # black scrim
    image[20:30, 10:150] = 255  # white glyph pixels of the text itself
    dark = layer_contrast(_layer(fg="#FFFFFF", bg=None, bbox=[0, 0, 200, 60]), image)
    assert dark.measured and dark.passed and dark.ratio == pytest.approx(21.0)
    image[:, 100:] = 200  # half the background turns light grey: the worst case fails
    light = layer_contrast(_layer(fg="#FFFFFF", bg=None, bbox=[0, 0, 200, 60]), image)
    assert not light.passed and light.ratio < 2.0 and light.background == "#C8C8C8"


def test_bbox_outside_the_image_is_an_error():
    with pytest.raises(ValueError, match="outside the image"):
        layer_contrast(_layer(bg=None, bbox=[500, 500, 10, 10]), np.zeros((10, 10, 3), np.uint8))


@pytest.mark.parametrize(
    ("fg", "bg", "need"),
    [
        ("#9A9A9A", "#FFFFFF", 4.5),
        ("#707070", "#5A3A1E", 3.0),
        ("#E04040", "#FFFFFF", 4.5),
        ("#3050F0", "#101010", 7.0),
    ],
)
def test_palette_balancer_reaches_the_ratio_close_to_the_original(fg, bg, need):
    proposal = nearest_accessible_colour(fg, bg, need)
    assert _ratio(proposal, bg) >= need
    assert proposal != fg


def test_histogram_delta():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert histogram_delta_pct(image, image) == 0.0
    assert histogram_delta_pct(np.zeros_like(image), np.full_like(image, 255)) == 100.0
    half = image.copy()
    half[..., 0] = 0
    other = half.copy()
    other[:32, :, 0] = 255  # half of the red channel's mass moves: TV 0.5 on one of 3 channels
    assert histogram_delta_pct(other, half) == pytest.approx(50.0 / 3)


def test_perceptual_hash_sees_near_duplicates():
    from skimage import data

    photo = data.astronaut()
    noisy = np.clip(
        photo.astype(int) + np.random.default_rng(1).integers(-3, 4, photo.shape), 0, 255
    )
    assert hamming(phash_hex(photo), phash_hex(noisy.astype(np.uint8))) <= 4
    assert hamming(phash_hex(photo), phash_hex(data.coffee())) > 16
