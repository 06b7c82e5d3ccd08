"""Real photographs and prompts that the export's reference outputs, the int8 agreement check,
the benchmark and the parity tests share.

The photographs come from scikit-image's wheel (no download; `skimage.data.astronaut()`,
`coffee()`, `camera()`, `chelsea()`, `rocket()`); the variants (crops, a
palette image, an image with alpha) are made with numpy only, so every machine builds the
same pixels. They cover the aspect ratios and Pillow modes that take different paths through
the preprocessing: square, tall, wide, panorama, an image smaller than the model's input
(upscaled), L, P, RGBA and RGB.
"""

import importlib.util
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

# Prompts the reference outputs are recorded for: plain, accented, emoji, CJK, HTML entity,
# and one longer than the 77-token context (truncated).
REFERENCE_PROMPTS = (
    "a photograph of an astronaut",
    "a cup of coffee on a wooden table",
    "Ein Kätzchen schläft auf dem Sofa",
    "a rocket launch at night 🚀🌙",
    "東京の夜景、ネオンサイン",
    "fish &amp; chips, served hot",
    " ".join(["an extremely detailed studio photograph of a red sneaker"] * 12),
    "",
)


def _palette_image(rgb: np.ndarray) -> Image.Image:
    """A palette ("P") image with a fixed 64-colour palette (2 bits per channel), built
    without Pillow's quantiser so that its pixels never depend on the Pillow version."""
    levels = (rgb // 64).astype(np.uint8)
    index = levels[..., 0] * 16 + levels[..., 1] * 4 + levels[..., 2]
    palette = [int(v) * 85 for i in range(64) for v in (i // 16, (i // 4) % 4, i % 4)]
    image = Image.fromarray(index, mode="P")
    image.putpalette(palette)
    return image


def _rgba_image(rgb: np.ndarray) -> Image.Image:
    """RGBA with a horizontal alpha ramp: Pillow resizes it with premultiplied alpha."""
    height, width, _ = rgb.shape
    alpha = np.tile(np.linspace(32, 255, width).astype(np.uint8), (height, 1))
    return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")


@cache
def _photo(filename: str) -> np.ndarray:
    """A photograph from scikit-image's data folder, read with Pillow (the same pixels as
    `skimage.data.<name>()`, without importing scikit-image's I/O stack, ~1 s)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-image is needed for the reference photographs")
    path = Path(spec.submodule_search_locations[0]) / "data" / filename
    with Image.open(path) as image:
        pixels = np.asarray(image)
    pixels.flags.writeable = False  # shared by every caller
    return pixels


def _cases() -> dict[str, Callable[[], Image.Image]]:
    return {
        "astronaut": lambda: Image.fromarray(_photo("astronaut.png")),
        "coffee": lambda: Image.fromarray(_photo("coffee.png")),
        "camera_L": lambda: Image.fromarray(_photo("camera.png"), mode="L"),
        "chelsea_P": lambda: _palette_image(_photo("chelsea.png")),
        "rocket_RGBA": lambda: _rgba_image(_photo("rocket.jpg")),
        "astronaut_tall": lambda: Image.fromarray(
            np.ascontiguousarray(_photo("astronaut.png")[:, 96:352])
        ),
        "coffee_panorama": lambda: Image.fromarray(
            np.ascontiguousarray(_photo("coffee.png")[150:250])
        ),
        "chelsea_small": lambda: Image.fromarray(
            np.ascontiguousarray(_photo("chelsea.png")[::3, ::3])
        ),
    }


def reference_image_names() -> tuple[str, ...]:
    """The names of the reference photographs, in order."""
    return tuple(_cases())


def reference_image(name: str) -> Image.Image:
    """One reference photograph by name (see `reference_image_names`)."""
    return _cases()[name]()


def reference_images() -> list[tuple[str, Image.Image]]:
    """Every reference photograph, (name, image), in a fixed order."""
    return [(name, make()) for name, make in _cases().items()]
