"""The gates per artifact: pass, heal and review paths, rejection, delivery, and a healed image
that really passes when measured again."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from retouch_assets.config import RetouchConfig
from retouch_assets.gates import decide as g
from retouch_assets.gates.heal import apply_correction, fit_white_balance, make_healer
from retouch_assets.quality.artifact import (
    ArtifactInput,
    MasterCache,
    QualitySettings,
    find_duplicates,
    measure_all,
    measure_artifact,
)
from retouch_assets.quality.delta_e import delta_e_map, delta_e_summary, lab_planes
from retouch_assets.quality.icc import srgb_transfer_decode, srgb_transfer_encode
from retouch_assets.quality.measures import histogram_delta_pct
from retouch_assets.vocabulary import Gate, Status

CONFIG = RetouchConfig()
LAYER = {
    "id": "h",
    "text": "Hi",
    "fg": "#FFFFFF",
    "bg": "#1B2A49",
    "bbox": [0, 0, 50, 20],
    "font_px": 28.0,
    "bold": True,
}


def _master() -> np.ndarray:
    return data.coffee()[::2, ::2].copy()


def _cast(image: np.ndarray, gains) -> np.ndarray:
    linear = srgb_transfer_decode(image / 255.0) * np.asarray(gains)
    return np.clip(np.rint(srgb_transfer_encode(linear) * 255), 0, 255).astype(np.uint8)


def _measure(tmp_path: Path, image: np.ndarray, master: np.ndarray, layers=(LAYER,), ms=20_000):
    Image.fromarray(image).save(tmp_path / "out.png")
    Image.fromarray(master).save(tmp_path / "master.png")
    item = ArtifactInput(
        "a1",
        1,
        "c1",
        datetime(2026, 10, 6, tzinfo=UTC),
        tmp_path / "out.png",
        tmp_path / "master.png",
        list(layers),
        ms,
    )
    return measure_artifact(item, MasterCache(), QualitySettings())


def _decide(tmp_path, image, master, layers=(LAYER,), ms=20_000):
    m = _measure(tmp_path, image, master, layers, ms)
    healer = (
        make_healer(image, master, lab_planes(master), CONFIG.healing, CONFIG.gates.colour)
        if m.delta_e_mean is not None
        else None
    )
    return m, g.decide(m, list(layers), CONFIG, healer)


def test_a_clean_image_is_approved(tmp_path):
    master = _master()
    m, d = _decide(tmp_path, master, master)
    assert d.status == Status.APPROVED and d.failed_gates == [] and d.heal_actions == []
    assert {(r.gate, r.passed, r.final) for r in d.rows} >= {
        (Gate.COLOUR_FIDELITY, True, True),
        (Gate.ACCESSIBILITY, True, True),
    }
    assert m.delta_e_mean == 0.0


def test_a_global_cast_is_healed_and_the_healed_image_really_passes(tmp_path):
    master = _master()
    image = _cast(master, [1.08, 0.95, 0.90])
    m, d = _decide(tmp_path, image, master)
    assert m.delta_e_mean > CONFIG.gates.colour.delta_e_mean_max
    assert d.status == Status.HEALED and d.failed_gates == [Gate.COLOUR_FIDELITY]
    assert d.heal_actions[0]["preset"] == "white_balance" and d.heal_actions[0]["passed"]
    # Re-measure the corrected pixels independently of the decision.
    healed = apply_correction(image, d.correction)
    mean, _ = delta_e_summary(delta_e_map(healed, lab_planes(master)))
    assert mean == pytest.approx(d.final_delta_e_mean, abs=1e-9)
    assert mean <= CONFIG.gates.colour.delta_e_mean_max
    assert histogram_delta_pct(healed, master) <= CONFIG.gates.colour.hist_delta_pct_max
    finals = [r for r in d.rows if r.final and r.gate == Gate.COLOUR_FIDELITY]
    assert finals and all(r.passed and r.phase == "white_balance" for r in finals)


def test_healing_never_copies_master_pixels(tmp_path):
    master = _master()
    image = _cast(master, [1.1, 1.0, 0.9])
    # A region where the delivered image shows something the master does not.
    image[20:80, 30:130] = data.chelsea()[100:160, 100:200]
    correction = fit_white_balance(image, master, 0.25)
    healed = apply_correction(image, correction)
    # Healing is one global function of the delivered pixels: equal inputs, equal outputs ...
    flat_image, flat_healed = image.reshape(-1, 3), healed.reshape(-1, 3)
    codes = flat_image.astype(np.int64) @ np.array([65536, 256, 1])
    order = np.argsort(codes, kind="stable")
    same_input = np.diff(codes[order]) == 0
    assert np.array_equal(flat_healed[order][1:][same_input], flat_healed[order][:-1][same_input])
    # ... so where the image differs from the master, the healed image still does.
    region_de, _ = delta_e_summary(
        delta_e_map(healed[20:80, 30:130].copy(), lab_planes(master[20:80, 30:130].copy()))
    )
    outside_de, _ = delta_e_summary(
        delta_e_map(healed[100:, 150:].copy(), lab_planes(master[100:, 150:].copy()))
    )
    assert region_de > 10 * max(outside_de, 0.1)


def test_a_local_edit_cannot_be_healed_globally_and_goes_to_review(tmp_path):
    master = _master()
    image = master.copy()
    image[40:140, 60:200] = image[40:140, 60:200][..., [2, 0, 1]]  # repainted region
    m, d = _decide(tmp_path, image, master)
    assert d.status == Status.NEEDS_HUMAN_REVIEW
    assert d.unresolved_gates == [Gate.COLOUR_FIDELITY]
    # The damage is local, so masking is tried too, and refused by its bounds.
    assert [a["preset"] for a in d.heal_actions] == ["white_balance", "colour_matrix", "masking"]
    assert not any(a["passed"] for a in d.heal_actions)
    assert "exceeds the bound" in d.heal_actions[-1]["note"]
    assert "colour fidelity" in d.review_reasons[0]


def test_low_contrast_text_goes_to_review_with_a_proposed_colour(tmp_path):
    master = _master()
    layer = dict(LAYER, fg="#3A4A69", font_px=14.0, bold=False)
    _, d = _decide(tmp_path, master, master, layers=(layer,))
    assert d.status == Status.NEEDS_HUMAN_REVIEW and d.failed_gates == [Gate.ACCESSIBILITY]
    (proposal,) = d.proposals
    assert proposal["layer"] == "h" and proposal["required"] == 4.5
    assert proposal["proposed_fg"].startswith("#") and proposal["proposed_fg"] != "#3A4A69"


def test_slow_processing_breaches_delivery_without_rejecting(tmp_path):
    master = _master()
    _, d = _decide(tmp_path, master, master, ms=120_000)
    assert d.status == Status.APPROVED and d.delivery_breach and d.failed_gates == [Gate.DELIVERY]


def test_a_size_mismatch_is_rejected_with_its_reason(tmp_path):
    master = _master()
    m, d = _decide(tmp_path, master[:, :-10].copy(), master)
    assert m.measure_error.startswith("size_mismatch")
    assert d.status == Status.REJECTED and d.unresolved_gates == [Gate.INPUT_INTEGRITY]


def test_an_undecodable_image_is_rejected(tmp_path):
    master = _master()
    Image.fromarray(master).save(tmp_path / "master.png")
    (tmp_path / "out.png").write_bytes(b"not an image")
    item = ArtifactInput(
        "a1",
        1,
        "c1",
        datetime(2026, 10, 6, tzinfo=UTC),
        tmp_path / "out.png",
        tmp_path / "master.png",
        [],
        1000,
    )
    m = measure_artifact(item, MasterCache(), QualitySettings())
    assert m.measure_error.startswith("undecodable")
    assert g.decide(m, [], CONFIG, None).status == Status.REJECTED


def test_duplicates_point_to_the_earliest_artifact_of_the_campaign(tmp_path):
    master = _master()
    Image.fromarray(master).save(tmp_path / "m.png")
    other = data.chelsea()[:200, :300].copy()
    Image.fromarray(other).save(tmp_path / "o.png")
    t = [datetime(2026, 10, 6, h, tzinfo=UTC) for h in range(4)]
    items = [
        ArtifactInput("a3", 1, "c1", t[2], tmp_path / "m.png", tmp_path / "m.png", [], 1),
        ArtifactInput("a1", 1, "c1", t[0], tmp_path / "m.png", tmp_path / "m.png", [], 1),
        ArtifactInput("a1", 2, "c1", t[1], tmp_path / "m.png", tmp_path / "m.png", [], 1),
        ArtifactInput("a4", 1, "c2", t[3], tmp_path / "m.png", tmp_path / "m.png", [], 1),
        ArtifactInput("a5", 1, "c1", t[3], tmp_path / "o.png", tmp_path / "o.png", [], 1),
    ]
    results = measure_all(items, QualitySettings())
    find_duplicates(results, [], max_distance=4)
    assert [m.duplicate_of for m in results] == ["a1", None, None, None, None]
