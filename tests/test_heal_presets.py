"""The sharpening and masking presets on real photographs: each heal path, each bound, never
copying master pixels, the published pixels equal to the re-measured ones, the config's
bounds, and the preset counts of a run on the sample."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data

from retouch_assets.config import ConfigError, RetouchConfig, load_config
from retouch_assets.gates import decide as g
from retouch_assets.gates.heal import (
    Correction,
    apply_correction,
    find_damage,
    make_healer,
)
from retouch_assets.gates.queries import heal_preset_counts
from retouch_assets.gates.week import final_pixels
from retouch_assets.quality.artifact import (
    ArtifactInput,
    MasterCache,
    QualitySettings,
    measure_artifact,
    measurement_from_row,
    quality_rows,
)
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, lab_planes
from retouch_assets.quality.icc import srgb_transfer_decode, srgb_transfer_encode
from retouch_assets.quality.measures import histogram_delta_pct, sharpness_ratio, tile_energies
from retouch_assets.vocabulary import Gate, Status

CONFIG = RetouchConfig()


def _master() -> np.ndarray:
    """A real photograph at 360 x 240, resized as the sample's masters are (Lanczos)."""
    return np.asarray(Image.fromarray(data.coffee()).resize((360, 240), Image.Resampling.LANCZOS))


def _soft(image: np.ndarray, sigma: float) -> np.ndarray:
    blurred = gaussian_filter(image.astype(np.float32), (sigma, sigma, 0), mode="nearest")
    return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)


def _tint(image: np.ndarray, box, gains, soft_edge: float = 2.0) -> np.ndarray:
    """Gains in linear light under a soft-edged box, as a local retouch would leave them."""
    x, y, w, h = box
    mask = np.zeros(image.shape[:2], np.float32)
    mask[y : y + h, x : x + w] = 1.0
    mask = gaussian_filter(mask, soft_edge)[..., None]
    linear = srgb_transfer_decode(image / 255.0)
    tinted = linear * (1.0 + mask * (np.asarray(gains) - 1.0))
    return np.clip(np.rint(srgb_transfer_encode(np.clip(tinted, 0, 1)) * 255), 0, 255).astype(
        np.uint8
    )


def _decide(tmp_path: Path, image: np.ndarray, master: np.ndarray, config=CONFIG):
    Image.fromarray(image).save(tmp_path / "out.png")
    Image.fromarray(master).save(tmp_path / "master.png")
    item = ArtifactInput(
        "a1", 1, "c1", datetime(2026, 10, 6, tzinfo=UTC), tmp_path / "out.png",
        tmp_path / "master.png", [], 20_000,
    )  # fmt: skip
    m = measure_artifact(item, MasterCache(), QualitySettings())
    healer = make_healer(image, master, lab_planes(master), config.healing, config.gates.colour)
    return m, g.decide(m, [], config, healer)


def _kept(decision) -> dict:
    (kept,) = [a for a in decision.heal_actions if a["passed"]]
    return kept


def _published_equals_remeasured(tmp_path: Path, decision, image, master) -> np.ndarray:
    """Publication re-applies the stored parameters to exactly the re-measured pixels."""
    row = {"heal_actions": json.dumps(decision.heal_actions)}
    published = final_pixels(tmp_path / "out.png", row, (255, 255, 255))
    assert published is not None
    assert np.array_equal(published, apply_correction(image, decision.correction))
    kept = _kept(decision)
    mean, p95 = delta_e_summary(delta_e_map(published, lab_planes(master)))
    assert round(mean, 4) == kept["delta_e_mean"] and round(p95, 4) == kept["delta_e_p95"]
    assert round(histogram_delta_pct(published, master), 4) == kept["hist_delta_pct"]
    ratio = sharpness_ratio(tile_energies(published), tile_energies(master))
    assert round(ratio, 4) == kept["sharpness_ratio"]
    return published


# --- the measure ---------------------------------------------------------------------------


