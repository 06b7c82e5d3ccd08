"""A week of channel renditions: for every approved or healed image, its channel's formats ×
widths, each encoded at the lowest quality that keeps the floor, passed through the optional
`finalise` hook (e.g. a C2PA signer) and judged against the byte budget on the final bytes.

Images are rendered in parallel threads, not processes: Pillow's AVIF encoder (`_avif.c`:
avifEncoderAddImage and avifEncoderFinish outside the GIL) and WebP encoder (`_webp.c`:
WebPEncode inside ImagingSectionEnter) release the GIL, and so do the ΔE and SSIM kernels
(numba, nogil); the rest (JPEG's few ms, decoding, array glue) is the smaller part of a probe
(2 threads: ~175 % CPU, ×1.8 over one, docs/renditions.md). A thread
needs no pickling of pixels and shares the sRGB profile and the encoded bytes with the writer.
`retouch bench renditions` prints the 1-thread / 2-thread wall times (docs/renditions.md).
"""

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from retouch_assets.config import Channel, Renditions
from retouch_assets.cores import available_cores
from retouch_assets.delivery.encode import MIME, SUFFIX, EncoderSettings, resize, target_size
from retouch_assets.delivery.fidelity import Reference
from retouch_assets.delivery.search import Floor, search_quality
from retouch_assets.gates.publish import provenance, write_hashed, xmp_packet
from retouch_assets.gates.week import final_pixels
from retouch_assets.safe_paths import inside, safe_stem, slug
from retouch_assets.vocabulary import RENDITION, Gate, RenditionFormat

RENDITIONS_FOLDER = "renditions"


@dataclass(frozen=True)
class RenditionContext:
    """What the `finalise` hook knows about the bytes it is given."""

    artifact_id: str
    attempt: int
    channel: str
    format: str
    width: int
    height: int
    provenance: dict = field(default_factory=dict)


# finalise(data, mime, context) -> the bytes written and judged (identity when None).
Finalise = Callable[[bytes, str, RenditionContext], bytes]


@dataclass(frozen=True)
class Target:
    """One rendition to make: format, size and budget."""

    format: RenditionFormat
    width: int
    height: int
    max_bytes: int


def plan(channel: Channel, source_width: int, source_height: int) -> list[Target]:
    """The channel's formats × widths for a source of this size: a width above the source's is
    rendered at the source's own width (never upscaled); widths that end up equal are made
    once, with the smallest budget among them."""
    targets: dict[tuple[str, int], Target] = {}
    for fmt in channel.formats:
        for entry in channel.widths:
            width, height = target_size(source_width, source_height, entry.width)
            key = (fmt, width)
            if key not in targets or entry.max_bytes < targets[key].max_bytes:
                targets[key] = Target(RenditionFormat(fmt), width, height, entry.max_bytes)
    return sorted(targets.values(), key=lambda t: (t.format, t.width))


@dataclass(frozen=True)
class Rendition:
    """One made rendition: its final bytes (`size` of them; `data` is emptied once the file is
    written, so a week's renditions are not all held in memory) and how they measured against
    budget and floor."""

    channel: str
    target: Target
    quality: int
    data: bytes
    delta_e_mean: float
    ssim: float
    floor: Floor
    meets_floor: bool
    probes: tuple[tuple[int, int, float, float], ...]
    size: int

    @property
    def within_budget(self) -> bool:
        return self.size <= self.target.max_bytes

    @property
    def ok(self) -> bool:
        return self.within_budget and self.meets_floor


def render_image(
    pixels: np.ndarray,
    channel_name: str,
    channel: Channel,
    xmp: str,
    config: Renditions,
    context: RenditionContext,
    finalise: Finalise | None = None,
) -> list[Rendition]:
    """Every rendition of one image (8-bit sRGB `pixels`, the published image) for its
    channel. The reference at each width is the published image resized the same way."""
    settings = EncoderSettings(avif_speed=config.avif_speed, webp_method=config.webp_method)
    floor = Floor(channel.floor.delta_e_mean_max, channel.floor.ssim_min)
    references: dict[tuple[int, int], Reference] = {}
    made = []
    for target in plan(channel, pixels.shape[1], pixels.shape[0]):
        size = (target.width, target.height)
        if size not in references:
            references[size] = Reference(resize(pixels, size))
        result = search_quality(
            references[size],
            target.format,
            xmp,
            floor,
            (config.quality_min, config.quality_max),
            config.max_probes,
            settings,
        )
        chosen = result.chosen
        data = chosen.data
        if finalise is not None:
            info = RenditionContext(
                context.artifact_id,
                context.attempt,
                channel_name,
                str(target.format),
                target.width,
                target.height,
                context.provenance,
            )
            data = finalise(data, MIME[target.format], info)
        made.append(
            Rendition(
                channel_name,
                target,
                chosen.quality,
                data,
                chosen.delta_e_mean,
                chosen.ssim,
                floor,
                chosen.meets_floor,
                result.probes,
                size=len(data),
            )
        )
    return made


def rendition_key(r: Rendition) -> str:
    """`<channel>/<format>/<width>w`: how gate rows and the summary name a rendition."""
    return f"{r.channel}/{r.target.format}/{r.target.width}w"


def file_name(artifact_id: str, attempt: int, r: Rendition, sha256: str) -> str:
    """A content-addressed name from safe parts only (ids are data, never path components)."""
    stem = safe_stem(artifact_id, attempt)
    return f"{stem}.{slug(r.channel)}.{r.target.width}w.{sha256[:12]}{SUFFIX[r.target.format]}"


