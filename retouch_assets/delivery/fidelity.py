"""How close a rendition is to the published image at the same size: CIEDE2000 mean (the
quality layer's kernel) and SSIM on luminance."""

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
        skimage's arithmetic (float32 planes, the same filter), with the reference's local
        mean and mean square computed once, so a probe filters three planes, not five."""
        if self._mean is None or self._square is None:
            self._mean, self._square = _gaussian(self.luma), _gaussian(self.luma * self.luma)
        ux, uxx, x = self._mean, self._square, self.luma
        y = luminance(pixels)
        uy, uyy, uxy = _gaussian(y), _gaussian(y * y), _gaussian(x * y)
        a1 = 2 * ux * uy + _C1
        a2 = 2 * (uxy - ux * uy) + _C2
        b1 = ux**2 + uy**2 + _C1
        b2 = (uxx - ux * ux) + (uyy - uy * uy) + _C2
        s = (a1 * a2) / (b1 * b2)
        return float(s[_PAD:-_PAD, _PAD:-_PAD].mean(dtype=np.float64))
