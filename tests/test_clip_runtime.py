"""The ONNX Runtime CLIP path on the committed tiny model (models/clip-untrained-tiny), without
torch: agreement with open_clip torch's recorded outputs, image files on the thread pool, hash
pinning, and honest provider reporting."""

import hashlib
import importlib.util
import json
import shutil

import numpy as np
import pytest

import retouch_assets.clip.runtime as runtime_module
from retouch_assets import cli
from retouch_assets.clip import DEMO_MODEL_DIR
from retouch_assets.clip.manifest import model_hash
from retouch_assets.clip.preprocess import preprocess
from retouch_assets.clip.runtime import ClipModelError, load_clip
from retouch_assets.clip.samples import reference_image, reference_images
from retouch_assets.quality.clip_scores import prompt_hash

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def clip():
    return load_clip(DEMO_MODEL_DIR, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def reference() -> dict:
    with np.load(DEMO_MODEL_DIR / "reference.npz") as data:
        return {key: data[key] for key in data.files}


def test_image_embeddings_match_open_clip_torch_recorded_at_export(clip, reference):
    names = [str(n) for n in reference["image_names"]]
    assert names == [name for name, _ in reference_images()]
    pixels = np.stack([preprocess(image, clip.params) for _, image in reference_images()])
    ours = clip.embed_pixels(pixels)
    assert ours.dtype == np.float32 and ours.shape == (len(names), clip.info.dim)
    assert np.abs(ours - reference["image_embeddings"]).max() <= TOLERANCE
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


def test_text_embeddings_match_open_clip_torch_recorded_at_export(clip, reference):
    prompts = [str(p) for p in reference["prompts"]]
    ours, truncated = clip.encode_texts(prompts)
    assert np.abs(ours - reference["text_embeddings"]).max() <= TOLERANCE
    assert truncated.tolist() == [len(p.split()) > 70 for p in prompts]  # the long one only


def test_info_names_the_exact_untrained_model_and_where_it_runs(clip):
    manifest = json.loads((DEMO_MODEL_DIR / "manifest.json").read_text())
    info = clip.info
    assert info.model_hash == manifest["model_hash"] == model_hash(manifest)
    assert info.untrained and info.model_name == "retouch-tiny-vit" and info.dim == 32
    assert (info.provider, info.precision) == ("CPUExecutionProvider", "fp32")
    assert info.provider_reason.startswith("CPU as asked")


def test_image_files_are_embedded_in_batches_with_a_nan_row_per_unreadable_file(clip, tmp_path):
    paths = []
    for i, name in enumerate(["coffee", "camera_L", "rocket_RGBA", "chelsea_P", "astronaut"]):
        path = tmp_path / f"{i}-{name}.png"
        reference_image(name).save(path, compress_level=1)
        paths.append(path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    paths[2:2] = [broken, tmp_path / "missing.png"]
    progress = []
    embeddings, errors = clip.encode_images(paths, on_progress=lambda d, t: progress.append((d, t)))
    assert embeddings.shape == (7, clip.info.dim)
    failed = [i for i, e in enumerate(errors) if e is not None]
    assert failed == [2, 3] and np.isnan(embeddings[failed]).all()
    assert "FileNotFoundError" in (errors[3] or "")
    good = [i for i in range(7) if i not in failed]
    direct = clip.embed_pixels(
        np.stack(
            [
                preprocess(reference_image(p.stem.split("-", 1)[1]), clip.params)
                for p in (paths[i] for i in good)
            ]
        )
    )
    assert np.abs(embeddings[good] - direct).max() <= 1e-6
    assert progress == [(4, 7), (7, 7)]  # batches of 4
    # The CUDA schedule (next batch decoded during inference) gives the same rows.
    clip.overlap = True
    try:
        overlapped, errors_overlapped = clip.encode_images(paths)
    finally:
        clip.overlap = False
    assert errors_overlapped == errors
    assert np.array_equal(np.isnan(overlapped), np.isnan(embeddings))
    assert np.abs(overlapped[good] - embeddings[good]).max() <= 1e-6


def test_no_prompts_and_no_images_give_empty_results(clip):
    embeddings, truncated = clip.encode_texts([])
    assert embeddings.shape == (0, clip.info.dim) and truncated.shape == (0,)
    embeddings, errors = clip.encode_images([])
    assert embeddings.shape == (0, clip.info.dim) and errors == []


def test_a_model_file_altered_after_export_is_refused_naming_file_hashes_and_fix(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(DEMO_MODEL_DIR, model)
    target = model / "text.onnx"
    expected = hashlib.sha256(target.read_bytes()).hexdigest()
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ClipModelError) as raised:
        load_clip(model, device="cpu")
    message = str(raised.value)
    assert "text.onnx" in message and expected in message and actual in message
    assert "re-export" in message
    # Editing the manifest to match the altered file changes what model_hash names: refused.
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"]["text.onnx"]["sha256"] = actual
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ClipModelError, match="the manifest was edited"):
        load_clip(model, device="cpu")


def test_a_missing_directory_or_manifest_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ClipModelError, match="retouch clip export"):
        load_clip(tmp_path / "nowhere")
    with pytest.raises(ClipModelError, match="manifest.json is missing"):
        load_clip(tmp_path)