def write_rendition(folder: Path, artifact_id: str, attempt: int, r: Rendition) -> tuple[Path, str]:
    """Write the rendition's final bytes atomically under its content-addressed name."""

    def encode(handle) -> None:
        handle.write(r.data)

    return write_hashed(folder, lambda sha: file_name(artifact_id, attempt, r, sha), encode)


@dataclass(frozen=True)
class ImageJob:
    """One publishable image of the week: its key, channel, pixels source and provenance."""

    artifact_id: str
    attempt: int
    channel: str
    pixels: Callable[[], np.ndarray | None]  # None: the image no longer decodes
    xmp: str
    provenance: dict = field(default_factory=dict)


def image_jobs(
    rows: list[dict],
    gates_of: dict[tuple, list[dict]],
    file: Callable[[dict], Path],
    background: tuple[int, int, int],
) -> list[ImageJob]:
    """One job per publishable row (`gates.queries.week_to_publish`): its final pixels (the
    delivered image with the kept healing correction, as publication writes them) and the
    XMP provenance of `evaluate_gates`' final gate rows. The previous run's rendition rows are
    left out, so they cannot change the provenance (and so the bytes) of this run's files."""
    jobs = []
    for row in rows:
        key = (row["artifact_id"], row["attempt"])
        gates = [g for g in gates_of.get(key, []) if g["phase"] != RENDITION]
        facts = provenance(row, gates)
        image = file(row)
        jobs.append(
            ImageJob(
                row["artifact_id"],
                row["attempt"],
                row["channel"],
                lambda image=image, row=row: final_pixels(image, row, background),
                xmp_packet(facts),
                facts,
            )
        )
    return jobs


@dataclass
class WeekRenditions:
    rows: list[dict]
    gate_rows: list[dict]
    paths: list[Path]
    not_rendered: dict[str, int]  # reason -> images
    seconds: float


def render_week(
    jobs: Sequence[ImageJob],
    channels: dict[str, Channel],
    config: Renditions,
    folder: Path,
    week,
    finalise: Finalise | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> WeekRenditions:
    """Render, write and record every image's renditions, images in parallel threads."""
    started = time.perf_counter()

    def one(job: ImageJob) -> tuple[str | None, list[tuple[Rendition, Path, str]]]:
        channel = channels.get(job.channel)
        if channel is None:
            return "no_channel_config", []
        pixels = job.pixels()
        if pixels is None:
            return "undecodable", []
        context = RenditionContext(
            job.artifact_id, job.attempt, job.channel, "", 0, 0, job.provenance
        )
        made = render_image(pixels, job.channel, channel, job.xmp, config, context, finalise)
        written = []
        for r in made:
            path, sha = write_rendition(folder, job.artifact_id, job.attempt, r)
            # The bytes are on disk: only what the rows need stays in memory for the week.
            written.append((replace(r, data=b""), path, sha))
        return None, written

    workers = available_cores() if config.workers == "auto" else config.workers
    results = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(one, jobs), start=1):
            results.append(result)
            if on_done:
                on_done(done, len(jobs))
    out = WeekRenditions([], [], [], {}, 0.0)
    for job, (reason, made) in zip(jobs, results, strict=True):
        if reason:
            out.not_rendered[reason] = out.not_rendered.get(reason, 0) + 1
        for r, path, sha in made:
            out.rows.append(rendition_row(week, job, r, path, sha))
            out.gate_rows.extend(rendition_gate_rows(week, job, r))
            out.paths.append(path)
    out.seconds = time.perf_counter() - started
    return out


def rendition_row(week, job: ImageJob, r: Rendition, path: Path, sha256: str) -> dict:
    return {
        "artifact_id": job.artifact_id,
        "attempt": job.attempt,
        "week": week,
        "channel": r.channel,
        "format": str(r.target.format),
        "width": r.target.width,
        "height": r.target.height,
        "quality": r.quality,
        "bytes": r.size,
        "max_bytes": r.target.max_bytes,
        "delta_e_mean": r.delta_e_mean,
        "delta_e_mean_max": r.floor.delta_e_mean_max,
        "ssim": r.ssim,
        "ssim_min": r.floor.ssim_min,
        "within_budget": r.within_budget,
        "meets_floor": r.meets_floor,
        "probes": json.dumps(
            [{"quality": q, "bytes": b, "delta_e_mean": d, "ssim": s} for q, b, d, s in r.probes]
        ),
        "mime": MIME[r.target.format],
        "path": str(path),
        "sha256": sha256,
    }


def rendition_gate_rows(week, job: ImageJob, r: Rendition) -> list[dict]:
    """The delivery gate's rows of one rendition: bytes against the budget, ΔE mean and SSIM
    against the floor (phase `rendition`, final)."""
    key = rendition_key(r)
    measured = (
        ("bytes", float(r.size), float(r.target.max_bytes), r.within_budget),
        (
            "delta_e_mean",
            r.delta_e_mean,
            r.floor.delta_e_mean_max,
            r.delta_e_mean <= r.floor.delta_e_mean_max,
        ),
        ("ssim", r.ssim, r.floor.ssim_min, r.ssim >= r.floor.ssim_min),
    )
    return [
        {
            "artifact_id": job.artifact_id,
            "attempt": job.attempt,
            "week": week,
            "gate": Gate.DELIVERY,
            "metric": f"rendition:{key}:{metric}",
            "phase": RENDITION,
            "value": value,
            "threshold": threshold,
            "passed": passed,
            "final": True,
        }
        for metric, value, threshold, passed in measured
    ]


def renditions_folder(week_folder: Path) -> Path:
    return inside(week_folder, RENDITIONS_FOLDER)
