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


def _py(name):
    """A kernel helper as plain Python (the module swaps in its compiled form on first use)."""
    from retouch_assets.quality import delta_e

    function = getattr(delta_e, name)
    return getattr(function, "py_func", function)


def test_branch_free_helpers_match_the_math_library():
    import math

    cbrt, atan_q, exp_neg, sin_small = (
        _py(n) for n in ("_cbrt", "_atan_quarter", "_exp_neg", "_sin_small")
    )
    for t in np.concatenate([np.geomspace(0.00886, 1.0002, 2000), [1 / 64, 1 / 8, 1 / 4, 1 / 2]]):
        assert cbrt(t) == pytest.approx(float(np.cbrt(t)), rel=1e-15)
    for u in np.linspace(-math.tan(math.radians(25.3)), math.tan(math.radians(25.3)), 2001):
        assert atan_q(u) == pytest.approx(math.atan(u), rel=5e-16, abs=1e-300)
    for x in np.linspace(0.0, 16.5, 2001):
        assert exp_neg(x) == pytest.approx(math.exp(-x), rel=2e-14)
    for z in np.linspace(0.0, math.pi / 3, 2001):
        assert sin_small(z) == pytest.approx(math.sin(z), rel=5e-16, abs=1e-300)


def test_rotation_term_without_trigonometry_equals_the_scalar_one_all_round_the_hue_circle():
    import math

    vector, scalar = _py("_rotation_vector"), _py("_rotation_term")
    hues = np.concatenate(
        [np.linspace(0.0, 360.0, 7201), [1e-9, 14.999, 15.0, 175.0, 180.0, 359.999999, 360 - 1e-9]]
    )
    for hue in hues:
        ch, sh = math.cos(math.radians(hue)), math.sin(math.radians(hue))
        for cbarp in (0.5, 20.0, 80.0):
            rc = 2.0 * math.sqrt(cbarp**7 / (cbarp**7 + 25.0**7))
            assert vector(ch, sh, rc) == pytest.approx(scalar(ch, sh, cbarp), rel=1e-12, abs=1e-15)


# Black, white, greys, primaries, secondaries, and colours either side of the hue discontinuity
# at h = 0 (red-purple) and of the rotation band's edges, as 8-bit sRGB.
EDGE_COLOURS = np.array(
    [
        [0, 0, 0],
        [255, 255, 255],
        [1, 1, 1],
        [128, 128, 128],
        [254, 254, 254],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [0, 255, 255],
        [255, 0, 255],
        [255, 255, 0],
        [200, 30, 120],
        [200, 30, 110],
        [200, 40, 100],
        [0, 120, 120],
        [0, 125, 125],
        [0, 1, 0],
        [1, 0, 1],
        [30, 30, 200],
        [128, 129, 128],
        [129, 128, 128],
        [128, 128, 129],
    ],
    dtype=np.uint8,
)


def _reference_map(master, output):
    return colour.delta_E(
        colour.XYZ_to_Lab(colour.sRGB_to_XYZ(master / 255.0)),
        colour.XYZ_to_Lab(colour.sRGB_to_XYZ(output / 255.0)),
        method="CIE 2000",
    )


def _assert_float32_of(ours, expected, slack=1e-9):
    """Ours is a float32 map: equal to the reference within its rounding (half an ulp) + slack."""
    assert ours.dtype == np.float32 and np.isfinite(ours).all()
    bound = slack + np.abs(expected) * 2.0**-24
    assert (np.abs(ours.astype(np.float64) - expected) <= bound).all()


def test_every_pair_of_edge_colours_equals_colour_science():
    n = len(EDGE_COLOURS)
    master = np.repeat(EDGE_COLOURS[:, None, :], n, axis=1)  # row i: colour i everywhere
    output = np.repeat(EDGE_COLOURS[None, :, :], n, axis=0)  # column j: colour j
    ours = delta_e_map(output, lab_planes(master))
    _assert_float32_of(ours, _reference_map(master, output))
    assert (np.diag(ours) == 0.0).all()


