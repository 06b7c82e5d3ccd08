"""Self-healing: bounded corrections fitted against the master (never copying master pixels),
applied to the image, then re-measured. The presets:

- white balance and colour matrix: global colour corrections in linear light;
- sharpening: an unsharp mask fitted so that the output is as sharp as the master (the
  median tile ratio of luma gradient energy, `measures.sharpness_ratio`), for an image softer
  than the gate allows;
- masking: gains fitted per region, blended in under feathered box masks, for damage
  the ΔE map shows to be local (a few regions hold most of the excess ΔE).

A correction is stored as its parameters (`Correction.as_dict`), from which publication
re-applies it to exactly the pixels that were re-measured."""

import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from retouch_assets.config import ColourGate, Healing, Masking, Sharpening
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, srgb_decoding_table
from retouch_assets.quality.icc import srgb_transfer_decode
from retouch_assets.quality.measures import (
    detailed_tiles,
    gradient_maps,
    histogram_delta_pct,
    luma,
    sharpness_ratio,
    tile_energies,
    tile_sums,
)

_DECODE = srgb_decoding_table().astype(np.float32)
# Rounding in the encoded domain without a per-pixel power: a linear value maps to code k when
# it lies between the linear values of k - 0.5 and k + 0.5.
_ENCODE_EDGES = srgb_transfer_decode((np.arange(255) + 0.5) / 255.0).astype(np.float32)
# Fits use at most this many pixels (a fixed stride, so results are deterministic).
_FIT_SAMPLES = 200_000


def _rounded(matrix) -> tuple[tuple[float, ...], ...]:
    # Rounded before use, so the stored parameters re-apply to exactly the re-measured pixels.
    return tuple(tuple(round(float(v), 6) for v in row) for row in matrix)


@dataclass(frozen=True)
class Region:
    """One masked region: a box (x, y, width, height) whose mask is 1 inside and ramps to 0
    over `feather` pixels outside, and the matrix (linear light; diagonal gains as fitted)
    applied under it."""

    box: tuple[int, int, int, int]
    feather: int
    matrix: tuple[tuple[float, ...], ...]

    def as_dict(self) -> dict:
        return {"box": list(self.box), "feather": self.feather, "matrix": _listed(self.matrix)}


def _listed(matrix) -> list[list[float]]:
    return [list(row) for row in matrix]


@dataclass(frozen=True)
class Correction:
    """The parameters of a kept correction, enough to re-apply it deterministically at
    publication (never pixels): a 3x3 matrix in linear light (white balance is its diagonal
    special case), an unsharp mask (radius, amount, detail limit), or matrices per masked
    region."""

    preset: str
    matrix: tuple[tuple[float, ...], ...] | None = None
    radius: float | None = None
    amount: float | None = None
    limit: float | None = None
    regions: tuple[Region, ...] = ()

    def as_dict(self) -> dict:
        out: dict = {"preset": self.preset}
        if self.matrix is not None:
            out["matrix"] = _listed(self.matrix)
        if self.radius is not None:
            out.update(radius=self.radius, amount=self.amount, limit=self.limit)
        if self.regions:
            out["regions"] = [region.as_dict() for region in self.regions]
        return out

    @classmethod
    def from_dict(cls, action: dict) -> "Correction":
        """The correction a `heal_actions` entry records (the inverse of `as_dict`)."""
        regions = tuple(
            Region(tuple(r["box"]), int(r["feather"]), _rounded(r["matrix"]))
            for r in action.get("regions", ())
        )
        matrix = action.get("matrix")
        return cls(
            action["preset"],
            matrix=_rounded(matrix) if matrix is not None else None,
            radius=action.get("radius"),
            amount=action.get("amount"),
            limit=action.get("limit"),
            regions=regions,
        )


@dataclass(frozen=True)
class HealAttempt:
    """One preset tried: the correction fitted (None if out of bounds) and the re-measure."""

    preset: str
    correction: Correction | None
    delta_e_mean: float | None = None
    delta_e_p95: float | None = None
    hist_delta: float | None = None
    sharpness_ratio: float | None = None
    note: str | None = None


