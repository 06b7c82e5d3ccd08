"""The one entry point: `dagster dev` (workspace.yaml) loads `defs`; the `retouch` CLI builds the
same Definitions with its own settings through `build_definitions`.

Every sub-package of `retouch_assets.defs` is a layer and exposes `build_defs(settings)`; they
are found and merged here, with the resources built from the same settings. Nothing heavy
happens at import: no warehouse connection, no model; the one config section read at load time
(the weekly sync's schedule) is a small YAML file.
"""

import pkgutil
from importlib import import_module

import dagster as dg

from retouch_assets import defs as defs_package
from retouch_assets.defs.jobs import executor_for
from retouch_assets.defs.snapshot import sinks, snapshot_asset
from retouch_assets.resources import build_resources
from retouch_assets.settings import Settings, settings_from_env


def layer_modules() -> list:
    """The layer packages under `retouch_assets.defs`, in name order."""
    return [
        import_module(f"{defs_package.__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(defs_package.__path__), key=lambda i: i.name)
        if info.ispkg
    ]


def build_definitions(settings: Settings) -> dg.Definitions:
    layers = dg.Definitions.merge(*(layer.build_defs(settings) for layer in layer_modules()))
    return dg.Definitions.merge(
        layers,
        # The analysts' snapshot closes every weekly run: it depends on every sink.
        dg.Definitions(assets=[snapshot_asset(sinks(layers))]),
        dg.Definitions(
            resources=build_resources(settings),
            # DuckDB has one writer per file: by default the steps of a run execute one after
            # another in one process (the `retouch_warehouse` pool serialises steps across
            # runs); RETOUCH_EXECUTOR picks another (docs/deployment.md).
            executor=executor_for(settings.executor),
        ),
    )


defs = build_definitions(settings_from_env())