def test_random_8bit_colour_pairs_equal_colour_science_and_are_finite():
    rng = np.random.default_rng(11)
    master = rng.integers(0, 256, (300, 301, 3), dtype=np.uint8)
    output = rng.integers(0, 256, master.shape, dtype=np.uint8)
    output[::2] = np.clip(master[::2].astype(int) + rng.integers(-3, 4, master[::2].shape), 0, 255)
    ours = delta_e_map(output, lab_planes(master))
    # The vectorized path against our scalar reference, to the float32 rounding...
    scalar = delta_e_lab(srgb8_to_lab(master), srgb8_to_lab(output))
    _assert_float32_of(ours, scalar)
    # ...and against colour-science, which differs from both by up to ~1.1e-6 on pairs far
    # apart in hue with h̄' near 175°, where the rotation term is cut off.
    _assert_float32_of(ours, _reference_map(master, output), slack=2e-6)


def test_lab_is_exact_to_1e_9_on_many_colours():
    rng = np.random.default_rng(4)
    rgb = np.concatenate([EDGE_COLOURS, rng.integers(0, 256, (100_000, 3), dtype=np.uint8)])
    rgb = rgb.reshape(1, -1, 3)
    expected = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb / 255.0))
    np.testing.assert_allclose(srgb8_to_lab(rgb), expected, rtol=0, atol=1e-9)


def test_non_contiguous_inputs_and_odd_sizes_give_the_same_map_on_any_thread_count():
    rng = np.random.default_rng(8)
    big = rng.integers(0, 256, (2 * 259 + 1, 3 * 131, 3), dtype=np.uint8)
    master = big[::2, ::3]  # a strided view, 260 x 131
    output = _cast(master, np.array([0.9, 1.0, 1.1]), rng)
    assert not master.flags.c_contiguous
    expected = delta_e_map(output, lab_planes(np.ascontiguousarray(master)))
    for height in (1, 127, 129, 260):
        for workers in (1, 2, 3):
            m, o = master[:height], output[:height]
            planes = lab_planes(m, workers)
            np.testing.assert_array_equal(delta_e_map(o, planes, workers), expected[:height])
    fortran_planes = np.asfortranarray(lab_planes(master))
    np.testing.assert_array_equal(delta_e_map(output, fortran_planes), expected)


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.0], np.float32),
        np.array([2.0, 1.0], np.float32),
        np.zeros(1001, np.float32),
        np.array([5.0] * 50 + [1e-30] * 3 + [7.0], np.float32),
        np.arange(70_000, dtype=np.float32) * np.float32(1e-6),  # one top-16-bit bin
        np.array([3.0e38, 1.0, 2.0, 1e-45], np.float32),  # the largest float, a subnormal
    ],
)
def test_percentile_is_exactly_the_linear_interpolation_of_the_sorted_values(values):
    ordered = np.sort(values).astype(np.float64)
    for q in (0, 1, 25, 50, 94.9, 95, 99, 100):
        position = q / 100.0 * (values.size - 1)
        k = int(np.floor(position))
        high = ordered[min(k + 1, values.size - 1)]
        expected = ordered[k] + (position - k) * (high - ordered[k])
        assert percentile(values, q) == expected  # in float64 (numpy interpolates in float32)
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-6)


@pytest.mark.parametrize("odd", [np.nan, np.inf, -1.0, -0.0])
def test_percentile_of_nan_inf_or_negative_values_falls_back_to_numpy(odd):
    values = np.array([1.0, 2.0, odd, 3.0], np.float32)
    with np.errstate(invalid="ignore"):  # numpy's own interpolation next to inf
        expected = float(np.percentile(values, 95))
        result = percentile(values, 95)
    assert result == expected or (np.isnan(result) and np.isnan(expected))


def test_equal_lab_colours_have_exactly_zero_difference_on_the_scalar_path():
    rng = np.random.default_rng(6)
    lab = rng.uniform([0, -128, -128], [100, 128, 128], (20_000, 3))
    assert (delta_e_lab(lab, lab) == 0.0).all()


def test_importing_the_module_neither_imports_numba_nor_compiles():
    import subprocess
    import sys

    code = "import sys, retouch_assets.quality.delta_e; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr
