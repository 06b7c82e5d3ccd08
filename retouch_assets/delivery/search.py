"""The bounded search over encoder quality: the lowest quality (so the fewest bytes) whose
decoded rendition keeps the quality floor, in at most `max_probes` encodes, then judged
against the byte budget."""

from collections.abc import Callable
from dataclasses import dataclass

from retouch_assets.delivery.encode import DEFAULT_SETTINGS, EncoderSettings, decode, encode
from retouch_assets.delivery.fidelity import Reference
from retouch_assets.vocabulary import RenditionFormat


@dataclass(frozen=True)
class Floor:
    """The quality floor against the published image at the rendition's size."""

    delta_e_mean_max: float
    ssim_min: float


@dataclass(frozen=True)
class Probe:
    quality: int
    data: bytes
    delta_e_mean: float
    ssim: float
    meets_floor: bool


@dataclass(frozen=True)
class SearchResult:
    """The chosen encode (the lowest probed quality that keeps the floor, else the best-looking
    probe) and every probe's (quality, bytes, ΔE mean, SSIM), for the record."""

    chosen: Probe
    probes: tuple[tuple[int, int, float, float], ...]


def probe(
    reference: Reference,
    fmt: RenditionFormat,
    quality: int,
    xmp: str,
    floor: Floor,
    settings: EncoderSettings,
) -> Probe:
    data = encode(reference.pixels, fmt, quality, xmp, settings)
    decoded = decode(data)
    delta_e, ssim = reference.delta_e_mean(decoded), reference.ssim(decoded)
    meets = delta_e <= floor.delta_e_mean_max and ssim >= floor.ssim_min
    return Probe(quality, data, delta_e, ssim, meets)


def search_quality(
    reference: Reference,
    fmt: RenditionFormat,
    xmp: str,
    floor: Floor,
    quality_range: tuple[int, int],
    max_probes: int,
    settings: EncoderSettings = DEFAULT_SETTINGS,
    probe_fn: Callable[..., Probe] = probe,
) -> SearchResult:
    """Binary search over integer quality in `quality_range` for the lowest quality that keeps
    `floor` (fidelity, and so bytes, grow with quality), in at most `max_probes` encodes,
    starting in the middle of the range (where most photographs land: probing the top first
    costs the most expensive encode and is rarely chosen). The chosen probe is the lowest
    probed quality that keeps the floor; when none does, the top of the range (the last probe
    goes there when none before it kept the floor), so a failure is never an artefact of the
    bound."""
    low, high = quality_range
    tried: dict[int, Probe] = {}
    lo, hi = low - 1, high + 1  # lo: known to miss (or below the range); hi: keeps it (or above)
    while hi - lo > 1 and len(tried) < max_probes:
        quality = (lo + hi) // 2
        if hi > high and len(tried) == max_probes - 1:
            quality = high  # the last probe, none has kept the floor: can the top keep it?
        tried[quality] = probe_fn(reference, fmt, quality, xmp, floor, settings)
        if tried[quality].meets_floor:
            hi = quality
        else:
            lo = quality
    best = tried[hi] if hi in tried else tried[max(tried)]  # max: the top, when probed
    probes = tuple(
        (p.quality, len(p.data), p.delta_e_mean, p.ssim) for p in sorted(tried.values(), key=_q)
    )
    return SearchResult(best, probes)


def _q(p: Probe) -> int:
    return p.quality
