"""Measure a week of artifacts against their masters and briefs: ΔE00 (mean, p95), histogram
delta, sharpness relative to the master (gradient energy of luma), WCAG contrast per text
layer, perceptual hash, and duplicates within a campaign.

Artifacts run on a thread pool: decoding (Pillow, LittleCMS) and the ΔE kernel release the GIL.
A master's Lab is computed once per master content and reused by every attempt that shares it
(`masters.MasterCache`). A week of the pipeline runs on worker processes (`quality.week`).
"""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from retouch_assets.config import RetouchConfig
from retouch_assets.cores import available_cores
from retouch_assets.quality.decode import DecodeError, decode_srgb8
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary
from retouch_assets.quality.masters import MasterCache, hash_masters
from retouch_assets.quality.measures import (
    AA_LARGE,
    AA_NORMAL,
    LayerContrast,
    hex_to_rgb,
    histogram_delta_pct,
    layer_contrast,
    phash_hex,
    sharpness_ratio,
    tile_energies,
)
from retouch_assets.vocabulary import MeasureError


@dataclass(frozen=True)
class ArtifactInput:
    """One artifact attempt to measure: where its image and master are, and its brief."""

    artifact_id: str
    attempt: int
    campaign_id: str
    generated_at: datetime
    image_path: Path
    master_path: Path
    text_layers: Sequence[dict]
    processing_ms: int


@dataclass
class ArtifactMeasurement:
    artifact_id: str
    attempt: int
    campaign_id: str
    generated_at: datetime
    processing_ms: int
    delta_e_mean: float | None = None
    delta_e_p95: float | None = None
    hist_delta: float | None = None
    # Gradient energy of the luma (per pixel) of the artifact and of its master, and the
    # median of their tile-by-tile ratios (`measures.sharpness_ratio`); None on rows measured
    # before sharpness was.
    sharpness: float | None = None
    master_sharpness: float | None = None
    sharpness_ratio: float | None = None
    min_contrast_ratio: float | None = None
    wcag_aa_pass: bool | None = None
    phash: str | None = None
    duplicate_of: str | None = None
    width: int | None = None
    height: int | None = None
    image_profile: str | None = None
    master_profile: str | None = None
    measure_error: str | None = None
    layers: list[LayerContrast] = field(default_factory=list)
    # From the CLIP step (`retouch.clip_scores`); None when no model scored the artifact.
    clip_score: float | None = None
    prompt_drift: float | None = None
    prompt_drift_status: str | None = None
    clip_model_hash: str | None = None
    clip_untrained: bool | None = None


@dataclass(frozen=True)
class QualitySettings:
    normal_text_ratio: float = AA_NORMAL
    large_text_ratio: float = AA_LARGE
    background: tuple[int, int, int] = (255, 255, 255)
    duplicate_max_hamming: int = 6

    @classmethod
    def from_config(cls, config: "RetouchConfig") -> "QualitySettings":
        return cls(
            normal_text_ratio=config.gates.accessibility.normal_text_min_ratio,
            large_text_ratio=config.gates.accessibility.large_text_min_ratio,
            background=hex_to_rgb(config.quality.alpha_background),
            duplicate_max_hamming=config.quality.duplicate_max_hamming,
        )


def measure_artifact(
    item: ArtifactInput,
    masters: MasterCache,
    settings: QualitySettings,
    with_hash: bool = True,
    master_key: str | None = None,
) -> ArtifactMeasurement:
    """All per-artifact metrics; a failure is recorded in `measure_error`, never raised.
    `master_key` is the master's content hash when the caller has it (else it is hashed)."""
    result = ArtifactMeasurement(
        item.artifact_id, item.attempt, item.campaign_id, item.generated_at, item.processing_ms
    )
    try:
        image = decode_srgb8(item.image_path, settings.background)
    except DecodeError as exc:
        result.measure_error = f"{MeasureError.UNDECODABLE}: image {exc}"
        return result
    try:
        cached = masters.get(item.master_path, master_key)
    except DecodeError as exc:
        result.measure_error = f"{MeasureError.UNDECODABLE}: master {exc}"
        return result
    master, master_lab = cached.decoded, cached.lab
    pixels = image.pixels
    result.height, result.width = pixels.shape[:2]
    result.image_profile, result.master_profile = image.profile, master.profile
    result.phash = phash_hex(pixels) if with_hash else None
    try:
        result.layers = [
            layer_contrast(layer, pixels, settings.normal_text_ratio, settings.large_text_ratio)
            for layer in item.text_layers
        ]
    except ValueError as exc:
        result.measure_error = f"{MeasureError.BAD_TEXT_LAYER}: {exc}"
        return result
    if result.layers:
        result.min_contrast_ratio = min(layer.ratio for layer in result.layers)
        result.wcag_aa_pass = all(layer.passed for layer in result.layers)
    else:
        result.wcag_aa_pass = True  # no text, nothing to fail
    if pixels.shape != master.pixels.shape:
        result.measure_error = (
            f"{MeasureError.SIZE_MISMATCH}: image is {pixels.shape[1]}x{pixels.shape[0]}, "
            f"master is {master.pixels.shape[1]}x{master.pixels.shape[0]}"
        )
        return result
    result.delta_e_mean, result.delta_e_p95 = delta_e_summary(delta_e_map(pixels, master_lab))
    result.hist_delta = histogram_delta_pct(pixels, master.pixels)
    tiles, master_tiles = tile_energies(pixels), cached.tiles
    size = max(pixels.shape[0] - 1, 1) * max(pixels.shape[1] - 1, 1)
    result.sharpness = float(tiles.sum()) / size
    result.master_sharpness = float(master_tiles.sum()) / size
    result.sharpness_ratio = sharpness_ratio(tiles, master_tiles)
    return result


