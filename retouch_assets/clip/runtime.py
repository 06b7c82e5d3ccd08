"""CLIP embeddings with ONNX Runtime from a directory made by `retouch clip export`; no torch.

`load_clip` verifies every file against `manifest.json`, then picks where and at what
precision to run, and says why (`ClipInfo.provider_reason`):

- CUDA with the fp16 towers when a GPU is usable (`device` "auto" or "cuda"). ONNX Runtime
  falls back to CPU *silently* when its CUDA provider cannot start, so the session's own
  provider list (`session.get_providers()[0]`) is what is reported, never what was asked;
- CPU with the fp32 towers otherwise; the int8 image tower only when asked for and offered by
  the export (its agreement with fp32 is in the manifest). fp16 never runs on CPU unless asked:
  it is slower there, and ONNX Runtime 1.31's CPU provider crashes on fp16 graphs at the default
  optimisation level (fp16 sessions therefore use the "extended" level everywhere).

Images are decoded with the project's hardened opener (regular files, known formats, pixel
limit) and preprocessed exactly as open_clip does for `Image.open(path)` (no EXIF rotation,
no colour management: scores stay comparable with open_clip's), on a thread pool, in
batches of `batch_size`: overlapped with inference on CUDA, between inference calls on CPU
(`ClipRuntime.overlap`).
"""

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retouch_assets.clip.manifest import ClipModelError, read_manifest, verify_files
from retouch_assets.clip.preprocess import PreprocessParams, preprocess, read_params
from retouch_assets.clip.tokenizer import ClipTokenizer, load_tokenizer
from retouch_assets.cores import available_cores

__all__ = ["ClipInfo", "ClipModelError", "ClipRuntime", "load_clip"]

DEVICES = ("auto", "cuda", "cpu")
PRECISIONS = ("auto", "fp32", "fp16", "int8")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_MAX_BATCH = 1024  # the export's dynamic batch axis allows 1..1024


@dataclass(frozen=True)
class ClipInfo:
    """Which model runs, where and at what precision, and why there (for logs and metadata)."""

    model_dir: str
    model_name: str
    model_hash: str  # manifest.model_hash: model name, checkpoint and every file's sha256
    untrained: bool  # a seeded random initialisation: its scores test plumbing, not judgement
    dim: int
    provider: str  # session.get_providers()[0]: what actually runs
    provider_reason: str
    precision: str  # "fp32" | "fp16" | "int8" (the image tower's; text is fp32 with int8)

    def as_metadata(self) -> dict[str, Any]:
        """Plain values for logs and asset metadata."""
        return asdict(self)


def _l2_normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), np.float32(1e-12))


def _no_cuda_device() -> str | None:
    """Why there is clearly no NVIDIA GPU to try, or None when one may be there (then ONNX
    Runtime is asked and its answer checked)."""
    if sys.platform != "linux":
        return None
    if any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/dxg").exists():
        return None
    return "no NVIDIA device on this machine (/dev/nvidia* absent)"


def _preload_cuda_libraries() -> None:
    """Load CUDA and cuDNN from NVIDIA's pip packages when installed (onnxruntime-gpu's
    `cuda`/`cudnn` extras, or torch's); ONNX Runtime prints what it could not find, which the
    fallback reason below says better."""
    import contextlib
    import io

    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        with contextlib.redirect_stdout(io.StringIO()):
            preload(directory="")


def _cuda_provider_problem() -> str:
    """Why ONNX Runtime's CUDA provider library does not load here (the loader's own message,
    e.g. "libcublasLt.so.13: cannot open shared object file"), or a generic note."""
    import ctypes

    import onnxruntime as ort

    library = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    if sys.platform == "linux" and library.is_file():
        try:
            ctypes.CDLL(str(library))
        except OSError as exc:
            return (
                f"its CUDA provider cannot load: {exc} "
                "(install the CUDA and cuDNN libraries it is built for)"
            )
    return "ONNX Runtime's CUDA provider did not start (it logs why on stderr)"


def _session_options(fp16: bool):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One inference at a time, spread over every core.
    options.intra_op_num_threads = available_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle inference threads sleep instead of spinning, leaving the cores to the decoding
    # threads between batches (measured faster end to end on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; what ran is reported in ClipInfo
    if fp16:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    return options


def _sessions(model_dir: Path, variant: dict[str, Any], providers: list, fp16: bool):
    import onnxruntime as ort

    return tuple(
        ort.InferenceSession(
            str(model_dir / variant[tower]), _session_options(fp16), providers=providers
        )
        for tower in ("image", "text")
    )