def test_sharpness_ratio_is_measured_and_round_trips_through_the_quality_row(tmp_path):
    master = _master()
    soft = _soft(master, 0.5)
    m, _ = _decide(tmp_path, soft, master)
    assert m.sharpness is not None and m.master_sharpness is not None
    assert m.sharpness < m.master_sharpness
    assert m.sharpness_ratio < CONFIG.gates.colour.sharpness_ratio_min < 1.0
    # A sharp copy measures 1; blur only lowers it.
    assert sharpness_ratio(tile_energies(master), tile_energies(master)) == 1.0
    softer = sharpness_ratio(tile_energies(_soft(master, 1.5)), tile_energies(master))
    assert softer is not None and softer < m.sharpness_ratio
    # Judged tile by tile: a crisp text box on a soft photo does not hide its softness.
    boxed = soft.copy()
    boxed[10:60, 10:200] = 255
    boxed[25:45, 20:190] = 0
    master_boxed = master.copy()
    master_boxed[10:60, 10:200] = 255
    master_boxed[25:45, 20:190] = 0
    ratio = sharpness_ratio(tile_energies(boxed), tile_energies(master_boxed))
    assert ratio == pytest.approx(m.sharpness_ratio, abs=0.05)
    (row,) = quality_rows(datetime(2026, 10, 5).date(), [m], {("a1", 1): "t"})
    again = measurement_from_row(row)
    assert (again.sharpness, again.master_sharpness, again.sharpness_ratio) == (
        m.sharpness,
        m.master_sharpness,
        m.sharpness_ratio,
    )


def test_a_soft_image_fails_colour_fidelity_on_its_sharpness_row(tmp_path):
    master = _master()
    m, d = _decide(tmp_path, _soft(master, 0.5), master, CONFIG.model_copy(
        update={"healing": CONFIG.healing.model_copy(update={"presets": []})}
    ))  # fmt: skip
    assert d.status == Status.NEEDS_HUMAN_REVIEW and Gate.COLOUR_FIDELITY in d.failed_gates
    sharp = [r for r in d.rows if r.metric == "sharpness_ratio"]
    assert len(sharp) == 1 and not sharp[0].passed and sharp[0].final
    assert "sharpness" in d.review_reasons[0]


def test_a_row_measured_before_sharpness_is_not_judged_on_it(tmp_path):
    master = _master()
    m, _ = _decide(tmp_path, master, master)
    old = replace(m, sharpness=None, master_sharpness=None, sharpness_ratio=None)
    d = g.decide(old, [], CONFIG, None)
    assert d.status == Status.APPROVED
    assert not any(r.metric == "sharpness_ratio" for r in d.rows)


# --- sharpening ----------------------------------------------------------------------------


def test_a_soft_image_is_healed_by_sharpening_and_published_as_re_measured(tmp_path):
    master = _master()
    soft = _soft(master, 0.5)
    m, d = _decide(tmp_path, soft, master)
    assert d.status == Status.HEALED, d.review_reasons
    kept = _kept(d)
    assert kept["preset"] == "sharpening"
    bounds = CONFIG.healing.sharpening
    assert bounds.radius_min <= kept["radius"] <= bounds.radius_max
    assert 0 < kept["amount"] <= bounds.amount_max
    # The colour presets were tried first (the image is soft, not cast) and did not pass.
    assert [a["preset"] for a in d.heal_actions] == ["white_balance", "colour_matrix", "sharpening"]
    # Fitted to the master's sharpness.
    assert kept["sharpness_ratio"] == pytest.approx(1.0, abs=0.05)
    finals = [r for r in d.rows if r.final and r.gate == Gate.COLOUR_FIDELITY]
    assert {r.metric for r in finals} == {"delta_e_mean", "hist_delta_pct", "sharpness_ratio"}
    assert all(r.passed and r.phase == "sharpening" for r in finals)
    _published_equals_remeasured(tmp_path, d, soft, master)


def test_a_too_soft_image_is_not_healed_and_the_note_says_why(tmp_path):
    master = _master()
    m, d = _decide(tmp_path, _soft(master, 2.0), master)
    assert d.status == Status.NEEDS_HUMAN_REVIEW
    (sharpening,) = [a for a in d.heal_actions if a["preset"] == "sharpening"]
    assert not sharpening["passed"] and "radius" not in sharpening
    assert "too soft" in sharpening["note"]
    assert f"above the bound {CONFIG.healing.sharpening.amount_max}" in sharpening["note"]
    assert "sharpening (fitted correction exceeds the bound: too soft" in d.review_reasons[0]


