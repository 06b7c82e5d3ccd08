"""CLIP scoring without torch: open_clip models exported to ONNX, run with ONNX Runtime.

- `tokenizer`: open_clip's SimpleTokenizer, re-implemented (ids identical), with a per-prompt
  truncation flag;
- `preprocess`: open_clip's image transform in Pillow + numpy (pixels identical);
- `runtime`: loads an exported model directory (every file's hash verified), picks the
  execution provider and precision, and embeds prompts and image files;
- `export`: `retouch clip export` (needs the `clip` extra: torch and open_clip, imported lazily);
- `bench`: `retouch bench clip`, this runtime against open_clip torch eager on the same model;
- `samples`: the deterministic real photographs and prompts the export's reference outputs,
  the benchmark and the tests use.

Nothing here imports Dagster; nothing heavy is imported when the package is imported.
"""

from pathlib import Path

# The seeded, untrained tiny model committed with the sample (`make demo` without a real model):
# its scores exercise the plumbing, not the judgement.
DEMO_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "clip-untrained-tiny"
