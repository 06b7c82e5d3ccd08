"""How close a rendition is to the published image at the same size: CIEDE2000 mean (the
quality layer's kernel) and SSIM on luminance.

SSIM is skimage's Gaussian SSIM (tests: equal to 1e-6) computed in one compiled pass per probe:
the reference's local mean and mean square are filtered once per size (scipy), and since the
mean leaves out a border as wide as the filter's radius, the probe's three planes (y, y², xy)
are filtered only where no edge handling is needed, separably, fused with the SSIM map's sum
(numba, nogil, so images on threads use both cores), never writing the five full-size planes
skimage does."""

from functools import cache

import numpy as np

from retouch_assets.quality.delta_e import delta_e_map, lab_planes

# ITU-R BT.601 luma weights, as SSIM is conventionally computed on luminance.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# SSIM as Wang et al. (2004) and skimage's `structural_similarity(..., gaussian_weights=True,
# sigma=1.5, use_sample_covariance=False, data_range=255)`: an 11-tap Gaussian (truncate 3.5),
# reflected edges, K1 0.01, K2 0.03, the mean over the image less a 5-pixel border.
_SIGMA, _TRUNCATE = 1.5, 3.5
_PAD = int(_TRUNCATE * _SIGMA + 0.5)
_C1, _C2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2


def luminance(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) @ _LUMA


def _gaussian_taps() -> np.ndarray:
    """scipy.ndimage's Gaussian taps for σ 1.5, truncate 3.5 (radius 5)."""
    x = np.arange(-_PAD, _PAD + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / _SIGMA) ** 2)
    return taps / taps.sum()


def _ssim_sum(x, ux, uxx, y, taps, c1, c2):  # pragma: no cover - compiled by numba
    """Sum of the SSIM map over the interior (the border of the taps' radius left out): the
    probe's planes filtered separably (rows, then columns) where the taps stay inside."""
    h, w = y.shape
    r = taps.shape[0] // 2
    n = w - 2 * r
    hy = np.empty((h, n), np.float32)
    hyy = np.empty((h, n), np.float32)
    hxy = np.empty((h, n), np.float32)
    acc_y = np.empty(n, np.float64)
    acc_yy = np.empty(n, np.float64)
    acc_xy = np.empty(n, np.float64)
    for i in range(h):
        acc_y[:] = 0.0
        acc_yy[:] = 0.0
        acc_xy[:] = 0.0
        for k in range(2 * r + 1):
            t = taps[k]
            for j in range(n):
                v = np.float64(y[i, j + k])
                acc_y[j] += t * v
                acc_yy[j] += t * (v * v)
                acc_xy[j] += t * (np.float64(x[i, j + k]) * v)
        for j in range(n):
            hy[i, j] = acc_y[j]
            hyy[i, j] = acc_yy[j]
            hxy[i, j] = acc_xy[j]
    total = 0.0
    for i in range(r, h - r):
        acc_y[:] = 0.0
        acc_yy[:] = 0.0
        acc_xy[:] = 0.0
        for k in range(2 * r + 1):
            t = taps[k]
            for j in range(n):
                acc_y[j] += t * hy[i - r + k, j]
                acc_yy[j] += t * hyy[i - r + k, j]
                acc_xy[j] += t * hxy[i - r + k, j]
        for j in range(n):
            mx = np.float64(ux[i, j + r])
            my = acc_y[j]
            vx = np.float64(uxx[i, j + r]) - mx * mx
            vy = acc_yy[j] - my * my
            vxy = acc_xy[j] - mx * my
            total += ((2 * mx * my + c1) * (2 * vxy + c2)) / (
                (mx * mx + my * my + c1) * (vx + vy + c2)
            )
    return total


@cache
def _ssim_kernel():
    """Compiled on first use (numba is imported here, not at module import); cached on disk."""
    import numba

    return numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")(_ssim_sum)


def _gaussian(plane: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter  # heavy: only in the step

    return gaussian_filter(plane, _SIGMA, mode="reflect", truncate=_TRUNCATE)


class Reference:
    """The published image at one rendition size: its Lab planes, luminance and the luminance's
    local mean and mean square (SSIM's reference half), computed once for every probe of every
    format at that size."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.lab = lab_planes(pixels)
        self.luma = luminance(pixels)
        self._mean: np.ndarray | None = None
        self._square: np.ndarray | None = None

    def delta_e_mean(self, pixels: np.ndarray) -> float:
        return float(delta_e_map(pixels, self.lab).mean(dtype=np.float64))

    def ssim(self, pixels: np.ndarray) -> float:
        """Mean SSIM (Wang et al. 2004: Gaussian window σ 1.5, K1 0.01, K2 0.03) on luminance:
        skimage's (equal to 1e-6), with the reference's local mean and mean square filtered
        once, the probe's planes in one compiled pass (see the module's docstring)."""
        if self._mean is None or self._square is None:
            self._mean, self._square = _gaussian(self.luma), _gaussian(self.luma * self.luma)
        y = luminance(pixels)
        h, w = y.shape
        if min(h, w) <= 2 * _PAD:
            raise ValueError(f"SSIM needs an image over {2 * _PAD} pixels a side, got {w}x{h}")
        total = _ssim_kernel()(self.luma, self._mean, self._square, y, _TAPS, _C1, _C2)
        return float(total / ((h - 2 * _PAD) * (w - 2 * _PAD)))


_TAPS = _gaussian_taps()


def compile_kernel() -> None:
    """Compile the SSIM kernel into numba's on-disk cache (`make install` does it once)."""
    tiny = np.zeros((16, 16, 3), np.uint8)
    Reference(tiny).ssim(tiny)
