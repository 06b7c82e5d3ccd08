"""A week of measurement on worker processes, outside the warehouse.

The asset reads the week's work list in one short read and closes the warehouse; this module
measures it and streams the results to Parquet files in a run-scoped folder; one short
transaction then loads them (`queries.load_measured_week`). Memory does not grow with the
week: images are decoded one at a time per worker, masters live in a bytes-bounded cache per
worker (`masters.MasterCache`), each chunk's rows go to disk as soon as they are measured, and
only a perceptual-hash record per attempt (for duplicates, ~150 bytes) comes back.

The work is ordered by master content hash and cut into chunks of `chunk_size` attempts, so
the attempts of one master run one after another on one worker, which decodes it once.
`workers=1` runs the same chunks in this process, in the same order: the serial path that the
parallel one is tested against.
"""

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from retouch_assets.config import RetouchConfig
from retouch_assets.cores import available_cores
from retouch_assets.quality.artifact import (
    ArtifactInput,
    QualitySettings,
    measure_artifact,
    quality_rows,
)
from retouch_assets.quality.masters import MasterCache, hash_masters
from retouch_assets.quality.tables import ARTIFACT_QUALITY


@dataclass(frozen=True)
class MeasureOptions:
    """How a week is measured (`quality:` in retouch-slo.yaml)."""

    workers: int = 1
    chunk_size: int = 16
    master_cache_mb: int = 256

    @classmethod
    def from_config(cls, config: RetouchConfig) -> "MeasureOptions":
        quality = config.quality
        return cls(
            workers=resolve_workers(quality.workers),
            chunk_size=quality.chunk_size,
            master_cache_mb=quality.master_cache_mb,
        )


def resolve_workers(workers: int | str) -> int:
    """`auto`: one worker per available core; a number: that many."""
    return available_cores() if workers == "auto" else int(workers)


@dataclass(frozen=True)
class WorkItem:
    """One attempt to measure, with what its row needs besides the measurement."""

    item: ArtifactInput
    master_key: str  # the master file's content hash (the cache key)
    template_id: str
    clip: Mapping  # the CLIP step's columns (`clip_scores.quality_fields`)


@dataclass(frozen=True)
class HashRecord:
    """What duplicate detection needs of a measured attempt."""

    artifact_id: str
    attempt: int
    campaign_id: str
    generated_at: datetime
    phash: str


@dataclass
class MeasuredWeek:
    """The Parquet files of a week's rows (one per chunk) and the attempts' hash records."""

    files: list[Path] = field(default_factory=list)
    hashes: list[HashRecord] = field(default_factory=list)
    rows: int = 0
    cache_hits: int = 0
    cache_misses: int = 0


@dataclass(frozen=True)
class ChunkResult:
    path: Path
    rows: int
    hashes: list[HashRecord]
    cache_hits: int
    cache_misses: int


def work_items(
    generations: Sequence[dict],
    file: Callable[[dict, str], Path],
    clip_of: Mapping[tuple, Mapping],
    hash_workers: int | None = None,
) -> list[WorkItem]:
    """The week's work list from its `generations_to_measure` rows, each master hashed once."""
    from retouch_assets.quality.artifact import artifact_input

    inputs = [artifact_input(g, file) for g in generations]
    keys = hash_masters([i.master_path for i in inputs], hash_workers)
    return [
        WorkItem(
            item,
            keys[item.master_path],
            g["template_id"],
            dict(clip_of.get((item.artifact_id, item.attempt), {})),
        )
        for item, g in zip(inputs, generations, strict=True)
    ]


