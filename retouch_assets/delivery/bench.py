"""`retouch bench renditions`: encoder figures at the quality floor on real photographs
(scikit-image's, framed like the sample's 3:2 images), the AVIF speed setting, and whether
threads scale (the encoders release the GIL). One JSON line per figure."""

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from retouch_assets.config import Channel, QualityFloor, Renditions
from retouch_assets.delivery.encode import EncoderSettings, encode, resize
from retouch_assets.delivery.fidelity import Reference
from retouch_assets.delivery.renditions import ImageJob, render_week
from retouch_assets.delivery.search import Floor, search_quality
from retouch_assets.vocabulary import RenditionFormat

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")


def photographs(width: int) -> list[np.ndarray]:
    """The real photographs, centre-cropped to 3:2 and resized to `width` (Lanczos)."""
    from skimage import data

    out = []
    for name in PHOTOS:
        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        image = np.asarray(image[..., :3], dtype=np.uint8)
        h, w = image.shape[:2]
        if w / h > 1.5:
            x0 = (w - round(h * 1.5)) // 2
            image = image[:, x0 : x0 + round(h * 1.5)]
        else:
            y0 = (h - round(w / 1.5)) // 2
            image = image[y0 : y0 + round(w / 1.5)]
        out.append(resize(image, (width, round(width / 1.5))))
    return out


def _ms(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def bench_renditions(width: int = 480, repeat: int = 3) -> Iterator[dict]:
    """Per format at the default floor: median chosen quality, bytes and encode ms (best of
    `repeat` at that quality); then AVIF per speed; then threads 1 vs 2 over a week's worth
    of images."""
    config = Renditions()
    default_floor = QualityFloor()
    floor = Floor(default_floor.delta_e_mean_max, default_floor.ssim_min)
    references = [Reference(p) for p in photographs(width)]
    bounds = (config.quality_min, config.quality_max)

    def at_floor(fmt: RenditionFormat, settings: EncoderSettings) -> dict:
        qualities, sizes, encode_ms, search_ms, met = [], [], [], [], 0
        for ref in references:
            started = time.perf_counter()
            result = search_quality(ref, fmt, "", floor, bounds, config.max_probes, settings)
            search_ms.append((time.perf_counter() - started) * 1000)
            chosen = result.chosen
            met += chosen.meets_floor
            qualities.append(chosen.quality)
            sizes.append(len(chosen.data))
            encode_ms.append(
                _ms(
                    lambda ref=ref, q=chosen.quality: encode(ref.pixels, fmt, q, "", settings),
                    repeat,
                )
            )
        return {
            "bench": "renditions",
            "format": str(fmt),
            "width": width,
            "images": len(references),
            "floor": {"delta_e_mean_max": floor.delta_e_mean_max, "ssim_min": floor.ssim_min},
            "meets_floor": met,
            "quality_median": statistics.median(qualities),
            "bytes_median": statistics.median(sizes),
            "bytes_per_image": sizes,
            "encode_ms_median": round(statistics.median(encode_ms), 1),
            "search_ms_median": round(statistics.median(search_ms), 1),
        }

    default = EncoderSettings(avif_speed=config.avif_speed, webp_method=config.webp_method)
    for fmt in RenditionFormat:
        yield at_floor(fmt, default) | {"settings": "default"}
    for speed in (6, 8, 9, 10):
        figures = at_floor(RenditionFormat.AVIF, EncoderSettings(avif_speed=speed))
        yield figures | {"settings": f"avif_speed={speed}"}
    yield _threads(references, width, repeat)


def _threads(references: list[Reference], width: int, repeat: int) -> dict:
    """Wall time of a week's renditions (the web channel's defaults, 24 images) with one
    thread and with two: > 1.6x means the encoders release the GIL."""
    import tempfile

    channel = Channel.model_validate(
        {"formats": ["avif", "webp"], "widths": [{"width": width, "max_kb": 1000}]}
    )
    pixels = [references[i % len(references)].pixels for i in range(24)]
    jobs = [ImageJob(f"bench-{i}", 1, "web", lambda p=p: p, "", {}) for i, p in enumerate(pixels)]
    walls = {}
    with tempfile.TemporaryDirectory() as folder:
        for workers in (1, 2):
            config = Renditions(workers=workers)
            walls[workers] = _ms(
                lambda config=config: render_week(
                    jobs, {"web": channel}, config, Path(folder), None
                ),
                max(1, repeat - 1),
            )
    return {
        "bench": "renditions",
        "parallel": "threads",
        "images": len(jobs),
        "renditions": len(jobs) * 2,
        "wall_ms_1_thread": round(walls[1]),
        "wall_ms_2_threads": round(walls[2]),
        "speedup": round(walls[1] / walls[2], 2),
    }