# Fits and re-measures one preset for one artifact (see `make_healer`); None when the preset
# does not apply to the artifact's damage (it is then skipped, not recorded).
Healer = Callable[[str], HealAttempt | None]


def _samples(image: np.ndarray, master: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat_i, flat_m = image.reshape(-1, 3), master.reshape(-1, 3)
    stride = max(1, flat_i.shape[0] // _FIT_SAMPLES)
    flat_i, flat_m = flat_i[::stride], flat_m[::stride]
    # Clipped pixels carry no information about the cast.
    usable = (flat_i.max(axis=1) < 250) & (flat_m.max(axis=1) < 250) & (flat_i.min(axis=1) > 4)
    if usable.sum() < 100:
        usable[:] = True
    return _DECODE[flat_i[usable]].astype(np.float64), _DECODE[flat_m[usable]].astype(np.float64)


def _gains_fit(linear_i: np.ndarray, linear_m: np.ndarray) -> np.ndarray:
    return (linear_i * linear_m).sum(axis=0) / np.maximum((linear_i**2).sum(axis=0), 1e-12)


def fit_white_balance(
    image: np.ndarray, master: np.ndarray, max_deviation: float
) -> Correction | None:
    """Per-channel gains (least squares in linear light); None when a gain leaves 1 ± max."""
    gains = _gains_fit(*_samples(image, master))
    if np.any(np.abs(gains - 1.0) > max_deviation):
        return None
    return Correction("white_balance", _rounded(np.diag(gains)))


def _matrix_fit(linear_i: np.ndarray, linear_m: np.ndarray) -> np.ndarray:
    solution, *_ = np.linalg.lstsq(linear_i, linear_m, rcond=None)
    return solution.T


def fit_colour_matrix(
    image: np.ndarray, master: np.ndarray, max_deviation: float
) -> Correction | None:
    """A 3x3 matrix (least squares in linear light); None when an entry strays from identity
    by more than max (a correction that large is a repaint, not a colour fix)."""
    matrix = _matrix_fit(*_samples(image, master))
    if np.any(np.abs(matrix - np.eye(3)) > max_deviation):
        return None
    return Correction("colour_matrix", _rounded(matrix))


# `_encode`'s index: for each of `_ENCODE_BINS` equal bins of [0, 1), how many edges lie below
# the bin's start. Edges are at least 1 / (255 · 12.92) ≈ 3.0e-4 apart (the sRGB curve's
# steepest part) and a bin is 2.4e-4 wide, so the code of a value is its bin's count or one
# more; the kernel's two loops make the result `np.searchsorted`'s by construction.
_ENCODE_BINS = 4096
_ENCODE_INDEX = np.searchsorted(
    _ENCODE_EDGES, np.arange(_ENCODE_BINS, dtype=np.float64) / _ENCODE_BINS
).astype(np.int32)


def _encode_values(linear, edges, index, bins, out):  # pragma: no cover - compiled by numba
    """out[i] = the number of edges below linear[i] (`np.searchsorted(edges, linear[i])`,
    NaN sorting last), from the value's bin and at most a step either way."""
    last = edges.shape[0]
    for i in range(linear.shape[0]):
        x = linear[i]
        if x != x:  # NaN: above every edge, as np.searchsorted sorts it
            out[i] = last
            continue
        if x <= 0.0:
            b = 0
        elif x >= 1.0:
            b = bins - 1
        else:
            b = min(int(x * bins), bins - 1)
        k = index[b]
        while k > 0 and edges[k - 1] >= x:
            k -= 1
        while k < last and edges[k] < x:
            k += 1
        out[i] = k


@cache
def _encode_kernel():
    """Compiled on first use (numba is imported here, not at module import); cached on disk."""
    import numba

    return numba.njit(cache=True, nogil=True, error_model="numpy")(_encode_values)


def _encode(linear: np.ndarray) -> np.ndarray:
    """8-bit sRGB codes of linear values: the code whose rounding interval holds the value
    (`np.searchsorted` over `_ENCODE_EDGES`, tested equal), ~15× faster than a binary search."""
    values = np.ascontiguousarray(linear).reshape(-1)
    out = np.empty(values.shape[0], dtype=np.uint8)
    _encode_kernel()(values, _ENCODE_EDGES, _ENCODE_INDEX, _ENCODE_BINS, out)
    return out.reshape(linear.shape)


def compile_kernel() -> None:
    """Compile `_encode`'s kernel into numba's on-disk cache (`make install` does it once)."""
    for dtype in (np.float32, np.float64):
        _encode(np.zeros(4, dtype=dtype))


def _apply_matrix(image: np.ndarray, matrix) -> np.ndarray:
    return _encode(_DECODE[image] @ np.asarray(matrix, dtype=np.float32).T)


def unsharp_detail(image: np.ndarray, radius: float, limit: float) -> np.ndarray:
    """The detail an unsharp mask adds back: image − Gaussian(image, radius) per channel on the
    encoded values, clipped to ± `limit` code values, so that edges already crisp (text
    layers) get no halo beyond amount · limit."""
    from scipy.ndimage import gaussian_filter

    values = image.astype(np.float32)
    blurred = gaussian_filter(values, sigma=(radius, radius, 0), mode="nearest")
    return np.clip(values - blurred, -limit, limit)


def unsharp_mask(image: np.ndarray, radius: float, amount: float, limit: float) -> np.ndarray:
    """image + amount · `unsharp_detail`, rounded to 8 bits."""
    detail = unsharp_detail(image, radius, limit)
    return np.clip(np.rint(image.astype(np.float32) + amount * detail), 0, 255).astype(np.uint8)


def _ratio_terms(
    y: np.ndarray, detail: np.ndarray, master_tiles: np.ndarray, detailed: np.ndarray
) -> np.ndarray:
    """Per detailed tile, (A, B, C) with the tile's sharpness ratio after the mask
    y + a·detail equal to A + 2aB + a²C (the mask is linear in a; before rounding)."""
    yx, yy = gradient_maps(y)
    dx, dy = gradient_maps(detail)
    terms = [
        tile_sums(np.square(yx) + np.square(yy)),
        tile_sums(yx * dx + yy * dy),
        tile_sums(np.square(dx) + np.square(dy)),
    ]
    return np.stack([t[detailed] / master_tiles[detailed] for t in terms])


def _median_ratio(terms: np.ndarray, amount: float) -> float:
    return float(np.median(terms[0] + 2 * amount * terms[1] + amount * amount * terms[2]))


def _amount_for(terms: np.ndarray, high: float) -> float | None:
    """The amount in [0, high] at which the median tile ratio reaches 1 (bisection: each
    tile's ratio is a quadratic in the amount, growing over it); None beyond `high`."""
    if _median_ratio(terms, high) < 1.0:
        return None
    low = 0.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if _median_ratio(terms, middle) < 1.0 else (low, middle)
    return high


def fit_sharpening(
    image: np.ndarray,
    master: np.ndarray,
    master_lab: np.ndarray,
    bounds: Sharpening,
    colour: ColourGate,
    master_tiles: np.ndarray | None = None,
) -> tuple[Correction | None, str | None]:
    """The unsharp mask whose output is as sharp as the master (`sharpness_ratio` 1): for each
    radius in the bounds, the amount solved on the per-tile quadratics; of those within
    `amount_max`, the one closest to the master by the gate's own measures is kept (within the
    ΔE and histogram limits first, then the lowest ΔE mean). (None, why) when every radius
    needs more than `amount_max`. `master_tiles`: the master's `tile_energies` when the caller
    has them."""
    y = luma(image)
    master_tiles = tile_energies(master) if master_tiles is None else master_tiles
    detailed = detailed_tiles(master_tiles)
    best: tuple[bool, float, float, float] | None = None  # (fails, ΔE mean, radius, amount)
    reach = 0.0  # the best sharpness ratio the bound allows
    for radius in np.linspace(bounds.radius_min, bounds.radius_max, bounds.radius_steps):
        radius = round(float(radius), 4)
        detail = unsharp_detail(image, radius, bounds.detail_limit)
        terms = _ratio_terms(y, luma(detail), master_tiles, detailed)
        amount = _amount_for(terms, bounds.amount_max)
        if amount is None:
            reach = max(reach, _median_ratio(terms, bounds.amount_max))
            continue
        amount = round(amount, 4)
        candidate = unsharp_mask(image, radius, amount, bounds.detail_limit)
        mean, _ = delta_e_summary(delta_e_map(candidate, master_lab))
        fails = not colour.passes(mean, histogram_delta_pct(candidate, master), None)
        if best is None or (fails, mean) < best[:2]:
            best = (fails, mean, radius, amount)
    if best is None:
        return None, (
            f"too soft: matching the master's sharpness needs an amount above the bound "
            f"{bounds.amount_max}, which reaches a sharpness ratio of {reach:.2f}"
        )
    return (
        Correction("sharpening", radius=best[2], amount=best[3], limit=bounds.detail_limit),
        None,
    )


def _feathered(start: int, length: int, feather: int, size: int) -> tuple[slice, np.ndarray]:
    """A 1-D mask: 1 over [start, start + length), ramping linearly to 0 over `feather` pixels
    on each side; returned as the slice of the axis it covers and its weights there."""
    lo, hi = max(start - feather, 0), min(start + length + feather, size)
    at = np.arange(lo, hi, dtype=np.float32)
    inside = np.minimum(at - (start - feather - 1), (start + length + feather) - at)
    return slice(lo, hi), np.clip(inside / (feather + 1), 0.0, 1.0)


def apply_regions(image: np.ndarray, regions: tuple[Region, ...]) -> np.ndarray:
    """Each region's matrix blended in under its feathered mask, in linear light, in order."""
    out = image.copy()
    height, width = image.shape[:2]
    for region in regions:
        x, y, w, h = region.box
        rows, wy = _feathered(y, h, region.feather, height)
        cols, wx = _feathered(x, w, region.feather, width)
        weight = (wy[:, None] * wx[None, :])[..., None]
        linear = _DECODE[out[rows, cols]]
        corrected = linear @ np.asarray(region.matrix, dtype=np.float32).T
        out[rows, cols] = _encode(linear + weight * (corrected - linear))
    return out


@dataclass(frozen=True)
class Damage:
    """Where the ΔE map is high: boxes (x, y, w, h) of the worst damaged areas, the share of
    the excess ΔE they hold and the share of the image their feathered masks cover."""

    boxes: list[tuple[int, int, int, int]]
    excess_share: float
    area_share: float


def find_damage(delta_e: np.ndarray, gate_mean: float, bounds: Masking) -> Damage | None:
    """The damaged areas of a ΔE map (9x9 mean above `local_delta_e`, at least
    `min_region_px`), the `max_regions` holding most excess ΔE (ΔE above the gate's mean);
    None when there is none."""
    from scipy import ndimage

    smooth = ndimage.uniform_filter(delta_e.astype(np.float32), size=9, mode="nearest")
    labels, count = typing.cast(
        tuple[np.ndarray, int], ndimage.label(smooth > bounds.local_delta_e)
    )
    if count == 0:
        return None
    index = np.arange(1, count + 1)
    excess = np.maximum(delta_e - gate_mean, 0.0)
    sizes = ndimage.sum_labels(np.ones_like(smooth), labels, index)
    held = ndimage.sum_labels(excess, labels, index)
    slices = ndimage.find_objects(labels)
    ranked = sorted(
        (k for k in range(count) if sizes[k] >= bounds.min_region_px), key=lambda k: -held[k]
    )[: bounds.max_regions]
    if not ranked:
        return None
    height, width = delta_e.shape
    covered = np.zeros(delta_e.shape, dtype=bool)
    boxes = []
    for k in ranked:
        rows, cols = slices[k]
        box = (cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        boxes.append(box)
        r, _ = _feathered(box[1], box[3], bounds.feather_px, height)
        c, _ = _feathered(box[0], box[2], bounds.feather_px, width)
        covered[r, c] = True
    total = float(excess.sum())
    inside = float(excess[covered].sum())
    return Damage(boxes, inside / total if total > 0 else 0.0, float(covered.mean()))


def fit_masking(
    image: np.ndarray, master: np.ndarray, damage: Damage, bounds: Masking
) -> tuple[Correction | None, str | None]:
    """Gains per damaged box (a diagonal matrix, least squares in linear light on that box's
    pixels against the master's, as white balance does globally: a tint, not a repaint);
    (None, why) when the masks cover more than `max_area_share` or a gain leaves
    1 ± `max_gain_deviation`."""
    if damage.area_share > bounds.max_area_share:
        return None, (
            f"damage covers {damage.area_share:.0%} of the image > bound "
            f"{bounds.max_area_share:.0%}"
        )
    regions = []
    for x, y, w, h in damage.boxes:
        box_image, box_master = image[y : y + h, x : x + w], master[y : y + h, x : x + w]
        gains = _gains_fit(*_samples(box_image, box_master))
        deviation = float(np.abs(gains - 1.0).max())
        if deviation > bounds.max_gain_deviation:
            return None, (
                f"region {x},{y} {w}x{h}: a gain strays {deviation:.2f} from 1 > bound "
                f"{bounds.max_gain_deviation} (a repaint, not a tint)"
            )
        regions.append(Region((x, y, w, h), bounds.feather_px, _rounded(np.diag(gains))))
    return Correction("masking", regions=tuple(regions)), None


def apply_correction(image: np.ndarray, correction: Correction) -> np.ndarray:
    """The corrected 8-bit sRGB image."""
    if correction.regions:
        return apply_regions(image, correction.regions)
    if correction.radius is not None:
        # Stored together (`Correction.as_dict`).
        assert correction.amount is not None and correction.limit is not None
        return unsharp_mask(image, correction.radius, correction.amount, correction.limit)
    assert correction.matrix is not None  # the colour presets
    return _apply_matrix(image, correction.matrix)


def make_healer(
    image: np.ndarray,
    master: np.ndarray,
    master_lab: np.ndarray,
    healing: Healing,
    colour: ColourGate,
    master_tiles: np.ndarray | None = None,
) -> Healer:
    """A `Healer` for one artifact: check that the preset applies, fit it within its bounds,
    apply it and re-measure ΔE, histogram and sharpness. Sharpening applies when the image is
    softer than the gate allows, masking when the damage is local (`find_damage`).
    `master_tiles`: the master's `tile_energies` when the caller has them (`Master.tiles`)."""
    master_tiles = tile_energies(master) if master_tiles is None else master_tiles
    found: dict[str, Damage | None] = {}

    def damage() -> Damage | None:
        if "damage" not in found:
            delta_e = delta_e_map(image, master_lab)
            found["damage"] = find_damage(delta_e, colour.delta_e_mean_max, healing.masking)
        return found["damage"]

    def fit(preset: str) -> tuple[Correction | None, str | None] | None:
        if preset == "white_balance":
            bound = healing.max_gain_deviation
            return fit_white_balance(image, master, bound), f"gain beyond 1 ± {bound}"
        if preset == "colour_matrix":
            bound = healing.max_matrix_deviation
            return fit_colour_matrix(image, master, bound), f"matrix entry beyond I ± {bound}"
        if preset == "sharpening":
            ratio = sharpness_ratio(tile_energies(image), master_tiles)
            if ratio is None or ratio >= colour.sharpness_ratio_min:
                return None  # not soft
            return fit_sharpening(
                image, master, master_lab, healing.sharpening, colour, master_tiles
            )
        where = damage()
        if where is None or where.excess_share < healing.masking.min_excess_share:
            return None  # no local damage: spread over the image, or none
        return fit_masking(image, master, where, healing.masking)

    def heal(preset: str) -> HealAttempt | None:
        fitted = fit(preset)
        if fitted is None:
            return None
        correction, why = fitted
        if correction is None:
            return HealAttempt(preset, None, note=f"fitted correction exceeds the bound: {why}")
        healed = apply_correction(image, correction)
        mean, p95 = delta_e_summary(delta_e_map(healed, master_lab))
        return HealAttempt(
            preset,
            correction,
            mean,
            p95,
            histogram_delta_pct(healed, master),
            sharpness_ratio(tile_energies(healed), master_tiles),
        )

    return heal
