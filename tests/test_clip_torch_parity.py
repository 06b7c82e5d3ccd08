"""Live parity against open_clip torch: export a fresh tiny model and compare ONNX Runtime with
torch directly, the tokenizer with `open_clip.tokenize`, and the preprocessing with open_clip's
transform, on inputs beyond the recorded fixtures.

**Skipped in CI**, which installs no torch (`pytest.importorskip("open_clip")`): it runs where
the `clip` extra is installed (`uv pip install -e '.[clip]'`). CI covers the same properties
against outputs recorded from open_clip (test_clip_runtime, test_clip_tokenizer,
test_clip_preprocess).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from retouch_assets.clip.export import export_model  # noqa: E402
from retouch_assets.clip.preprocess import PreprocessParams, preprocess  # noqa: E402
from retouch_assets.clip.runtime import load_clip  # noqa: E402
from retouch_assets.clip.samples import reference_images  # noqa: E402
from retouch_assets.clip.tokenizer import BPE_FILENAME, load_tokenizer  # noqa: E402

TOKENS = Path(__file__).parent / "data" / "clip" / "tokens.json"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "tiny"
    result = export_model("retouch-tiny-vit", None, out, seed=3)
    torch.manual_seed(3)
    model = open_clip.create_model("retouch-tiny-vit", pretrained=None).eval()
    return out, result.manifest, model


def _random_images(rng: np.random.Generator) -> list[Image.Image]:
    images = []
    for _ in range(12):
        w, h = (int(v) for v in rng.integers(40, 700, 2))
        mode = str(rng.choice(["RGB", "L", "RGBA", "P", "LA", "I;16"]))
        if mode == "I;16":
            image = Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
        else:
            rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
            image = rgb.convert("RGBA").convert(mode) if mode in ("LA",) else rgb.convert(mode)
        images.append(image)
    return images


def test_ort_embeddings_equal_torch_on_photos_and_prompts(exported):
    out, manifest, model = exported
    assert manifest["untrained"] and manifest["seed"] == 3
    clip = load_clip(out, device="cpu")
    from open_clip.transform import PreprocessCfg, image_transform_v2

    transform = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    images = [im for _, im in reference_images()] + _random_images(np.random.default_rng(5))
    prompts = [c["prompt"] for c in json.loads(TOKENS.read_text(encoding="utf-8"))["cases"]]
    with torch.no_grad():
        torch_img = model.encode_image(torch.stack([transform(im) for im in images]), True)
        torch_txt = model.encode_text(open_clip.tokenize(prompts), normalize=True)
    ours_img = clip.embed_pixels(np.stack([preprocess(im, clip.params) for im in images]))
    ours_txt, _ = clip.encode_texts(prompts)
    assert np.abs(ours_img - torch_img.numpy()).max() <= 1e-4
    assert np.abs(ours_txt - torch_txt.numpy()).max() <= 1e-4


def test_tokenizer_equals_open_clip_tokenize_on_fixture_and_random_text(exported):
    out, _, _ = exported
    rng = np.random.default_rng(9)
    alphabet = list("abcXYZ äöüß éè çñ 東京日本 🚀🙂👍🏽 &amp; <>'\"!?.,;:-_ \t\n0123456789")
    randoms = ["".join(rng.choice(alphabet, int(rng.integers(0, 200)))) for _ in range(300)]
    recorded = [c["prompt"] for c in json.loads(TOKENS.read_text(encoding="utf-8"))["cases"]]
    prompts = recorded + randoms
    ours = load_tokenizer(str(out / BPE_FILENAME))(prompts)
    theirs = open_clip.tokenize(prompts).numpy()
    assert np.array_equal(ours.ids, theirs)


def test_preprocess_equals_open_clips_transform_on_random_sizes_and_modes():
    from open_clip.transform import PreprocessCfg, image_transform_v2

    model = open_clip.create_model("ViT-B-32", pretrained=None, load_weights=False)
    cfg = model.visual.preprocess_cfg
    transform = image_transform_v2(PreprocessCfg(**cfg), is_train=False)
    params = PreprocessParams.from_config(cfg)
    for image in _random_images(np.random.default_rng(1)):
        expected = transform(image).numpy()
        assert np.abs(preprocess(image, params) - expected).max() <= 1e-5, image.mode
