"""`manifest.json` of an exported CLIP model: what was exported, from which checkpoint, and
the sha256 of every file, so that a score can name the exact model that produced it.

`model_hash` identifies the model: the sha256 of a canonical JSON of the open_clip model
name, the checkpoint's sha256 (or the seed of an untrained export) and every listed file's
sha256. Two directories with the same files have the same `model_hash`, wherever they live.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

MANIFEST_FILENAME = "manifest.json"
MANIFEST_FORMAT = "retouch-clip/1"
_CHUNK = 1 << 20


class ClipModelError(ValueError):
    """The model directory is missing, incomplete, altered or not an export of ours; the
    message names the file and says how to fix it."""


def file_sha256(path: str | Path) -> str:
    """sha256 hex of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(path: Path) -> dict[str, Any]:
    """A manifest entry: the file's sha256 and size in bytes."""
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def model_hash(manifest: dict[str, Any]) -> str:
    """The one hash naming an exported model (see the module docstring)."""
    identity = {
        "model_name": manifest["model_name"],
        "checkpoint_sha256": manifest.get("checkpoint_sha256"),
        "seed": manifest.get("seed") if manifest.get("untrained") else None,
        "files": {name: entry["sha256"] for name, entry in sorted(manifest["files"].items())},
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """The parsed manifest of `model_dir`; ClipModelError when it is absent or not ours."""
    path = model_dir / MANIFEST_FILENAME
    if not model_dir.is_dir():
        raise ClipModelError(
            f"CLIP model directory {model_dir} does not exist: export one with "
            "`retouch clip export --model ViT-B-32 --pretrained CHECKPOINT --out DIR`"
        )
    if not path.is_file():
        raise ClipModelError(
            f"{path} is missing: {model_dir} is not a model exported by `retouch clip export`"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClipModelError(f"{path} cannot be read: {exc}; export the model again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ClipModelError(
            f"{path}: format {found!r}, expected {MANIFEST_FORMAT!r}; export the model again "
            "with this version of `retouch clip export`"
        )
    for key in ("model_name", "files", "variants", "dim", "context_length", "tokenizer"):
        if key not in manifest:
            raise ClipModelError(f"{path}: no {key!r}; export the model again")
    return manifest


def verify_files(model_dir: Path, manifest: dict[str, Any]) -> None:
    """Check the manifest's own `model_hash` and every listed file's sha256; ClipModelError
    naming the first mismatch, the expected and actual sha256, and the fix."""
    computed = model_hash(manifest)
    if manifest.get("model_hash") != computed:
        raise ClipModelError(
            f"{model_dir / MANIFEST_FILENAME}: model_hash {manifest.get('model_hash')} does not "
            f"match its own entries (expected {computed}): the manifest was edited; re-export "
            "the model with `retouch clip export`"
        )
    for name, entry in sorted(manifest["files"].items()):
        path = model_dir / name
        if Path(name).name != name:  # the manifest names files in the directory, nothing else
            raise ClipModelError(f"{model_dir / MANIFEST_FILENAME}: file entry {name!r} is a path")
        if not path.is_file():
            raise ClipModelError(
                f"{path} is missing (listed in {MANIFEST_FILENAME} with sha256 "
                f"{entry['sha256']}); copy the whole model directory again or re-export it"
            )
        actual = file_sha256(path)
        if actual != entry["sha256"]:
            raise ClipModelError(
                f"{path}: sha256 {actual} does not match {MANIFEST_FILENAME} (expected "
                f"{entry['sha256']}): the file was altered or truncated; copy the model "
                "directory again from its source, or re-export it with `retouch clip export`"
            )
