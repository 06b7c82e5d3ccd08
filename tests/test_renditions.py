"""Channel renditions: the bounded quality search on real photographs, budgets and floors with
their numbers, the sRGB profile and provenance in every file, sizes, the finalise hook, the
weekly asset's idempotence and the delivery SLI."""

import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
from PIL import Image

from retouch_assets.config import Channel, ConfigError, Renditions, RetouchConfig, parse_config
from retouch_assets.defs.assembly import build_definitions
from retouch_assets.defs.shared import key_of
from retouch_assets.delivery.bench import photographs
from retouch_assets.delivery.encode import decode, encode
from retouch_assets.delivery.fidelity import Reference, luminance
from retouch_assets.delivery.renditions import (
    ImageJob,
    RenditionContext,
    plan,
    render_image,
    rendition_gate_rows,
)
from retouch_assets.delivery.tables import RENDITIONS
from retouch_assets.gates.publish import _srgb_icc, xmp_packet
from retouch_assets.partitions import week_from_key, week_window
from retouch_assets.slo.engine import sli_events
from retouch_assets.slo.governance import relaxations
from retouch_assets.slo.queries import load_facts
from retouch_assets.vocabulary import RENDITION, Gate, RenditionFormat
from tests.conftest import SAMPLE_WEEKS

