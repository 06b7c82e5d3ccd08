"""CIEDE2000: the Sharma reference pairs, and the image kernel equal to colour-science."""

import colour
import numpy as np
import pytest
from PIL import Image
from skimage import data

from retouch_assets.quality.delta_e import (
    D65_WHITE,
    SRGB_TO_XYZ,
    delta_e_lab,
    delta_e_map,
    delta_e_summary,
    lab_planes,
    percentile,
    srgb8_to_lab,
)

# Sharma, Wu & Dalal (2005), pairs 1, 7, 9, 17, 19, 25, 34 (REFERENCE.md).
SHARMA = [
    ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
    ((50, 0, 0), (50, -1, 2), 2.3669),
    ((50, 2.49, -0.001), (50, -2.49, 0.0009), 7.1792),
    ((50, 2.5, 0), (73, 25, -18), 27.1492),
    ((50, 2.5, 0), (56, -27, -3), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_sharma_reference_pairs_both_ways(lab1, lab2, expected):
    assert delta_e_lab(np.array([lab1]), np.array([lab2]))[0] == pytest.approx(expected, abs=1e-4)
    assert delta_e_lab(np.array([lab2]), np.array([lab1]))[0] == pytest.approx(expected, abs=1e-4)


def test_constants_are_colour_sciences():
    space = colour.RGB_COLOURSPACES["sRGB"]
    np.testing.assert_allclose(SRGB_TO_XYZ, space.matrix_RGB_to_XYZ, atol=1e-12)
    white = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    np.testing.assert_allclose(D65_WHITE, white, atol=1e-12)


def test_lab_conversion_matches_colour_science_for_every_8bit_grey_and_random_colours():
    rng = np.random.default_rng(3)
    rgb = np.concatenate(
        [
            np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1),
            rng.integers(0, 256, (4096, 3), dtype=np.uint8),
        ]
    ).reshape(1, -1, 3)
    expected = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb / 255.0))
    np.testing.assert_allclose(srgb8_to_lab(rgb), expected, atol=1e-7)


def _cast(image, gains, rng):
    out = image.astype(np.float64) * gains + rng.normal(0, 2.0, image.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("photo", ["astronaut", "coffee", "chelsea", "rocket"])
def test_image_kernel_equals_colour_science_on_real_photographs(photo):
    rng = np.random.default_rng(1)
    master = getattr(data, photo)()[..., :3]
    output = _cast(master, np.array([1.05, 0.97, 0.92]), rng)
    output[:40] = rng.integers(0, 256, output[:40].shape)  # and arbitrary colour pairs
    expected = colour.delta_E(
        colour.XYZ_to_Lab(colour.sRGB_to_XYZ(master / 255.0)),
        colour.XYZ_to_Lab(colour.sRGB_to_XYZ(output / 255.0)),
        method="CIE 2000",
    )
    for workers in (1, 2):
        ours = delta_e_map(output, lab_planes(master, workers), workers)
        assert np.abs(ours - expected).max() <= 1e-4
    mean, p95 = delta_e_summary(ours)
    assert mean == pytest.approx(expected.mean(), abs=1e-5)
    assert p95 == pytest.approx(np.percentile(expected, 95), abs=1e-4)


def test_random_lab_pairs_match_colour_science():
    rng = np.random.default_rng(5)
    lab1 = rng.uniform([0, -128, -128], [100, 128, 128], (50_000, 3))
    lab2 = lab1 + rng.normal(0, 8, lab1.shape)
    lab2[:200, 1:] = 0.0  # one colour neutral (zero chroma)
    lab1[200:400, 1:] = 0.0
    expected = colour.delta_E(lab1, lab2, method="CIE 2000")
    assert np.abs(delta_e_lab(lab1, lab2) - expected).max() <= 1e-6


def test_identical_images_have_zero_difference():
    master = data.coffee()
    assert delta_e_summary(delta_e_map(master, lab_planes(master))) == (0.0, 0.0)


def test_size_mismatch_is_an_error_not_a_crash():
    master = data.coffee()
    with pytest.raises(ValueError, match="differ in size"):
        delta_e_map(master[:-1], lab_planes(master))


@pytest.mark.parametrize("q", [0, 5, 50, 95, 99.9, 100])
def test_percentile_equals_numpy(q):
    rng = np.random.default_rng(2)
    values = (rng.gamma(2.0, 1.5, 300_001)).astype(np.float32)
    values[:5000] = 0.0  # ties
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-6)
    assert percentile(np.array([3.0], np.float32), q) == 3.0


def test_scaled_photograph_is_large_enough_for_the_benchmark():
    from retouch_assets.bench import _photo_pair

    master, output = _photo_pair(0.05)
    assert master.shape == output.shape and master.shape[0] * master.shape[1] >= 50_000
    assert Image.fromarray(master).mode == "RGB"
