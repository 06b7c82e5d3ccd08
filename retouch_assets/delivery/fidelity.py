"""How close a rendition is to the published image at the same size: CIEDE2000 mean (the
quality layer's kernel) and SSIM on luminance."""

import numpy as np

from retouch_assets.quality.delta_e import delta_e_map, lab_planes

# ITU-R BT.601 luma weights, as SSIM is conventionally computed on luminance.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) @ _LUMA


class Reference:
    """The published image at one rendition size: its Lab planes and luminance, computed once
    for every probe of every format at that size."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.lab = lab_planes(pixels)
        self.luma = luminance(pixels)

    def delta_e_mean(self, pixels: np.ndarray) -> float:
        return float(delta_e_map(pixels, self.lab).mean(dtype=np.float64))

    def ssim(self, pixels: np.ndarray) -> float:
        """Mean SSIM (Wang et al. 2004: Gaussian window σ 1.5, K1 0.01, K2 0.03) on luminance."""
        from skimage.metrics import structural_similarity  # heavy: only in the step

        score = structural_similarity(
            self.luma,
            luminance(pixels),
            data_range=255.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        return float(score)  # type: ignore[arg-type]  # a float without full=/gradient=
