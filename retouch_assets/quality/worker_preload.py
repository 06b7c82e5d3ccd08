"""Imported only by the measurement workers' fork server (`quality.week`), never by the
pipeline's own modules: it imports what a worker needs and loads the numba kernels from their
on-disk cache once, so every worker forked from the server starts warm (instead of each
paying the imports and the kernel loading, about a second, for every step it serves).

That includes what the measurement imports lazily on first use: the perceptual hash
(imagehash, which imports scipy.fftpack when first called), the Parquet writer of each
chunk's results (pyarrow.parquet, and pandas through pyarrow's conversions) and Pillow's
common image plugins. Workers are forked
afresh for every week, so without these each worker paid them again in every week's first
chunk (1.6 s of a 3.2 s first chunk of 8 attempts, profiled at load ≈ 6)."""

import imagehash  # noqa: F401
import pandas  # noqa: F401
import pyarrow.pandas_compat  # noqa: F401
import pyarrow.parquet  # noqa: F401
import scipy.fftpack  # noqa: F401
from PIL import Image

from retouch_assets.quality import artifact, measures, week  # noqa: F401
from retouch_assets.quality.delta_e import compile_kernels

Image.preinit()
compile_kernels()
