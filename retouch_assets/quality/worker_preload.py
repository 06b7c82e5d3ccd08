"""Imported only by the measurement workers' fork server (`quality.week`), never by the
pipeline's own modules: it imports what a worker needs and loads the numba kernels from their
on-disk cache once, so every worker forked from the server starts warm (instead of each
paying the imports and the kernel loading, about a second, for every step it serves)."""

from retouch_assets.quality import artifact, measures, week  # noqa: F401
from retouch_assets.quality.delta_e import compile_kernels

compile_kernels()
