"""Decoding to sRGB: embedded ICC profiles, alpha, bit depth, broken files."""

import numpy as np
import pytest
from PIL import Image
from skimage import data

from retouch_assets.quality.decode import DecodeError, decode_srgb8
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, lab_planes
from retouch_assets.quality.icc import DISPLAY_P3, encode_in_profile, matrix_trc_profile


def test_a_display_p3_tagged_image_is_converted_before_measuring(tmp_path):
    name, primaries = "Display P3", DISPLAY_P3
    master = data.astronaut()
    path = tmp_path / "tagged.png"
    Image.fromarray(encode_in_profile(master, primaries)).save(
        path, icc_profile=matrix_trc_profile(name, primaries)
    )
    decoded = decode_srgb8(path)
    assert decoded.profile == name
    assert np.abs(decoded.pixels.astype(int) - master).max() <= 3  # 8-bit re-encoding noise
    honoured, _ = delta_e_summary(delta_e_map(decoded.pixels, lab_planes(master)))
    ignored, _ = delta_e_summary(
        delta_e_map(np.asarray(Image.open(path).convert("RGB")), lab_planes(master))
    )
    assert honoured < 0.3 and ignored > 1.0  # measured right, and it matters


def test_alpha_is_composited_over_the_configured_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[..., 3] = 128  # half transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    on_white = decode_srgb8(path)
    on_black = decode_srgb8(path, background=(0, 0, 0))
    assert on_white.had_alpha
    assert tuple(on_white.pixels[0, 0]) == (255, 127, 127)
    assert tuple(on_black.pixels[0, 0]) == (128, 0, 0)


def test_sixteen_bit_grey_and_palette_images_become_8bit_rgb(tmp_path):
    grey16 = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    decoded = decode_srgb8(tmp_path / "g16.png")
    assert decoded.pixels.shape == (8, 8, 3) and decoded.pixels.dtype == np.uint8
    assert decoded.pixels[7, 7, 0] == round(63000 / 65535 * 255)
    Image.fromarray(data.coffee()).convert("P").save(tmp_path / "p.png")
    assert decode_srgb8(tmp_path / "p.png").pixels.shape == (400, 600, 3)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert decode_srgb8(tmp_path / "rotated.jpg").pixels.shape == (20, 10, 3)


def test_a_truncated_file_is_a_decode_error(tmp_path):
    path = tmp_path / "broken.png"
    Image.fromarray(data.coffee()).save(path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DecodeError, match="broken.png"):
        decode_srgb8(path)