def _cpu_variant(manifest: dict[str, Any], precision: str) -> tuple[str, str]:
    """(precision, note) on CPU: fp32 unless int8 (offered) or fp16 was asked for."""
    if precision == "int8":
        if "int8" in manifest["variants"]:
            agreement = manifest["variants"]["int8"]["min_cosine_vs_fp32"]
            return "int8", f"int8 image tower as asked (min cosine vs fp32 {agreement:.5f})"
        return "fp32", "int8 asked, but this export does not offer it (see manifest int8): fp32"
    if precision == "fp16":
        return "fp16", "fp16 as asked (slower than fp32 on CPU)"
    return "fp32", "fp32"


def _choose(model_dir: Path, manifest: dict[str, Any], device: str, precision: str):
    """(image session, text session, precision, reason): see the module docstring."""
    import onnxruntime as ort

    cuda_reason = None
    if device in ("auto", "cuda"):
        if CUDA not in ort.get_available_providers():
            cuda_reason = "this ONNX Runtime build has no CUDA provider (install onnxruntime-gpu)"
        else:
            cuda_reason = _no_cuda_device()
        if cuda_reason is None:
            # The fp16 towers: CUDA's tensor cores; int8 is a CPU variant and fp32 only on request.
            _preload_cuda_libraries()
            gpu_precision = "fp32" if precision == "fp32" else "fp16"
            note = "" if precision in ("auto", gpu_precision) else f" ({precision} is CPU-only)"
            fp16 = gpu_precision == "fp16"
            image, text = _sessions(
                model_dir, manifest["variants"][gpu_precision], [CUDA, CPU], fp16
            )
            if image.get_providers()[0] == CUDA and text.get_providers()[0] == CUDA:
                return image, text, gpu_precision, f"CUDA available: {gpu_precision}{note}"
            del image, text
            cuda_reason = _cuda_provider_problem()
    cpu_precision, note = _cpu_variant(manifest, precision)
    image, text = _sessions(
        model_dir,
        {**manifest["variants"]["fp32"], **manifest["variants"][cpu_precision]},
        [CPU],
        cpu_precision == "fp16",
    )
    if image.get_providers()[0] != CPU:  # never expected: said rather than assumed
        raise ClipModelError(f"ONNX Runtime chose {image.get_providers()[0]} for CPU only")
    if device == "cpu":
        reason = f"CPU as asked: {note}"
    elif device == "cuda":
        reason = f"CUDA requested, not available: {cuda_reason}; CPU {note}"
    else:
        reason = f"CPU: {cuda_reason}; {note}"
    return image, text, cpu_precision, reason