def test_sharpening_does_not_apply_to_a_sharp_image(tmp_path):
    master = _master()
    cast = _tint(master, (0, 0, master.shape[1], master.shape[0]), [1.1, 1.0, 0.9], 0.0)
    only = CONFIG.model_copy(
        update={"healing": CONFIG.healing.model_copy(update={"presets": ["sharpening"]})}
    )
    _, d = _decide(tmp_path, cast, master, only)
    assert d.status == Status.NEEDS_HUMAN_REVIEW and d.heal_actions == []
    assert "healing tried: none" in d.review_reasons[0]


# --- masking -------------------------------------------------------------------------------

BOX = (120, 50, 140, 110)  # x, y, w, h: about 18 % of the frame
GAINS = [1.3, 0.95, 0.75]


def test_a_locally_tinted_image_is_healed_by_masking_and_published_as_re_measured(tmp_path):
    master = _master()
    tinted = _tint(master, BOX, GAINS)
    m, d = _decide(tmp_path, tinted, master)
    assert d.status == Status.HEALED, d.review_reasons
    kept = _kept(d)
    assert kept["preset"] == "masking"
    # The global colour presets cannot fix a local tint; masking is stored as parameters.
    assert [a["preset"] for a in d.heal_actions][-1] == "masking"
    assert 1 <= len(kept["regions"]) <= CONFIG.healing.masking.max_regions
    for region in kept["regions"]:
        x, y, w, h = region["box"]
        # Each region lies on the tinted box (its soft edge included).
        assert BOX[0] - 8 <= x and x + w <= BOX[0] + BOX[2] + 8
        assert BOX[1] - 8 <= y and y + h <= BOX[1] + BOX[3] + 8
        gains = np.diag(region["matrix"])
        assert np.all(np.abs(gains - 1) <= CONFIG.healing.masking.max_gain_deviation)
        assert np.count_nonzero(np.asarray(region["matrix"]) - np.diag(gains)) == 0
    assert Correction.from_dict(kept) == d.correction
    published = _published_equals_remeasured(tmp_path, d, tinted, master)
    # Outside the feathered masks the image is untouched.
    assert np.array_equal(published[:, :100], tinted[:, :100])


def test_masking_never_copies_master_pixels(tmp_path):
    master = _master()
    tinted = _tint(master, BOX, GAINS)
    # Inside the tinted box, a patch that shows what the master does not.
    x, y = BOX[0] + 30, BOX[1] + 25
    tinted[y : y + 16, x : x + 20] = data.chelsea()[100:116, 100:120]
    _, d = _decide(tmp_path, tinted, master)
    assert d.status == Status.HEALED and _kept(d)["preset"] == "masking"
    healed = apply_correction(tinted, d.correction)
    # Under the mask the correction is one function of the delivered pixels (equal inputs,
    # equal outputs) ...
    rx, ry, rw, rh = d.correction.regions[0].box
    core_in = tinted[ry : ry + rh, rx : rx + rw].reshape(-1, 3)
    core_out = healed[ry : ry + rh, rx : rx + rw].reshape(-1, 3)
    codes = core_in.astype(np.int64) @ np.array([65536, 256, 1])
    order = np.argsort(codes, kind="stable")
    same = np.diff(codes[order]) == 0
    assert np.array_equal(core_out[order][1:][same], core_out[order][:-1][same])
    # ... so where the delivered image differs from the master, the healed image still does.
    patch_de, _ = delta_e_summary(
        delta_e_map(healed[y : y + 16, x : x + 20].copy(), lab_planes(master[y : y + 16, x : x + 20].copy()))
    )  # fmt: skip
    assert patch_de > 10


