# pyright: reportMissingImports=false
# (torch, open_clip and onnx come with the optional `clip` extra, imported lazily below)
"""`retouch clip export`: an open_clip model → a directory ONNX Runtime scores with, no torch.

The directory holds the image and text towers as ONNX (fp32; fp16 for CUDA; an int8
dynamically quantised image tower for CPU when it agrees with fp32), the BPE vocabulary,
`preprocess.json`, `reference.npz` (open_clip torch's own embeddings of the reference photos
and prompts, so any machine can check ONNX Runtime against torch without torch) and
`manifest.json` with every file's sha256. It is written to a temporary sibling directory and
renamed into place, so a failed export leaves nothing half-written behind.

torch and open_clip (the `clip` extra) are imported inside the functions: the rest of the
project never needs them.
"""

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from retouch_assets.clip.manifest import (
    MANIFEST_FILENAME,
    MANIFEST_FORMAT,
    describe_file,
    file_sha256,
    model_hash,
)
from retouch_assets.clip.preprocess import PREPROCESS_FILENAME, PreprocessParams, preprocess
from retouch_assets.clip.samples import REFERENCE_PROMPTS, reference_images
from retouch_assets.clip.tokenizer import BPE_FILENAME, load_tokenizer

MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
REFERENCE_FILENAME = "reference.npz"
# The int8 image tower is offered only when every reference photo's int8 embedding has at
# least this cosine similarity with its fp32 embedding (CLIP scores differ by ~1e-2 between
# a matching and an unrelated caption, so 0.99 keeps rankings, 0.9 would not).
INT8_MIN_COSINE = 0.99
# The export is refused when ONNX Runtime (fp32) and torch differ by more than this on the
# normalised reference embeddings.
PARITY_TOLERANCE = 1e-4
_TRACE_BATCH = 2  # dynamic batch axes must be traced with more than one row
_MAX_BATCH = 1024

INSTALL_HINT = (
    "`retouch clip export` needs torch and open_clip: install the `clip` extra "
    "(`uv pip install -e '.[clip]'`, or `pip install -e '.[clip]'`) into a separate "
    "environment; the scoring runtime itself never needs them"
)


class ClipExportUnavailable(RuntimeError):
    """torch / open_clip / onnx are not installed here."""


class ClipExportError(ValueError):
    """The export cannot be made as asked (unknown model, checkpoint not a file, a tokenizer
    this runtime does not reproduce, ONNX Runtime disagreeing with torch)."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    manifest: dict[str, Any]
    seconds: float


def _require_export_stack():
    """Import torch, open_clip and onnx, or say how to install them."""
    try:
        import onnx  # noqa: F401
        import open_clip
        import torch
    except ImportError as exc:
        raise ClipExportUnavailable(f"{INSTALL_HINT} ({exc})") from None
    open_clip.add_model_config(MODEL_CONFIG_DIR)
    return torch, open_clip


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _create_model(open_clip, torch, model_name: str, pretrained: str | None, seed: int):
    if model_name not in open_clip.list_models():
        raise ClipExportError(
            f"unknown open_clip model {model_name!r}; known: ViT-B-32, ViT-B-32-quickgelu "
            "(OpenAI weights), ViT-L-14, ..., and retouch-tiny-vit (tests)"
        )
    # Seeded before creation: an untrained export is reproducible from (model, seed).
    torch.manual_seed(seed)
    model = open_clip.create_model(model_name, pretrained=pretrained, device="cpu")
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    simple = open_clip.tokenizer.SimpleTokenizer
    if (
        type(tokenizer) is not simple
        or tokenizer.clean_fn is not open_clip.tokenizer._clean_lower
        or tokenizer.reduction_fn is not None
    ):
        raise ClipExportError(
            f"{model_name} does not use open_clip's plain CLIP tokenizer (clean='lower'), "
            "which is the only one the torch-free runtime reproduces"
        )
    return model, tokenizer


def _export_towers(torch, model, workdir: Path, size: int, context_length: int) -> int:
    """Write image.onnx and text.onnx (fp32, dynamic batch) with the dynamo exporter."""

    class ImageTower(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, pixels):
            return self.clip.encode_image(pixels)

    class TextTower(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, tokens):
            return self.clip.encode_text(tokens)

    batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(_TRACE_BATCH, 3, size, size, generator=generator)
    tokens = torch.randint(1, 49406, (_TRACE_BATCH, context_length), generator=generator)
    tokens[:, 0], tokens[:, -1] = 49406, 49407
    for wrapper, example, path, input_name in (
        (ImageTower(model).eval(), pixels, workdir / "image.onnx", "pixels"),
        (TextTower(model).eval(), tokens, workdir / "text.onnx", "tokens"),
    ):
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                (example,),
                str(path),
                dynamo=True,
                input_names=[input_name],
                output_names=["clip_features"],  # "embedding" names an internal value
                dynamic_shapes=({0: batch},),
                external_data=False,
                verbose=False,
            )
    for tower in ("image.onnx", "text.onnx"):
        _strip_debug_info(workdir / tower)
    import onnx

    proto = onnx.load(str(workdir / "image.onnx"), load_external_data=False)
    return next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (Python stack traces with this machine's
    source paths and line numbers, FX node dumps): it makes the files larger and their bytes,
    hence `model_hash`, depend on where and from which source revision they were exported."""
    import onnx

    model = onnx.load(str(path))

    def strip(graph) -> None:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    strip(attribute.g)
                for sub in attribute.graphs:
                    strip(sub)
        for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
            del value.metadata_props[:]
        graph.doc_string = ""

    strip(model.graph)
    for function in model.functions:
        for node in function.node:
            del node.metadata_props[:]
            node.doc_string = ""
    onnx.save(model, str(path))


