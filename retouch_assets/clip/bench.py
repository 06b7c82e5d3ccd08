# pyright: reportMissingImports=false
# (torch, open_clip and onnx come with the optional `clip` extra, imported lazily below)
"""`retouch bench clip`: image embeddings per second of this runtime against open_clip torch
eager, on the same model, device and image files, in one process.

- ours: `ClipRuntime.encode_images` end to end (decode + preprocess on a thread pool,
  overlapped with ONNX Runtime inference);
- torch: the usual open_clip loop, per batch: `preprocess(Image.open(p))` for each file, then
  `model.encode_image` under `torch.inference_mode()` (fp16 on CUDA when ours runs fp16);
- the weights are the export's: an untrained export is re-created from its seed, a
  checkpoint export from `pretrained` (its sha256 must match the manifest), and torch's
  embeddings are checked against the export's recorded `reference.npz`;
- `max_abs_diff`: the largest difference between the two normalised embeddings;
- when the export offers the int8 image tower and ours ran fp32 on CPU, its speed and its
  cosine agreement with fp32 on these images are reported too;
- `*_inference_img_s`: the same sides timed on inference alone, to show where time goes.

The images are 1 MP JPEG files cut from scikit-image's photographs, written to a temporary
folder. Each side runs once to warm up (session and kernel set-up, first-touch allocations),
then the sides take turns, `repeat` times, and each keeps its best time.
"""

import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from retouch_assets.clip.manifest import file_sha256, read_manifest
from retouch_assets.clip.runtime import ClipRuntime, load_clip
from retouch_assets.clip.samples import reference_images

_SIDE = (1152, 864)  # 1.0 MP, 4:3