def plan_chunks(work: Sequence[WorkItem], chunk_size: int) -> list[list[WorkItem]]:
    """The work ordered by master (then artifact, attempt), cut into chunks of `chunk_size`."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    ordered = sorted(work, key=lambda w: (w.master_key, w.item.artifact_id, w.item.attempt))
    return [ordered[k : k + chunk_size] for k in range(0, len(ordered), chunk_size)]


# The cache of a worker process (set by `_start_worker`); the serial path passes its own.
_worker_cache: MasterCache | None = None


def _start_worker(max_bytes: int, background: tuple[int, int, int]) -> None:
    global _worker_cache
    _worker_cache = MasterCache(max_bytes, background)


def measure_chunk(
    week: date,
    chunk: Sequence[WorkItem],
    settings: QualitySettings,
    path: Path,
    cache: MasterCache | None = None,
) -> ChunkResult:
    """Measure a chunk and write its `retouch.artifact_quality` rows (duplicate_of not yet
    set) to a Parquet file at `path`, written under a temporary name and renamed."""
    import pyarrow.parquet as pq  # in the workers; kept out of the run's start-up

    masters = cache if cache is not None else _worker_cache
    if masters is None:
        raise RuntimeError("measure_chunk runs in a worker started by measure_week")
    hits, misses = masters.stats.hits, masters.stats.misses
    measured = [measure_artifact(w.item, masters, settings, master_key=w.master_key) for w in chunk]
    keys = {(w.item.artifact_id, w.item.attempt): w for w in chunk}
    rows = quality_rows(
        week,
        measured,
        {k: w.template_id for k, w in keys.items()},
        {k: w.clip for k, w in keys.items()},
    )
    temp = path.with_name(path.name + ".tmp")
    pq.write_table(ARTIFACT_QUALITY.rows(rows), temp, compression="zstd")
    os.replace(temp, path)
    hashes = [
        HashRecord(m.artifact_id, m.attempt, m.campaign_id, m.generated_at, m.phash)
        for m in measured
        if m.phash
    ]
    return ChunkResult(
        path, len(rows), hashes, masters.stats.hits - hits, masters.stats.misses - misses
    )


def measure_week(
    week: date,
    work: Sequence[WorkItem],
    settings: QualitySettings,
    options: MeasureOptions,
    folder: Path,
    on_done: Callable[[int, int], None] | None = None,
) -> MeasuredWeek:
    """Measure the week's work into Parquet files under `folder` (which must exist and be
    empty), on `options.workers` processes (1: in this process). `on_done(done, total)`
    reports progress in attempts."""
    chunks = plan_chunks(work, options.chunk_size)
    paths = [folder / f"chunk-{k:06d}.parquet" for k in range(len(chunks))]
    result = MeasuredWeek()
    total = len(work)

    def collect(chunk_result: ChunkResult) -> None:
        result.files.append(chunk_result.path)
        result.hashes.extend(chunk_result.hashes)
        result.rows += chunk_result.rows
        result.cache_hits += chunk_result.cache_hits
        result.cache_misses += chunk_result.cache_misses
        if on_done:
            on_done(result.rows, total)

    cache_bytes = options.master_cache_mb << 20
    if options.workers <= 1 or len(chunks) <= 1:
        cache = MasterCache(cache_bytes, settings.background)
        for chunk, path in zip(chunks, paths, strict=True):
            collect(measure_chunk(week, chunk, settings, path, cache))
    else:
        for chunk_result in _on_workers(week, chunks, paths, settings, options, cache_bytes):
            collect(chunk_result)
    # Chunks finish in any order; the files and hashes are kept in the planned order.
    order = {path: k for k, path in enumerate(paths)}
    result.files.sort(key=order.__getitem__)
    result.hashes.sort(key=lambda h: (h.artifact_id, h.attempt))
    return result


WORKER_PRELOAD = "retouch_assets.quality.worker_preload"


def _worker_context():
    context = multiprocessing.get_context("forkserver")
    # Read when the server starts (once per process); later calls change nothing.
    context.set_forkserver_preload([WORKER_PRELOAD])
    return context


def start_worker_server() -> None:
    """Start the workers' fork server now, without waiting for it: it imports the measurement
    code and loads the kernels (~1.5 s of CPU) on a core of its own while the caller is still
    starting up (`retouch run`: imports, definitions), instead of when the first week's
    measurement would wait for it. Nothing happens if it already runs."""
    from multiprocessing import forkserver

    _worker_context()
    forkserver.ensure_running()


def _on_workers(
    week: date,
    chunks: list[list[WorkItem]],
    paths: list[Path],
    settings: QualitySettings,
    options: MeasureOptions,
    cache_bytes: int,
) -> Iterator[ChunkResult]:
    """Chunk results as workers finish them. Workers are forked from a fork server (not from
    this process, which runs Dagster's and DuckDB's threads) that has imported the
    measurement code and loaded the kernels once (`worker_preload`); at most two chunks per
    worker are queued, so pending work is not all pickled at once."""
    context = _worker_context()
    workers = min(options.workers, len(chunks))
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(cache_bytes, settings.background),
    ) as pool:
        pending: set[Future[ChunkResult]] = set()
        queued = iter(zip(chunks, paths, strict=True))
        try:
            for chunk, path in queued:
                pending.add(pool.submit(measure_chunk, week, chunk, settings, path))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