XMP = xmp_packet({"artifact_id": "art-1", "attempt": 1, "status": "approved"})
CONTEXT = RenditionContext("art-1", 1, "web", "", 0, 0, {})


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photograph (scikit-image's coffee), 480 × 320 like the sample's images."""
    return photographs(480)[1]


def _channel(formats=("avif", "webp", "jpeg"), widths=((320, 200),), **floor) -> Channel:
    return Channel.model_validate(
        {
            "formats": list(formats),
            "widths": [{"width": w, "max_kb": kb} for w, kb in widths],
            **({"floor": floor} if floor else {}),
        }
    )


def test_sizes_keep_the_aspect_ratio_and_never_upscale():
    channel = _channel(widths=((320, 30), (640, 80), (1280, 100)))
    targets = plan(channel, 480, 320)
    # 640 and 1280 both become the source's own 480: made once, with the smaller budget.
    assert [(t.format, t.width, t.height, t.max_bytes) for t in targets if t.format == "jpeg"] == [
        (RenditionFormat.JPEG, 320, 213, 30_000),
        (RenditionFormat.JPEG, 480, 320, 80_000),
    ]
    assert len(targets) == 6


@pytest.mark.parametrize("fmt", list(RenditionFormat))
def test_the_cached_reference_ssim_is_skimages_gaussian_ssim(photo, fmt):
    from skimage.metrics import structural_similarity

    reference = Reference(photo)
    for quality in (30, 60, 92):
        decoded = decode(encode(photo, fmt, quality, ""))
        expected = structural_similarity(
            luminance(photo),
            luminance(decoded),
            data_range=255.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert reference.ssim(decoded) == pytest.approx(expected, abs=1e-6)


def test_a_generous_budget_picks_a_quality_below_the_maximum_within_the_floor(photo):
    config = Renditions()
    made = render_image(photo, "web", _channel(), XMP, config, CONTEXT)
    assert {r.target.format for r in made} == set(RenditionFormat)
    for r in made:
        assert r.meets_floor and r.within_budget and r.ok
        assert config.quality_min <= r.quality < config.quality_max
        assert len(r.probes) <= config.max_probes
        assert r.delta_e_mean <= r.floor.delta_e_mean_max and r.ssim >= r.floor.ssim_min
        # The chosen quality is the lowest probed that keeps the floor: every probe below it
        # missed the floor.
        for quality, _, delta_e, ssim in r.probes:
            if quality < r.quality:
                assert delta_e > r.floor.delta_e_mean_max or ssim < r.floor.ssim_min
        assert (decode(r.data).shape[1], decode(r.data).shape[0]) == (320, 213)


def test_a_budget_that_cannot_be_met_fails_the_delivery_gate_with_the_numbers(photo):
    made = render_image(photo, "web", _channel(widths=((320, 2),)), XMP, Renditions(), CONTEXT)
    job = ImageJob("art-1", 1, "web", lambda: photo, XMP)
    for r in made:
        assert r.meets_floor and not r.within_budget and not r.ok
        rows = {row["metric"]: row for row in rendition_gate_rows(None, job, r)}
        key = f"rendition:web/{r.target.format}/320w"
        size = rows[f"{key}:bytes"]
        assert (size["value"], size["threshold"], size["passed"]) == (len(r.data), 2000, False)
        assert size["gate"] == Gate.DELIVERY and size["phase"] == RENDITION and size["final"]
        assert rows[f"{key}:delta_e_mean"]["value"] == pytest.approx(r.delta_e_mean)
        assert rows[f"{key}:delta_e_mean"]["passed"]
        assert (
            rows[f"{key}:ssim"]["value"] == pytest.approx(r.ssim) and rows[f"{key}:ssim"]["passed"]
        )


def test_a_floor_no_quality_keeps_fails_at_the_top_of_the_range(photo):
    config = Renditions()
    channel = _channel(formats=("jpeg",), ssim_min=0.9999)
    (r,) = render_image(photo, "web", channel, XMP, config, CONTEXT)
    assert not r.meets_floor and r.within_budget
    assert r.quality == config.quality_max  # the best look the range allows, recorded
    assert r.ssim < 0.9999 and len(r.probes) == config.max_probes


@pytest.mark.parametrize("fmt", list(RenditionFormat))
def test_every_rendition_carries_the_srgb_profile_and_the_provenance(photo, fmt):
    (r,) = render_image(photo, "web", _channel(formats=(fmt,)), XMP, Renditions(), CONTEXT)
    with Image.open(io.BytesIO(r.data)) as image:
        assert image.format == {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}[fmt]
        assert image.info["icc_profile"] == _srgb_icc()
        xmp = image.info.get("xmp")
        xmp = xmp.decode() if isinstance(xmp, bytes) else xmp
        assert "trainedAlgorithmicMedia" in xmp and 'retouch:artifactId="art-1"' in xmp


def test_the_finalise_hook_sees_each_rendition_and_the_budget_is_judged_on_its_bytes(photo):
    seen = []

    def finalise(data: bytes, mime: str, context: RenditionContext) -> bytes:
        seen.append((mime, context.channel, context.format, context.width, context.artifact_id))
        return data + b"\0" * 50_000  # e.g. a signed manifest

    channel = _channel(formats=("webp", "jpeg"), widths=((320, 45),))
    made = render_image(photo, "web", channel, XMP, Renditions(), CONTEXT, finalise)
    assert sorted(seen) == [
        ("image/jpeg", "web", "jpeg", 320, "art-1"),
        ("image/webp", "web", "webp", 320, "art-1"),
    ]
    assert all(len(r.data) > 50_000 and not r.within_budget and r.meets_floor for r in made)


def test_a_weeks_renditions_are_written_then_let_go_of(photo, tmp_path, monkeypatch):
    """`render_week` writes each rendition as it is made and keeps only its numbers: memory
    does not grow with the week's renditions (issue 14's bounded memory); the rows' bytes are
    the files' sizes."""
    from datetime import date

    from retouch_assets.delivery.renditions import render_week

    jobs = [
        ImageJob(f"art-{k}", 1, "web", lambda k=k: np.roll(photo, 7 * k, axis=1), XMP)
        for k in range(3)
    ]
    from retouch_assets.delivery import renditions as module

    recorded = []
    real_row = module.rendition_row

    def row_of(week, job, r, path, sha):
        recorded.append((r, path))
        return real_row(week, job, r, path, sha)

    monkeypatch.setattr(module, "rendition_row", row_of)
    channel = _channel(formats=("webp", "jpeg"), widths=((320, 200), (240, 200)))
    week = render_week(jobs, {"web": channel}, Renditions(), tmp_path, date(2026, 10, 5))
    # By the time the rows are built, each rendition's bytes are on disk and let go of.
    assert all(r.data == b"" and r.size == path.stat().st_size for r, path in recorded)
    assert len(week.rows) == len(week.paths) == 3 * 4
    for row, path in zip(week.rows, week.paths, strict=True):
        assert row["bytes"] == path.stat().st_size and row["path"] == str(path)
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {g["metric"].rsplit(":", 1)[1] for g in week.gate_rows} == {
        "bytes",
        "delta_e_mean",
        "ssim",
    }