def load_clip(
    model_dir: str | Path, *, device: str = "auto", batch_size: int = 32, precision: str = "auto"
) -> "ClipRuntime":
    """Verify every file hash in manifest.json, pick the provider and precision (module
    docstring), and create the ONNX Runtime sessions once.

    device: "auto" (CUDA when usable), "cuda" (same, but a fallback is reported as a request
    not met) or "cpu"; precision: "auto" (fp16 on CUDA, fp32 on CPU), "fp32", "fp16" or "int8"
    (CPU image tower, when the export offers it). ClipModelError for a bad directory.
    """
    if device not in DEVICES:
        raise ValueError(f"device {device!r}: one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
    if not 1 <= batch_size <= _MAX_BATCH:
        raise ValueError(f"batch_size {batch_size}: between 1 and {_MAX_BATCH}")
    model_dir = Path(model_dir)
    manifest = read_manifest(model_dir)
    verify_files(model_dir, manifest)
    try:
        params = read_params(model_dir)
    except ValueError as exc:
        raise ClipModelError(f"{model_dir}: preprocessing not supported: {exc}") from None
    tokenizer = load_tokenizer(
        str(model_dir / manifest["tokenizer"]["vocab"]), int(manifest["context_length"])
    )
    image, text, chosen, reason = _choose(model_dir, manifest, device, precision)
    info = ClipInfo(
        model_dir=str(model_dir),
        model_name=manifest["model_name"],
        model_hash=manifest["model_hash"],
        untrained=bool(manifest.get("untrained")),
        dim=int(manifest["dim"]),
        provider=image.get_providers()[0],
        provider_reason=reason,
        precision=chosen,
    )
    return ClipRuntime(info, image, text, tokenizer, params, batch_size)


def load_and_preprocess(path: str | os.PathLike, params: PreprocessParams) -> np.ndarray:
    """Decode an untrusted image file (first frame) and apply open_clip's transform; raises
    what decoding raises (see `retouch_assets.quality.decode`)."""
    from retouch_assets.quality.decode import open_image

    with open_image(path) as image:
        image.load()
        return preprocess(image, params)


def _decode_job(path: Path, params: PreprocessParams) -> np.ndarray | str:
    """The preprocessed pixels, or why the file could not be used (never raises)."""
    from retouch_assets.quality.decode import describe_failure

    try:
        return load_and_preprocess(path, params)
    except Exception as exc:  # untrusted input: every failure becomes that image's error
        return describe_failure(exc)


class ClipRuntime:
    """Loaded CLIP towers; create with `load_clip`. Safe to call from one thread at a time."""

    def __init__(
        self,
        info: ClipInfo,
        image_session,
        text_session,
        tokenizer: ClipTokenizer,
        params: PreprocessParams,
        batch_size: int,
        decode_workers: int | None = None,
    ):
        self.info = info
        self.params = params
        self.batch_size = batch_size
        self.decode_workers = decode_workers or max(1, min(8, available_cores()))
        # Decode alongside inference only when inference does not run on these CPU cores:
        # on 2 cores, decoding next to ONNX Runtime's CPU threads cost 10–50 % of the
        # throughput (contention, and the slowest thread sets the pace of each operator),
        # while decoding on both cores between batches cost less (docs/benchmarks.md).
        self.overlap = info.provider != CPU
        self._image = image_session
        self._text = text_session
        self._tokenizer = tokenizer
        self._image_input = image_session.get_inputs()[0].name
        self._text_input = text_session.get_inputs()[0].name

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """L2-normalised float32 embeddings of preprocessed images (n, 3, size, size)."""
        out = self._image.run(None, {self._image_input: np.ascontiguousarray(pixels)})[0]
        return _l2_normalised(out)

    def embed_token_ids(self, ids: np.ndarray) -> np.ndarray:
        """L2-normalised float32 embeddings of token ids (n, context_length) int64."""
        return _l2_normalised(self._text.run(None, {self._text_input: ids})[0])

    def encode_texts(self, prompts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings float32 (n, dim) L2-normalised, truncated bool (n,)): truncated rows
        were longer than the context (77 tokens) and were embedded cut."""
        tokens = self._tokenizer(list(prompts))
        embeddings = np.empty((len(prompts), self.info.dim), dtype=np.float32)
        for start in range(0, len(prompts), self.batch_size):
            stop = start + self.batch_size
            embeddings[start:stop] = self.embed_token_ids(tokens.ids[start:stop])
        return embeddings, tokens.truncated

    def encode_images(
        self,
        paths: Sequence[Path],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, list[str | None]]:
        """(embeddings float32 (n, dim) L2-normalised, with a NaN row where the image could not
        be read; the error text per image, or None). Files are taken `batch_size` at a time and
        decoded + preprocessed on a thread pool: on CUDA the next batch is decoded while the GPU
        embeds this one; on CPU, where inference already uses every core, the pool decodes each
        batch on every core between inference calls (see `overlap`). `on_progress(done,
        total)` after each batch."""
        total, size = len(paths), self.batch_size
        embeddings = np.full((total, self.info.dim), np.nan, dtype=np.float32)
        errors: list[str | None] = [None] * total
        starts = list(range(0, total, size))
        with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="clip-decode") as pool:

            def submit(start: int) -> list[Future]:
                return [
                    pool.submit(_decode_job, Path(p), self.params)
                    for p in paths[start : start + size]
                ]

            pending = submit(0) if starts else []
            for k, start in enumerate(starts):
                results = [f.result() for f in pending]
                following = starts[k + 1] if k + 1 < len(starts) else None
                if self.overlap and following is not None:
                    pending = submit(following)  # decoded while this batch is embedded
                rows = [start + i for i, r in enumerate(results) if not isinstance(r, str)]
                for i, r in enumerate(results):
                    if isinstance(r, str):
                        errors[start + i] = r
                if rows:
                    pixels = np.stack([r for r in results if not isinstance(r, str)])
                    embeddings[rows] = self.embed_pixels(pixels)
                if not self.overlap and following is not None:
                    pending = submit(following)
                if on_progress is not None:
                    on_progress(min(start + size, total), total)
        return embeddings, errors