def test_damage_over_the_area_bound_is_not_healed_and_the_note_says_why(tmp_path):
    master = _master()
    height, width = master.shape[:2]
    large = (20, 20, width - 40, height // 2)  # ~40 % of the frame
    tinted = _tint(master, large, [1.25, 1.0, 0.8])
    only = CONFIG.model_copy(
        update={"healing": CONFIG.healing.model_copy(update={"presets": ["masking"]})}
    )
    _, d = _decide(tmp_path, tinted, master, only)
    assert d.status == Status.NEEDS_HUMAN_REVIEW
    (masking,) = d.heal_actions
    assert not masking["passed"] and "regions" not in masking
    bound = CONFIG.healing.masking.max_area_share
    assert "damage covers" in masking["note"] and f"> bound {bound:.0%}" in masking["note"]


def test_a_local_repaint_is_over_the_gain_bound_and_not_healed(tmp_path):
    master = _master()
    tinted = _tint(master, BOX, [0.45, 1.0, 1.0])  # a red cut no gain within 1 ± 0.4 undoes
    only = CONFIG.model_copy(
        update={"healing": CONFIG.healing.model_copy(update={"presets": ["masking"]})}
    )
    _, d = _decide(tmp_path, tinted, master, only)
    assert d.status == Status.NEEDS_HUMAN_REVIEW
    (masking,) = d.heal_actions
    assert not masking["passed"]
    assert "a gain strays" in masking["note"] and "a repaint, not a tint" in masking["note"]


def test_masking_does_not_apply_to_damage_spread_over_the_image(tmp_path):
    master = _master()
    # A mild global cast: ΔE above the gate everywhere, but nowhere locally damaged.
    cast = _tint(master, (0, 0, master.shape[1], master.shape[0]), [1.06, 1.0, 0.93], 0.0)
    only = CONFIG.model_copy(
        update={"healing": CONFIG.healing.model_copy(update={"presets": ["masking"]})}
    )
    m, d = _decide(tmp_path, cast, master, only)
    assert m.delta_e_mean is not None and m.delta_e_mean > CONFIG.gates.colour.delta_e_mean_max
    assert d.status == Status.NEEDS_HUMAN_REVIEW and d.heal_actions == []
    spread = delta_e_map(cast, lab_planes(master))
    damage = find_damage(spread, CONFIG.gates.colour.delta_e_mean_max, CONFIG.healing.masking)
    assert damage is None or damage.excess_share < CONFIG.healing.masking.min_excess_share


# --- configuration -------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "retouch-slo.yaml"
    path.write_text(text)
    return path


def test_a_preset_listed_twice_is_refused_naming_the_field_and_the_fix(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "healing:\n  presets: [masking, sharpening, masking]\n"))
    message = str(err.value)
    assert "retouch-slo.yaml" in message and "healing.presets" in message
    assert "masking listed more than once" in message and "list each preset once" in message


def test_sharpening_radii_out_of_order_are_refused(tmp_path):
    text = "healing:\n  sharpening:\n    radius_min: 3.0\n    radius_max: 1.0\n"
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    message = str(err.value)
    assert "healing.sharpening" in message and "set radius_min <= radius_max" in message


def test_a_masking_bound_out_of_range_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, "healing:\n  masking:\n    max_area_share: 1.5\n"))
    assert "healing.masking.max_area_share" in str(err.value)


def test_the_shipped_config_lists_the_four_presets():
    config = load_config(Path(__file__).parents[1] / "retouch-slo.yaml")
    assert config.healing.presets == ["white_balance", "colour_matrix", "sharpening", "masking"]
    assert config.gates.colour.sharpness_ratio_min == CONFIG.gates.colour.sharpness_ratio_min


# --- the sample, end to end ----------------------------------------------------------------


def test_the_sample_run_heals_with_sharpening_and_masking_and_counts_them(sample_run):
    from retouch_assets.cli import _heal_summary
    from retouch_assets.warehouse import connect

    with connect(sample_run.db, read_only=True) as con:
        counts = heal_preset_counts(con)
        line = _heal_summary(con)
    assert counts["sharpening"][1] >= 1 and counts["masking"][1] >= 1
    healed = sample_run.query(
        "SELECT heal_actions FROM retouch.gate_decisions WHERE status = $s", {"s": Status.HEALED}
    )
    kept = [a["preset"] for (actions,) in healed for a in json.loads(actions) if a["passed"]]
    assert kept.count("sharpening") == counts["sharpening"][1]
    assert kept.count("masking") == counts["masking"][1]
    assert line and line[0].startswith("  healing presets (healed / tried): ")
    assert f"sharpening {counts['sharpening'][1]} / {counts['sharpening'][0]}" in line[0]
    assert f"masking {counts['masking'][1]} / {counts['masking'][0]}" in line[0]