def test_channel_config_errors_name_the_field_and_the_fix():
    with pytest.raises(ConfigError) as raised:
        parse_config(
            {
                "channels": {
                    "web": {"formats": ["webp", "webp"], "widths": [{"width": 320, "max_kb": 9}]}
                }
            },
            "x.yaml",
        )
    assert "x.yaml: channels.web.formats" in str(raised.value) and "Fix: list each" in str(
        raised.value
    )
    with pytest.raises(ConfigError, match=r"channels\.tiktok: is not one of ingest\.channels.*Fix"):
        parse_config(
            {
                "channels": {
                    "tiktok": {"formats": ["webp"], "widths": [{"width": 320, "max_kb": 9}]}
                }
            },
            "x.yaml",
        )
    with pytest.raises(ConfigError, match=r"renditions: quality_min \(90\) is above.*Fix"):
        parse_config({"renditions": {"quality_min": 90, "quality_max": 80}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"renditions\.base_url.*Fix: write an http"):
        parse_config({"renditions": {"base_url": "cdn.example.com"}}, "x.yaml")


def test_the_default_delivery_slo_counting_renditions_is_not_a_relaxation():
    new = RetouchConfig()
    old_delivery = replace_indicator(new, "processing_seconds", "<", 90)
    assert relaxations(old_delivery, new) == []
    # ... but only when the delivery gate's limit is within the old threshold,
    looser = parse_config({"gates": {"delivery": {"processing_seconds_max": 120}}}, "x.yaml")
    assert [r.slo for r in relaxations(old_delivery, looser)] == ["delivery"]
    # and going back to processing time alone is one.
    assert [r.slo for r in relaxations(new, old_delivery)] == ["delivery"]


def replace_indicator(config: RetouchConfig, metric: str, op: str, threshold) -> RetouchConfig:
    data = json.loads(config.model_dump_json())
    for slo in data["slos"]:
        if slo["name"] == "delivery":
            slo["indicator"] = {"metric": metric, "op": op, "threshold": threshold}
    return RetouchConfig.model_validate(data)


# --- the weekly asset on the sample ---------------------------------------------------------

WEEK = SAMPLE_WEEKS[0]


def _materialize_renditions(settings) -> dg.MaterializeResult:
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        partition_key=WEEK,
        selection=dg.AssetSelection.assets(key_of(RENDITIONS)),
    )


def _rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT * EXCLUDE (path), regexp_extract(path, '[^/]+$') FROM retouch.renditions "
            "ORDER BY ALL"
        ).fetchall()


def _gate_rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT * FROM retouch.gate_results WHERE phase = $p ORDER BY ALL", {"p": RENDITION}
        ).fetchall()


def test_the_sample_gets_its_renditions_as_recorded_files(sample_run):
    rows = sample_run.query(
        "SELECT r.width, r.height, r.bytes, r.path, r.sha256, r.within_budget,"
        " r.meets_floor, d.status FROM retouch.renditions r "
        "JOIN retouch.gate_decisions d USING (artifact_id, attempt)"
    )
    assert rows and all(status in ("approved", "healed") for *_, status in rows)
    for width, height, size, path, sha, *_ in rows:
        data = Path(path).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
        assert Path(path).parent.name == "renditions" and sha[:12] in Path(path).name
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (width, height) and image.info["icc_profile"] == _srgb_icc()
    publishable = sample_run.query(
        "SELECT count(*) FROM retouch.gate_decisions WHERE status IN ('approved', 'healed')"
    )[0][0]
    images = sample_run.query(
        "SELECT count(DISTINCT (artifact_id, attempt)) FROM retouch.renditions"
    )[0][0]
    assert images == publishable  # every sample channel has renditions
    # Three delivery gate rows per rendition.
    assert sample_run.query(
        "SELECT count(*) FROM retouch.gate_results WHERE phase = 'rendition'"
    ) == [(3 * len(rows),)]


