"""The one entry point: `dagster dev` (workspace.yaml) loads `defs`; the `retouch` CLI builds the
same Definitions with its own settings through `build_definitions` (`defs/assembly.py`).

Every sub-package of `retouch_assets.defs` is a layer and exposes `build_defs(settings)`; they
are found and merged there, with the resources built from the same settings. Nothing heavy
happens at import: no warehouse connection, no model, no Great Expectations, numba or ONNX
Runtime (each is imported by the step that needs it); the one config section read at load time
(the weekly sync's schedule) is a small YAML file.
"""

from retouch_assets.defs.assembly import build_definitions, layer_modules
from retouch_assets.settings import settings_from_env

__all__ = ["build_definitions", "defs", "layer_modules"]

defs = build_definitions(settings_from_env())
