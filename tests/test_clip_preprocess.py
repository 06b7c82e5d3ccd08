"""The Pillow + numpy preprocessing equals open_clip's ViT-B-32 transform, recorded once in
tests/data/clip/crops.npz (open_clip's crops, which rebuild its float tensors bit for bit)."""

from pathlib import Path

import numpy as np
import pytest

from retouch_assets.clip.preprocess import (
    PreprocessParams,
    UnsupportedPreprocessing,
    normalise,
    preprocess,
    resize_and_crop,
    resized_size,
)
from retouch_assets.clip.samples import reference_images

FIXTURE = Path(__file__).parent / "data" / "clip" / "crops.npz"
# open_clip's ViT-B-32 preprocess_cfg (OPENAI mean and std).
VIT_B_32 = PreprocessParams.from_config(
    {
        "size": (224, 224),
        "mode": "RGB",
        "mean": (0.48145466, 0.4578275, 0.40821073),
        "std": (0.26862954, 0.26130258, 0.27577711),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
        "fill_color": 0,
    }
)


def test_pixels_equal_open_clips_on_photos_of_every_mode_and_aspect_ratio():
    recorded = np.load(FIXTURE)
    images = reference_images()
    modes = {image.mode for _, image in images}
    assert {"RGB", "L", "P", "RGBA"} <= modes
    assert set(recorded.files) == {name for name, _ in images}
    for name, image in images:
        expected = normalise(recorded[name], VIT_B_32)  # open_clip's tensor, exactly
        ours = preprocess(image, VIT_B_32)
        assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
        assert np.abs(ours - expected).max() <= 1e-5, name
        assert np.array_equal(np.asarray(resize_and_crop(image, VIT_B_32)), recorded[name])


def test_resize_truncates_the_long_side_like_torchvision():
    assert resized_size(451, 300, 224) == (336, 224)  # 224 * 451 / 300 = 336.77
    assert resized_size(300, 512, 224) == (224, 382)
    assert resized_size(224, 224, 224) == (224, 224)


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"resize_mode": "longest"}, "resize_mode"),
        ({"size": (224, 256)}, "non-square"),
        ({"interpolation": "nearest"}, "interpolation"),
    ],
)
def test_preprocessing_it_cannot_reproduce_is_refused(override, problem):
    cfg = {**VIT_B_32.to_config(), **override}
    with pytest.raises(UnsupportedPreprocessing, match=problem):
        PreprocessParams.from_config(cfg)
