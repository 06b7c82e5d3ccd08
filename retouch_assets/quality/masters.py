"""Masters decoded once: a cache of decoded masters and their CIELAB planes, keyed by the
master file's content hash and bounded in bytes.

A production week reuses a few masters across many outputs, often as copies in every batch's
folder: keyed by content, every copy of a master is decoded and converted to Lab once per
process (per run step, or per worker). Entries go least recently used first once the cache
holds more than `max_bytes`; an entry larger than the whole bound is computed for its caller
and not kept (recomputed when asked again), so memory stays within the bound plus the
entries in use. Thread-safe: one thread decodes a given master while the others wait for it.
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from retouch_assets.cores import available_cores
from retouch_assets.quality.decode import DEFAULT_BACKGROUND, DecodedImage, decode_srgb8
from retouch_assets.quality.measures import tile_energies
from retouch_assets.safe_paths import sha256_file

# A 1 MP master takes 27 MB (3 MB of pixels, 24 MB of float64 Lab planes): 256 MB keeps ~9
# of them, plenty when the work is ordered by master.
DEFAULT_MASTER_CACHE_MB = 256


def master_key(path: Path) -> str:
    """The cache key of a master file: its content hash (sha256), or `missing:<path>` when the file
    cannot be read (the decode then reports why, as it would without a cache)."""
    try:
        return sha256_file(path)
    except OSError:
        return f"missing:{path}"


@dataclass(frozen=True)
class Master:
    """A decoded master and its Lab planes (`delta_e.lab_planes`, shape (3, H, W)); its tile
    energies (`measures.tile_energies`, the sharpness reference) computed once, when first
    asked (~7 ms per 1 MP master, and a few kB)."""

    decoded: DecodedImage
    lab: np.ndarray

    @cached_property
    def tiles(self) -> np.ndarray:
        return tile_energies(self.decoded.pixels)

    @property
    def nbytes(self) -> int:
        return self.decoded.pixels.nbytes + self.lab.nbytes


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    not_kept: int = 0  # entries larger than the whole bound, computed and dropped


class MasterCache:
    """Decoded masters by content hash, least recently used out beyond `max_bytes`."""

    def __init__(
        self,
        max_bytes: int = DEFAULT_MASTER_CACHE_MB << 20,
        background: tuple[int, int, int] = DEFAULT_BACKGROUND,
    ):
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self._background = background
        self._entries: OrderedDict[str, Master] = OrderedDict()
        self._bytes = 0
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.stats = CacheStats()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, path: Path, key: str | None = None) -> Master:
        """The master at `path`; `key` is its content hash when the caller already has it.
        DecodeError when it cannot be decoded."""
        key = key or master_key(path)
        with self._guard:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return self._entries[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one thread decodes a given master; the others wait for it
            with self._guard:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    self.stats.hits += 1
                    return self._entries[key]
                self.stats.misses += 1
            master = _decode_master(path, self._background)
            with self._guard:
                self._locks.pop(key, None)
                self._keep(key, master)
            return master

    def _keep(self, key: str, master: Master) -> None:
        if master.nbytes > self.max_bytes:
            self.stats.not_kept += 1
            return
        self._entries[key] = master
        self._bytes += master.nbytes
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.nbytes
            self.stats.evictions += 1


def _decode_master(path: Path, background: tuple[int, int, int]) -> Master:
    from retouch_assets.quality.delta_e import lab_planes  # numba kernels: loaded on first use

    decoded = decode_srgb8(path, background)
    return Master(decoded, lab_planes(decoded.pixels))


def hash_masters(paths: list[Path], workers: int | None = None) -> dict[Path, str]:
    """The cache key of each distinct path, hashed on a thread pool (hashlib releases the GIL
    on large buffers)."""
    from concurrent.futures import ThreadPoolExecutor

    distinct = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=workers or available_cores()) as pool:
        return dict(zip(distinct, pool.map(master_key, distinct), strict=True))