def test_a_rerun_writes_the_same_files_and_rows(sample_copy):
    week_folder = sample_copy.outputs / WEEK / "renditions"
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in week_folder.iterdir()}
    rows, gates = _rows(sample_copy.db), _gate_rows(sample_copy.db)
    (week_folder / "stale.webp").write_bytes(b"left over")
    _materialize_renditions(sample_copy.settings)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in week_folder.iterdir()}
    assert after == before  # same names, bytes, untouched files; the stale file is gone
    assert _rows(sample_copy.db) == rows and _gate_rows(sample_copy.db) == gates


def test_a_rendition_failure_counts_against_the_delivery_slo(sample_copy, tmp_path):
    tight = tmp_path / "tight.yaml"  # JSON is YAML
    channels = {"formats": ["jpeg"], "widths": [{"width": 320, "max_kb": 2}]}
    names = ("web", "social", "email", "display")
    tight.write_text(json.dumps({"channels": {name: channels for name in names}}))
    _materialize_renditions(replace(sample_copy.settings, slo_config=str(tight)))
    with duckdb.connect(str(sample_copy.db), read_only=True) as con:
        facts = load_facts(con, *week_window(week_from_key(WEEK)))
        over = set(
            con.execute(
                "SELECT artifact_id, attempt FROM retouch.renditions WHERE NOT within_budget"
            ).fetchall()
        )
    keys = list(zip(facts["artifact_id"], facts["attempt"], strict=True))
    ok = dict(zip(keys, facts["delivery_ok"], strict=True))
    slow = {k for k, s in zip(keys, facts["processing_seconds"], strict=True) if s >= 90}
    assert over and all(not ok[k] for k in over)
    assert all(ok[k] for k in keys if k not in over | slow)
    eligible, good = sli_events(facts, RetouchConfig().slo("delivery"))
    assert eligible.all() and good.sum() == len(set(keys) - over - slow)


def test_renditions_sit_between_the_gates_and_both_publication_and_the_facts():
    from retouch_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    key = key_of(RENDITIONS)
    assert graph.get(key).group_name == "delivery"
    assert {dg.AssetKey(["retouch", "gate_decisions"])} <= graph.get(key).parent_keys
    for child in (["retouch", "gated_outputs"], ["slo", "sli_facts"], ["slo", "error_budget"]):
        assert key in graph.get(dg.AssetKey(child)).parent_keys
    # Nothing upstream of renditions depends on a budget: no cycle through the freezes.
    assert dg.AssetKey(["slo", "error_budget"]) not in graph.get_ancestor_asset_keys(key)


def test_the_run_summary_counts_renditions_per_channel_and_missing_alt_text(sample_run):
    from retouch_assets.delivery.summary import delivery_summary

    with duckdb.connect(str(sample_run.db), read_only=True) as con:
        lines = delivery_summary(con)
    total = sample_run.query("SELECT count(*) FROM retouch.renditions")[0][0]
    manifests = sample_run.query(
        "SELECT count(*) FROM retouch.gated_outputs WHERE delivery_manifest_path IS NOT NULL"
    )[0][0]
    assert lines[0].startswith(f"  renditions: {total} (")
    assert f"within budget and floor {total}/{total} (100.0%)" in lines[0]
    assert "budget failures 0, floor failures 0" in lines[0]
    assert lines[1].startswith(f"  web delivery manifests: {manifests}")