def write_bench_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` 1 MP JPEG files: random crops of the reference photographs, scaled up."""
    rng = np.random.default_rng(seed)
    photos = [np.asarray(im.convert("RGB")) for _, im in reference_images()]
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w, _ = photo.shape
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = Image.fromarray(np.ascontiguousarray(photo[top : top + ch, left : left + cw]))
        path = folder / f"bench-{i:04d}.jpg"
        crop.resize(_SIDE, Image.Resampling.BILINEAR).save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


@dataclass
class _Side:
    """One contender: `run()` embeds every file once and returns (embeddings, seconds spent in
    inference alone); the best of the timed runs is kept."""

    run: Callable[[], tuple[np.ndarray, float]]
    seconds: float = float("inf")
    inference_seconds: float = float("inf")
    embeddings: np.ndarray | None = None

    def timed(self) -> None:
        started = time.perf_counter()
        embeddings, inference = self.run()
        self.seconds = min(self.seconds, time.perf_counter() - started)
        self.inference_seconds = min(self.inference_seconds, inference)
        self.embeddings = embeddings


def _ours(runtime: ClipRuntime, paths: list[Path]) -> _Side:
    """This runtime end to end; its inference alone is timed on pre-decoded pixels."""
    from retouch_assets.clip.runtime import load_and_preprocess

    pixels = np.stack([load_and_preprocess(p, runtime.params) for p in paths])
    b = runtime.batch_size

    def run() -> tuple[np.ndarray, float]:
        embeddings, errors = runtime.encode_images(paths)
        if any(errors):
            raise RuntimeError(f"bench images failed to decode: {[e for e in errors if e][:3]}")
        started = time.perf_counter()
        for i in range(0, len(pixels), b):
            runtime.embed_pixels(pixels[i : i + b])
        return embeddings, time.perf_counter() - started

    runtime.encode_images(paths[:b])  # warm-up
    return _Side(run)


def _torch_model(manifest: dict[str, Any], model_dir: Path, pretrained: str | None, cuda: bool):
    """open_clip's model with the export's weights, or (None, why)."""
    try:
        import open_clip
        import torch
    except ImportError as exc:
        return None, f"torch / open_clip not installed ({exc}): install the `clip` extra"
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from retouch_assets.clip.export import MODEL_CONFIG_DIR

    open_clip.add_model_config(MODEL_CONFIG_DIR)
    if manifest.get("untrained"):
        torch.manual_seed(int(manifest["seed"]))
        model = open_clip.create_model(manifest["model_name"], pretrained=None)
    elif pretrained is None:
        return None, "a checkpoint export: pass --pretrained CHECKPOINT for the torch side"
    elif file_sha256(pretrained) != manifest["checkpoint_sha256"]:
        return None, f"{pretrained} is not the checkpoint this model was exported from"
    else:
        model = open_clip.create_model(manifest["model_name"], pretrained=pretrained)
    model.eval()
    if cuda:
        model = model.to("cuda").half()
    transform = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    reference = np.load(model_dir / manifest["reference"])
    names = [str(n) for n in reference["image_names"]]
    photos = dict(reference_images())
    device = "cuda" if cuda else "cpu"
    with torch.inference_mode():
        pixels = torch.stack([transform(photos[n]) for n in names]).to(device)
        if cuda:
            pixels = pixels.half()
        check = model.encode_image(pixels, normalize=True).float().cpu().numpy()
    drift = float(np.abs(check - reference["image_embeddings"]).max())
    if drift > (1e-2 if cuda else 1e-5):
        return None, f"torch's weights differ from the export's (reference drift {drift:.2e})"
    return (model, transform, torch), None


def _torch_side(bundle, paths: list[Path], batch: int, cuda: bool) -> _Side:
    """open_clip's usual loop: decode and transform each file, then one forward per batch."""
    model, transform, torch = bundle
    device = "cuda" if cuda else "cpu"

    def run(files: list[Path] = paths) -> tuple[np.ndarray, float]:
        out, infer = [], 0.0
        with torch.inference_mode():
            for i in range(0, len(files), batch):
                pixels = torch.stack([transform(Image.open(p)) for p in files[i : i + batch]])
                pixels = pixels.to(device).half() if cuda else pixels
                started = time.perf_counter()
                # .cpu() waits for the GPU, so the time is the forward's, not its launch's.
                emb = model.encode_image(pixels, normalize=True).float().cpu()
                infer += time.perf_counter() - started
                out.append(emb.numpy())
        return np.concatenate(out), infer

    run(paths[:batch])  # warm-up
    return _Side(run)


def _device_name(provider: str) -> str:
    if provider == "CUDAExecutionProvider":
        try:
            import torch

            return f"cuda: {torch.cuda.get_device_name(0)}"
        except Exception:  # torch absent or without CUDA: the provider says enough
            return "cuda"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def bench_clip(
    model_dir: str | Path,
    *,
    batch: int = 32,
    images: int = 64,
    device: str = "auto",
    precision: str = "auto",
    pretrained: str | None = None,
    repeat: int = 2,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Run the benchmark (best of `repeat` runs per side, the sides interleaved so that both
    see the same machine load); `notes` collects why a side was skipped."""
    notes = notes if notes is not None else []
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    runtime = load_clip(model_dir, device=device, batch_size=batch, precision=precision)
    cuda = runtime.info.provider == "CUDAExecutionProvider"
    with tempfile.TemporaryDirectory(prefix="retouch-bench-clip-") as tmp:
        paths = write_bench_images(Path(tmp), images)
        sides = {"ours": _ours(runtime, paths)}
        bundle, why = _torch_model(manifest, model_dir, pretrained, cuda)
        if bundle is None:
            notes.append(f"torch side skipped: {why}")
        else:
            sides["torch"] = _torch_side(bundle, paths, batch, cuda)
        with_int8 = not cuda and runtime.info.precision == "fp32" and "int8" in manifest["variants"]
        if with_int8:
            int8 = load_clip(model_dir, device="cpu", batch_size=batch, precision="int8")
            sides["int8"] = _ours(int8, paths)
        for _ in range(max(1, repeat)):
            for side in sides.values():
                side.timed()

    def rate(seconds: float) -> float:
        return round(images / seconds, 2)

    ours = sides["ours"]
    assert ours.embeddings is not None
    result: dict[str, Any] = {
        "device": _device_name(runtime.info.provider),
        "provider": runtime.info.provider,
        "precision": runtime.info.precision,
        "batch": batch,
        "ours_img_s": rate(ours.seconds),
        "torch_img_s": None,
        "speedup": None,
        "max_abs_diff": None,
        "images": images,
        "model": runtime.info.model_name,
        "untrained": runtime.info.untrained,
        "ours_inference_img_s": rate(ours.inference_seconds),
        "torch_inference_img_s": None,
        "provider_reason": runtime.info.provider_reason,
    }
    if "torch" in sides:
        theirs = sides["torch"]
        assert theirs.embeddings is not None
        result.update(
            torch_img_s=rate(theirs.seconds),
            speedup=round(theirs.seconds / ours.seconds, 2),
            max_abs_diff=float(np.abs(ours.embeddings - theirs.embeddings).max()),
            torch_inference_img_s=rate(theirs.inference_seconds),
        )
    if "int8" in sides:
        quantised = sides["int8"]
        assert quantised.embeddings is not None
        cosines = np.sum(quantised.embeddings * ours.embeddings, axis=1)
        result["int8"] = {
            "img_s": rate(quantised.seconds),
            "gain": round(ours.seconds / quantised.seconds, 2),
            "inference_img_s": rate(quantised.inference_seconds),
            "min_cosine_vs_fp32": float(cosines.min()),
            "export_min_cosine_vs_fp32": manifest["variants"]["int8"]["min_cosine_vs_fp32"],
        }
    elif not cuda:
        result["int8"] = {"offered": False, **(manifest.get("int8") or {})}
    return result
