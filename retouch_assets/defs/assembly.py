"""Assembling the Definitions from every layer, for given settings. `definitions.py` (what
`dagster dev` loads) calls it with the environment's settings at import; the `retouch` CLI
calls it with its own, without importing `definitions.py`, so a run builds its Definitions once
and an environment the command line overrides is never checked."""

import pkgutil
from importlib import import_module

import dagster as dg

from retouch_assets import defs as defs_package
from retouch_assets.defs.jobs import executor_for
from retouch_assets.defs.snapshot import sinks, snapshot_asset
from retouch_assets.resources import build_resources
from retouch_assets.settings import Settings


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