def _to_fp16(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # keep_io_types: the session still takes float32 pixels and returns float32 embeddings.
    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))


def _to_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul/Gemm only: ConvInteger (the patch embedding) has no fast CPU kernel and the
    # transformer's matrix products are where the time goes.
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
    )


def _normalised(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _torch_reference(torch, open_clip, model, tokenizer, model_name: str) -> dict[str, Any]:
    """open_clip's own preprocessing, tokenizer and towers on the reference photos and prompts."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    transform = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    names, images = zip(*reference_images(), strict=True)
    with torch.no_grad():
        pixels = torch.stack([transform(im) for im in images])
        image_emb = model.encode_image(pixels, normalize=True).numpy()
        ids = tokenizer(list(REFERENCE_PROMPTS))
        text_emb = model.encode_text(ids, normalize=True).numpy()
    return {
        "image_names": np.array(names),
        "image_embeddings": image_emb.astype(np.float32),
        "prompts": np.array(REFERENCE_PROMPTS),
        "text_ids": ids.numpy().astype(np.int64),
        "text_embeddings": text_emb.astype(np.float32),
    }


def _ort_embed(path: Path, inputs: np.ndarray, fp16: bool = False) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if fp16:  # fp16 graphs crash ORT 1.31's CPU provider at the default optimisation level
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return _normalised(np.asarray(session.run(None, {name: inputs})[0]))


def export_model(
    model_name: str,
    pretrained: str | None,
    out: str | Path,
    *,
    seed: int = 0,
    int8: bool = True,
    force: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export open_clip `model_name` with the checkpoint file `pretrained` (None: a random
    initialisation seeded with `seed`, marked untrained) to the directory `out`."""
    started = time.perf_counter()
    step = on_step or (lambda _message: None)
    out = Path(out)
    if out.exists() and not force:
        raise ClipExportError(f"{out} exists; pass --force to replace it")
    checkpoint_sha256 = None
    if pretrained is not None:
        # A tag would make open_clip download weights: only a local file is accepted.
        if not Path(pretrained).is_file():
            raise ClipExportError(
                f"--pretrained {pretrained}: not a file (give a local open_clip checkpoint, "
                "or `none` for a seeded untrained model)"
            )
        step(f"hashing {pretrained}")
        checkpoint_sha256 = file_sha256(pretrained)
    torch, open_clip = _require_export_stack()
    source = f"untrained, seed {seed}" if pretrained is None else "checkpoint"
    step(f"creating {model_name} ({source})")
    model, tokenizer = _create_model(open_clip, torch, model_name, pretrained, seed)
    params = PreprocessParams.from_config(model.visual.preprocess_cfg)
    context_length = int(model.context_length)
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        step("exporting the image and text towers to ONNX (fp32)")
        opset = _export_towers(torch, model, workdir, params.size, context_length)
        step("converting to fp16 (for CUDA)")
        _to_fp16(workdir / "image.onnx", workdir / "image.fp16.onnx")
        _to_fp16(workdir / "text.onnx", workdir / "text.fp16.onnx")
        shutil.copyfile(open_clip.tokenizer.default_bpe(), workdir / BPE_FILENAME)
        (workdir / PREPROCESS_FILENAME).write_text(
            json.dumps(params.to_config(), indent=2) + "\n", encoding="utf-8"
        )
        step("recording open_clip torch reference outputs")
        reference = _torch_reference(torch, open_clip, model, tokenizer, model_name)
        np.savez(workdir / REFERENCE_FILENAME, **reference)  # type: ignore[arg-type]

        step("checking ONNX Runtime against torch")
        ours_ids = load_tokenizer(str(workdir / BPE_FILENAME), context_length)(REFERENCE_PROMPTS)
        if not np.array_equal(ours_ids.ids, reference["text_ids"]):
            raise ClipExportError("the torch-free tokenizer disagrees with open_clip's")
        pixels = np.stack([preprocess(im, params) for _, im in reference_images()])
        variants: dict[str, Any] = {"fp32": {"image": "image.onnx", "text": "text.onnx"}}
        parity = {
            "image_max_abs_diff": float(
                np.abs(
                    _ort_embed(workdir / "image.onnx", pixels) - reference["image_embeddings"]
                ).max()
            ),
            "text_max_abs_diff": float(
                np.abs(
                    _ort_embed(workdir / "text.onnx", ours_ids.ids) - reference["text_embeddings"]
                ).max()
            ),
        }
        if max(parity.values()) > PARITY_TOLERANCE:
            raise ClipExportError(
                f"ONNX Runtime disagrees with torch beyond {PARITY_TOLERANCE}: {parity}"
            )
        fp32_images = _ort_embed(workdir / "image.onnx", pixels)
        variants["fp16"] = {
            "image": "image.fp16.onnx",
            "text": "text.fp16.onnx",
            "image_max_abs_diff_vs_fp32": float(
                np.abs(
                    _ort_embed(workdir / "image.fp16.onnx", pixels, fp16=True) - fp32_images
                ).max()
            ),
        }
        int8_report = None
        if int8:
            step("quantising the image tower to int8 and measuring its agreement")
            _to_int8(workdir / "image.onnx", workdir / "image.int8.onnx")
            cosines = np.sum(_ort_embed(workdir / "image.int8.onnx", pixels) * fp32_images, axis=1)
            int8_report = {
                "min_cosine_vs_fp32": float(cosines.min()),
                "mean_cosine_vs_fp32": float(cosines.mean()),
                "images": len(cosines),
                "threshold": INT8_MIN_COSINE,
                "offered": bool(cosines.min() >= INT8_MIN_COSINE),
            }
            if int8_report["offered"]:
                variants["int8"] = {"image": "image.int8.onnx", "text": "text.onnx", **int8_report}
            else:
                (workdir / "image.int8.onnx").unlink()

        files = sorted(p.name for p in workdir.iterdir())
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT,
            "model_name": model_name,
            "checkpoint": Path(pretrained).name if pretrained else None,
            "checkpoint_sha256": checkpoint_sha256,
            "untrained": pretrained is None,
            "seed": seed if pretrained is None else None,
            "dim": int(reference["image_embeddings"].shape[1]),
            "context_length": context_length,
            "image_size": params.size,
            "tokenizer": {
                "kind": "open_clip.SimpleTokenizer",
                "vocab": BPE_FILENAME,
                "clean": "lower",
                "sot_id": 49406,
                "eot_id": 49407,
                "special_literals": "escaped",
            },
            "preprocess": PREPROCESS_FILENAME,
            "reference": REFERENCE_FILENAME,
            "variants": variants,
            "int8": int8_report,
            "parity_vs_torch": parity,
            "files": {name: describe_file(workdir / name) for name in files},
            "exported_with": {
                "exporter": "torch.onnx.export(dynamo=True)",
                "opset": opset,
                **{
                    p: _version(p)
                    for p in ("torch", "open-clip-torch", "onnx", "onnxscript", "onnxruntime-gpu")
                },
            },
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        manifest["model_hash"] = model_hash(manifest)
        (workdir / MANIFEST_FILENAME).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        os.chmod(workdir, 0o755)  # mkdtemp makes it private
        _replace_dir(workdir, out)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return ExportResult(out=out, manifest=manifest, seconds=time.perf_counter() - started)


def _replace_dir(new: Path, out: Path) -> None:
    """Rename `new` to `out`; an existing `out` (with --force) is moved aside first and
    removed only once the new directory is in place."""
    if not out.exists():
        new.rename(out)
        return
    old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)
