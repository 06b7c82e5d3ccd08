"""open_clip's evaluation image transform in Pillow and numpy, pixel for pixel.

For the "shortest" resize mode and a square input size (every CLIP ViT, ViT-B-32 included),
open_clip runs torchvision's `Resize(size)` → `CenterCrop(size)` → `convert("RGB")` →
`ToTensor()` → `Normalize(mean, std)` on a PIL image. On PIL images torchvision calls Pillow
itself, so the same Pillow calls in the same order give the same pixels:

- resize the short side to `size` and the long side to `int(size * long / short)`, in the
  image's own mode (Pillow then resizes palette images with nearest neighbour and RGBA with
  premultiplied alpha, as it does under torchvision), skipped when the size already matches;
- crop the centre, offset `int(round((n - size) / 2.0))`;
- convert to RGB, scale to float32 / 255, channels first, `(x - mean) / std` in float32.

The parameters come from the exported model's `preprocess.json` (open_clip's
`model.visual.preprocess_cfg`), so a model trained with other mean/std or size is handled.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

PREPROCESS_FILENAME = "preprocess.json"

_RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


class UnsupportedPreprocessing(ValueError):
    """The model's preprocessing is not one this module reproduces exactly."""


@dataclass(frozen=True)
class PreprocessParams:
    """What open_clip's transform needs: square output size, per-channel mean and std, and the
    resampling filter."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"

    @classmethod
    def from_config(cls, cfg: dict) -> "PreprocessParams":
        """From open_clip's `preprocess_cfg` dict; refuses what would not be reproduced
        exactly (another resize mode, a non-square size, a non-RGB mode)."""
        size = cfg.get("size", 224)
        if isinstance(size, list | tuple):
            if len(size) != 2 or size[0] != size[1]:
                raise UnsupportedPreprocessing(f"non-square input size {size}")
            size = size[0]
        resize_mode = cfg.get("resize_mode", "shortest")
        if resize_mode != "shortest":
            raise UnsupportedPreprocessing(f"resize_mode {resize_mode!r} (only 'shortest')")
        if cfg.get("mode", "RGB") != "RGB":
            raise UnsupportedPreprocessing(f"image mode {cfg['mode']!r} (only 'RGB')")
        # open_clip treats "random" as bicubic at inference time.
        interpolation = cfg.get("interpolation", "bicubic")
        interpolation = "bicubic" if interpolation == "random" else interpolation
        if interpolation not in _RESAMPLING:
            raise UnsupportedPreprocessing(f"interpolation {interpolation!r}")
        mean, std = cfg["mean"], cfg["std"]
        mean = (mean,) * 3 if isinstance(mean, int | float) else tuple(mean)
        std = (std,) * 3 if isinstance(std, int | float) else tuple(std)
        return cls(int(size), mean, std, interpolation)  # type: ignore[arg-type]

    def to_config(self) -> dict:
        """The JSON written to `preprocess.json` (open_clip's key names)."""
        return {
            "size": self.size,
            "mode": "RGB",
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "resize_mode": "shortest",
        }


def read_params(model_dir: str | Path) -> PreprocessParams:
    """The preprocessing parameters of an exported model directory."""
    return PreprocessParams.from_config(
        json.loads((Path(model_dir) / PREPROCESS_FILENAME).read_text(encoding="utf-8"))
    )


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after torchvision's `Resize(size)`: short side `size`, long side
    truncated, not rounded."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


def resize_and_crop(image: Image.Image, params: PreprocessParams) -> Image.Image:
    """The resized, centre-cropped RGB image the tensor is made of (uint8 pixels)."""
    size = params.size
    target = resized_size(image.width, image.height, size)
    if target != image.size:
        image = image.resize(target, _RESAMPLING[params.interpolation])
    top = int(round((image.height - size) / 2.0))
    left = int(round((image.width - size) / 2.0))
    return image.crop((left, top, left + size, top + size)).convert("RGB")


def normalise(rgb: np.ndarray, params: PreprocessParams) -> np.ndarray:
    """(H, W, 3) uint8 → (3, H, W) float32, scaled to [0, 1] and standardised, with the same
    float32 operations as torchvision's ToTensor and Normalize."""
    x = rgb.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    mean = np.asarray(params.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(params.std, dtype=np.float32)[:, None, None]
    return (x - mean) / std


def preprocess(image: Image.Image, params: PreprocessParams) -> np.ndarray:
    """open_clip's transform of one PIL image: (3, size, size) float32."""
    return normalise(np.asarray(resize_and_crop(image, params)), params)
