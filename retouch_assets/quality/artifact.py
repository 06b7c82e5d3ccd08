"""Measure a week of artifacts against their masters and briefs: ΔE00 (mean, p95), histogram
delta, WCAG contrast per text layer, perceptual hash, and duplicates within a campaign.

Artifacts run on a thread pool: decoding (Pillow, LittleCMS) and the ΔE kernel release the GIL.
A master's Lab is computed once per master file and reused by every attempt that shares it.
"""

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path

import numpy as np

from retouch_assets.config import RetouchConfig
from retouch_assets.quality.decode import DecodedImage, DecodeError, decode_srgb8
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, lab_planes
from retouch_assets.quality.measures import (
    AA_LARGE,
    AA_NORMAL,
    LayerContrast,
    hex_to_rgb,
    histogram_delta_pct,
    layer_contrast,
    phash_hex,
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


class MasterCache:
    """Decoded masters and their Lab planes, shared by threads; least recently used out."""

    def __init__(self, capacity: int = 16, background: tuple[int, int, int] = (255, 255, 255)):
        self._capacity = capacity
        self._background = background
        self._entries: OrderedDict[Path, tuple[DecodedImage, np.ndarray]] = OrderedDict()
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, path: Path) -> tuple[DecodedImage, np.ndarray]:
        with self._guard:
            if path in self._entries:
                self._entries.move_to_end(path)
                return self._entries[path]
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:  # one thread decodes a given master; the others wait for it
            with self._guard:
                if path in self._entries:
                    return self._entries[path]
            decoded = decode_srgb8(path, self._background)
            entry = (decoded, lab_planes(decoded.pixels))
            with self._guard:
                self._entries[path] = entry
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
            return entry


def measure_artifact(
    item: ArtifactInput, masters: MasterCache, settings: QualitySettings, with_hash: bool = True
) -> ArtifactMeasurement:
    """All per-artifact metrics; a failure is recorded in `measure_error`, never raised."""
    result = ArtifactMeasurement(
        item.artifact_id, item.attempt, item.campaign_id, item.generated_at, item.processing_ms
    )
    try:
        image = decode_srgb8(item.image_path, settings.background)
    except DecodeError as exc:
        result.measure_error = f"{MeasureError.UNDECODABLE}: image {exc}"
        return result
    try:
        master, master_lab = masters.get(item.master_path)
    except DecodeError as exc:
        result.measure_error = f"{MeasureError.UNDECODABLE}: master {exc}"
        return result
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
    # Attempts that share a master run next to each other, so its Lab stays cached.
    order = sorted(range(len(items)), key=lambda k: str(items[k].master_path))
    results: list[ArtifactMeasurement | None] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        futures = {
            pool.submit(measure_artifact, items[k], masters, settings, with_hash): k for k in order
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


def find_duplicates(
    measurements: Iterable[ArtifactMeasurement], earlier: Iterable[KnownHash], max_distance: int
) -> None:
    """Set `duplicate_of` to the earliest artifact of the same campaign (by generated_at, then
    id) whose perceptual hash is within `max_distance` bits; other attempts of the same
    artifact do not count."""
    measured = [(m, m.phash) for m in measurements if m.phash]
    pool = [KnownHash(m.artifact_id, m.campaign_id, m.generated_at, h) for m, h in measured]
    pool += list(earlier)
    by_campaign: dict[str, list[KnownHash]] = {}
    for known in sorted(pool, key=lambda k: (k.generated_at, k.artifact_id)):
        by_campaign.setdefault(known.campaign_id, []).append(known)
    packed = {
        campaign: np.array([int(k.phash, 16) for k in known], dtype=np.uint64)
        for campaign, known in by_campaign.items()
    }
    for m, phash in measured:
        known = by_campaign[m.campaign_id]
        distances = np.bitwise_count(packed[m.campaign_id] ^ np.uint64(int(phash, 16)))
        for index in np.flatnonzero(distances <= max_distance):
            candidate = known[index]
            if (candidate.generated_at, candidate.artifact_id) >= (m.generated_at, m.artifact_id):
                break
            if candidate.artifact_id != m.artifact_id:
                m.duplicate_of = candidate.artifact_id
                break


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


def summary_metadata(measurements: Sequence[ArtifactMeasurement], elapsed_s: float) -> dict:
    """What the quality asset reports about a week: ΔE spread, failures, throughput."""
    delta_e = [m.delta_e_mean for m in measurements if m.delta_e_mean is not None]
    return {
        "delta_e_mean_median": float(np.median(delta_e)) if delta_e else None,
        "delta_e_mean_max": float(np.max(delta_e)) if delta_e else None,
        "wcag_failures": sum(1 for m in measurements if m.wcag_aa_pass is False),
        "duplicates": sum(1 for m in measurements if m.duplicate_of),
        "measure_errors": sum(1 for m in measurements if m.measure_error),
        "artifacts_per_second": round(len(measurements) / elapsed_s, 1) if elapsed_s > 0 else None,
    }


def measurement_from_row(row: dict) -> ArtifactMeasurement:
    """Rebuild a measurement from its `retouch.artifact_quality` row (the inverse of
    `quality_rows`)."""
    names = {f.name for f in fields(ArtifactMeasurement)} - {"layers"}
    layers = [LayerContrast(**layer) for layer in json.loads(row["layer_contrast"] or "[]")]
    return ArtifactMeasurement(**{n: row[n] for n in names if n in row}, layers=layers)
