"""Self-healing: bounded, global colour corrections fitted against the master in linear light
(never copying master pixels), applied to the whole image, then re-measured."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, srgb_decoding_table
from retouch_assets.quality.icc import srgb_transfer_decode
from retouch_assets.quality.measures import histogram_delta_pct

_DECODE = srgb_decoding_table().astype(np.float32)
# Rounding in the encoded domain without a per-pixel power: a linear value maps to code k when
# it lies between the linear values of k - 0.5 and k + 0.5.
_ENCODE_EDGES = srgb_transfer_decode((np.arange(255) + 0.5) / 255.0).astype(np.float32)
# Fits use at most this many pixels (a fixed stride, so results are deterministic).
_FIT_SAMPLES = 200_000


@dataclass(frozen=True)
class Correction:
    """A 3x3 matrix applied to linear-light RGB; white balance is its diagonal special case."""

    preset: str
    matrix: tuple[tuple[float, float, float], ...]

    def as_dict(self) -> dict:
        return {
            "preset": self.preset,
            "matrix": [[round(v, 6) for v in row] for row in self.matrix],
        }


@dataclass(frozen=True)
class HealAttempt:
    """One preset tried: the correction fitted (None if out of bounds) and the re-measure."""

    preset: str
    correction: Correction | None
    delta_e_mean: float | None = None
    delta_e_p95: float | None = None
    hist_delta: float | None = None
    note: str | None = None


# Fits and re-measures one preset for one artifact (see `make_healer`).
Healer = Callable[[str], HealAttempt]


def _samples(image: np.ndarray, master: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat_i, flat_m = image.reshape(-1, 3), master.reshape(-1, 3)
    stride = max(1, flat_i.shape[0] // _FIT_SAMPLES)
    flat_i, flat_m = flat_i[::stride], flat_m[::stride]
    # Clipped pixels carry no information about the cast.
    usable = (flat_i.max(axis=1) < 250) & (flat_m.max(axis=1) < 250) & (flat_i.min(axis=1) > 4)
    if usable.sum() < 100:
        usable[:] = True
    return _DECODE[flat_i[usable]].astype(np.float64), _DECODE[flat_m[usable]].astype(np.float64)


def fit_white_balance(
    image: np.ndarray, master: np.ndarray, max_deviation: float
) -> Correction | None:
    """Per-channel gains (least squares in linear light); None when a gain leaves 1 ± max."""
    linear_i, linear_m = _samples(image, master)
    gains = (linear_i * linear_m).sum(axis=0) / np.maximum((linear_i**2).sum(axis=0), 1e-12)
    if np.any(np.abs(gains - 1.0) > max_deviation):
        return None
    return Correction("white_balance", tuple(tuple(row) for row in np.diag(gains).tolist()))


def fit_colour_matrix(
    image: np.ndarray, master: np.ndarray, max_deviation: float
) -> Correction | None:
    """A 3x3 matrix (least squares in linear light); None when an entry strays from identity
    by more than max (a correction that large is a repaint, not a colour fix)."""
    linear_i, linear_m = _samples(image, master)
    solution, *_ = np.linalg.lstsq(linear_i, linear_m, rcond=None)
    matrix = solution.T
    if np.any(np.abs(matrix - np.eye(3)) > max_deviation):
        return None
    return Correction("colour_matrix", tuple(tuple(row) for row in matrix.tolist()))


FITTERS = {"white_balance": fit_white_balance, "colour_matrix": fit_colour_matrix}


def apply_correction(image: np.ndarray, correction: Correction) -> np.ndarray:
    """The corrected 8-bit sRGB image."""
    matrix = np.asarray(correction.matrix, dtype=np.float32)
    corrected = _DECODE[image] @ matrix.T
    return np.searchsorted(_ENCODE_EDGES, corrected).astype(np.uint8)


def make_healer(
    image: np.ndarray, master: np.ndarray, master_lab: np.ndarray, bounds: dict
) -> Healer:
    """A `Healer` for one artifact: fit the preset, apply it, re-measure ΔE and histogram."""

    def heal(preset: str) -> HealAttempt:
        bound = bounds[preset]
        correction = FITTERS[preset](image, master, bound)
        if correction is None:
            return HealAttempt(preset, None, note=f"fitted correction exceeds the bound {bound}")
        healed = apply_correction(image, correction)
        mean, p95 = delta_e_summary(delta_e_map(healed, master_lab))
        return HealAttempt(preset, correction, mean, p95, histogram_delta_pct(healed, master))

    return heal
