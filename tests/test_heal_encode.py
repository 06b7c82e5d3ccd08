"""Healing's linear → 8-bit sRGB encoding (`gates.heal._encode`): a compiled bin index plus a
step either way, equal to the binary search it replaced (`np.searchsorted` over the code
boundaries) on every value that can decide a code."""

import numpy as np
import pytest

from retouch_assets.gates import heal


def _searchsorted(linear: np.ndarray) -> np.ndarray:
    return np.searchsorted(heal._ENCODE_EDGES, linear).astype(np.uint8)


def _around_edges(dtype, ulps: int = 4) -> np.ndarray:
    """Every code boundary and its neighbours a few units in the last place either way."""
    values = [heal._ENCODE_EDGES.astype(dtype)]
    for direction in (np.inf, -np.inf):
        current = values[0]
        for _ in range(ulps):
            current = np.nextafter(current, dtype(direction))
            values.append(current)
    return np.concatenate(values)


SPECIAL = [0.0, -0.0, 1.0, -1e-30, 1e-30, 1e-7, 0.99999, 1.0000001, 2.0, -5.0, 1e30, -1e30]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoding_equals_the_binary_search_at_every_boundary(dtype):
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            _around_edges(dtype),
            rng.uniform(-0.1, 1.1, 2_000_000).astype(dtype),
            # bin starts, where the index's count changes
            (np.arange(heal._ENCODE_BINS + 1) / heal._ENCODE_BINS).astype(dtype),
            np.array(SPECIAL + [np.inf, -np.inf, np.nan], dtype=dtype),
        ]
    )
    assert np.array_equal(heal._encode(values), _searchsorted(values))


def test_float64_values_between_float32_boundaries_are_compared_exactly():
    edges = heal._ENCODE_EDGES.astype(np.float64)
    between = np.concatenate([edges - 1e-12, edges, edges + 1e-12])
    assert np.array_equal(heal._encode(between), _searchsorted(between))


def test_a_colour_matrix_applies_as_before_on_a_photograph_shaped_array():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    matrix = ((1.07, 0.02, -0.01), (0.01, 0.96, 0.03), (-0.02, 0.01, 1.09))
    linear = heal._DECODE[image] @ np.asarray(matrix, dtype=np.float32).T
    out = heal._apply_matrix(image, matrix)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out, _searchsorted(linear))
    # Non-contiguous input (a crop) encodes the same.
    crop = linear[10:50, 20:90]
    assert np.array_equal(heal._encode(crop), _searchsorted(crop))