def test_asking_for_cuda_here_reports_the_cpu_fallback_and_why():
    info = load_clip(DEMO_MODEL_DIR, device="cuda").info
    assert info.provider == "CPUExecutionProvider" and info.precision == "fp32"
    assert info.provider_reason.startswith("CUDA requested, not available: ")
    auto = load_clip(DEMO_MODEL_DIR).info
    assert auto.provider == "CPUExecutionProvider" and auto.provider_reason.startswith("CPU: ")


def test_a_cuda_provider_that_fails_to_start_is_reported_from_the_session(monkeypatch):
    # As if a GPU were present: ONNX Runtime is asked for CUDA and silently falls back; the
    # session's own provider list is what gets reported.
    monkeypatch.setattr(runtime_module, "_no_cuda_device", lambda: None)
    info = load_clip(DEMO_MODEL_DIR, device="cuda").info
    assert (info.provider, info.precision) == ("CPUExecutionProvider", "fp32")
    assert "CUDA requested, not available: " in info.provider_reason


def test_int8_runs_only_when_asked_and_agrees_with_fp32(clip):
    int8 = load_clip(DEMO_MODEL_DIR, device="cpu", precision="int8")
    assert int8.info.precision == "int8"
    pixels = np.stack([preprocess(image, clip.params) for _, image in reference_images()])
    cosines = np.sum(int8.embed_pixels(pixels) * clip.embed_pixels(pixels), axis=1)
    assert cosines.min() >= 0.99


def test_prompt_hash_is_the_sha256_of_the_utf8_prompt():
    assert prompt_hash("Kätzchen") == hashlib.sha256("Kätzchen".encode()).hexdigest()
    assert prompt_hash("a") != prompt_hash("a ")


def test_bench_clip_prints_one_json_line_and_says_why_torch_is_missing(capsys):
    if importlib.util.find_spec("open_clip") is not None:
        pytest.skip("open_clip is installed here: the torch side would run (slow)")
    assert (
        cli.main(
            ["bench", "clip", "--images", "3", "--batch", "2", "--device", "cpu", "--repeat", "1"]
        )
        == 0
    )
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["provider"] == "CPUExecutionProvider" and result["ours_img_s"] > 0
    assert result["torch_img_s"] is None and result["speedup"] is None
    assert "torch side skipped" in err and "clip" in err
    assert result["int8"]["min_cosine_vs_fp32"] >= 0.99


def test_export_without_torch_says_to_install_the_clip_extra(tmp_path, capsys):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here: the export would run")
    with pytest.raises(SystemExit) as raised:
        cli.main(
            [
                "clip",
                "export",
                "--model",
                "ViT-B-32",
                "--pretrained",
                "none",
                "--out",
                str(tmp_path / "m"),
            ]
        )
    assert "clip" in str(raised.value) and "uv pip install -e '.[clip]'" in str(raised.value)
    assert not (tmp_path / "m").exists()