def measure_all(
    items: Sequence[ArtifactInput],
    settings: QualitySettings,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
    with_hash: bool = True,
) -> list[ArtifactMeasurement]:
    """Measure every artifact (order kept); `on_done(done, total)` reports progress."""
    masters = MasterCache(background=settings.background)
    keys = hash_masters([item.master_path for item in items], workers)
    # Attempts that share a master run next to each other, so its Lab stays cached.
    order = sorted(range(len(items)), key=lambda k: keys[items[k].master_path])
    results: list[ArtifactMeasurement | None] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=workers or available_cores()) as pool:
        futures = {
            pool.submit(
                measure_artifact, items[k], masters, settings, with_hash, keys[items[k].master_path]
            ): k
            for k in order
        }
        for done, future in enumerate(futures, start=1):
            results[futures[future]] = future.result()
            if on_done:
                on_done(done, len(items))
    # Every slot was filled above (one future per item), so nothing is dropped here.
    return [m for m in results if m is not None]


@dataclass(frozen=True)
class KnownHash:
    """An already measured artifact another one may duplicate (e.g. from earlier weeks)."""

    artifact_id: str
    campaign_id: str
    generated_at: datetime
    phash: str


class Hashed(Protocol):
    """A measured attempt as duplicate detection sees it (a measurement, or its record)."""

    @property
    def artifact_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def campaign_id(self) -> str: ...
    @property
    def generated_at(self) -> datetime: ...
    @property
    def phash(self) -> str | None: ...


def duplicates_of(
    measured: Iterable[Hashed], earlier: Iterable[KnownHash], max_distance: int
) -> dict[tuple[str, int], str]:
    """(artifact_id, attempt) -> the earliest artifact of the same campaign (by generated_at,
    then id) whose perceptual hash is within `max_distance` bits, for the attempts that have
    one; other attempts of the same artifact do not count. `measured` in (artifact_id,
    attempt) order gives the same answer on any path."""
    hashed = [(m, m.phash) for m in measured if m.phash]
    pool = [KnownHash(m.artifact_id, m.campaign_id, m.generated_at, h) for m, h in hashed]
    pool += list(earlier)
    by_campaign: dict[str, list[KnownHash]] = {}
    for known in sorted(pool, key=lambda k: (k.generated_at, k.artifact_id)):
        by_campaign.setdefault(known.campaign_id, []).append(known)
    packed = {
        campaign: np.array([int(k.phash, 16) for k in known], dtype=np.uint64)
        for campaign, known in by_campaign.items()
    }
    found = {}
    for m, phash in hashed:
        known = by_campaign[m.campaign_id]
        distances = np.bitwise_count(packed[m.campaign_id] ^ np.uint64(int(phash, 16)))
        for index in np.flatnonzero(distances <= max_distance):
            candidate = known[index]
            if (candidate.generated_at, candidate.artifact_id) >= (m.generated_at, m.artifact_id):
                break
            if candidate.artifact_id != m.artifact_id:
                found[(m.artifact_id, m.attempt)] = candidate.artifact_id
                break
    return found


def find_duplicates(
    measurements: Iterable[ArtifactMeasurement], earlier: Iterable[KnownHash], max_distance: int
) -> None:
    """Set `duplicate_of` on the measurements (see `duplicates_of`)."""
    measurements = list(measurements)
    found = duplicates_of(measurements, earlier, max_distance)
    for m in measurements:
        m.duplicate_of = found.get((m.artifact_id, m.attempt), m.duplicate_of)


def artifact_input(row: dict, file: Callable[[dict, str], Path]) -> ArtifactInput:
    """The measurement input of a generation row; `file(row, field)` locates its files."""
    return ArtifactInput(
        artifact_id=row["artifact_id"],
        attempt=row["attempt"],
        campaign_id=row["campaign_id"],
        generated_at=row["generated_at"],
        image_path=file(row, "image"),
        master_path=file(row, "master"),
        text_layers=row["text_layers"] or [],
        processing_ms=row["processing_ms"],
    )


_MEASURED_FIELDS = (
    "artifact_id",
    "attempt",
    "campaign_id",
    "generated_at",
    "delta_e_mean",
    "delta_e_p95",
    "hist_delta",
    "sharpness",
    "master_sharpness",
    "sharpness_ratio",
    "min_contrast_ratio",
    "wcag_aa_pass",
    "phash",
    "duplicate_of",
    "processing_ms",
    "width",
    "height",
    "image_profile",
    "master_profile",
    "measure_error",
)


def quality_rows(
    week: date,
    measurements: Iterable[ArtifactMeasurement],
    template_of: dict[tuple, str],
    clip_of: Mapping[tuple, Mapping] | None = None,
) -> list[dict]:
    """`retouch.artifact_quality` rows of a week's measurements; `clip_of` maps (artifact_id,
    attempt) to the CLIP columns (`clip_scores.quality_fields`)."""
    clip_of = clip_of or {}
    return [
        {k: getattr(m, k) for k in _MEASURED_FIELDS}
        | {
            "week": week,
            "template_id": template_of[(m.artifact_id, m.attempt)],
            "layer_contrast": json.dumps([layer.__dict__ for layer in m.layers]),
        }
        | dict(clip_of.get((m.artifact_id, m.attempt), {}))
        for m in measurements
    ]


def measurement_from_row(row: dict) -> ArtifactMeasurement:
    """Rebuild a measurement from its `retouch.artifact_quality` row (the inverse of
    `quality_rows`)."""
    names = {f.name for f in fields(ArtifactMeasurement)} - {"layers"}
    layers = [LayerContrast(**layer) for layer in json.loads(row["layer_contrast"] or "[]")]
    return ArtifactMeasurement(**{n: row[n] for n in names if n in row}, layers=layers)
