"""A week measured on worker processes: the master cache (by content, bounded in bytes), the
chunk plan, and the parallel path giving exactly the serial path's rows, ΔE and statuses."""

import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from retouch_assets.definitions import build_definitions
from retouch_assets.quality import clip_scores as scoring
from retouch_assets.quality.artifact import (
    QualitySettings,
    duplicates_of,
    find_duplicates,
    measure_all,
    quality_rows,
)
from retouch_assets.quality.icc import DISPLAY_P3, encode_in_profile, matrix_trc_profile
from retouch_assets.quality.masters import MasterCache, master_key
from retouch_assets.quality.queries import (
    clip_scores_of_week,
    earlier_hashes,
    generations_to_measure,
)
from retouch_assets.quality.week import (
    MeasureOptions,
    WorkItem,
    measure_week,
    plan_chunks,
    resolve_workers,
    start_worker_server,
    work_items,
)
from retouch_assets.resources import LandingResource
from tests.conftest import SampleRun

WEEK = date(2026, 10, 5)  # the small sample's first week: every gate path, every defect kind


def _png(path: Path, seed: int, size=(40, 30)) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_master_cache_decodes_each_content_once(tmp_path):
    a = _png(tmp_path / "a.png", 1)
    copy = tmp_path / "batch2.png"
    shutil.copyfile(a, copy)  # the same master in another batch's folder
    cache = MasterCache()
    first, second = cache.get(a), cache.get(copy)
    assert first is second and (cache.stats.misses, cache.stats.hits) == (1, 1)
    assert first.lab.shape == (3, 30, 40) and first.decoded.pixels.shape == (30, 40, 3)
    _png(a, 2)  # changed on disk: another key, decoded again
    assert cache.get(a) is not first and cache.stats.misses == 2


def test_a_cached_master_computes_its_sharpness_tiles_once(tmp_path):
    from retouch_assets.quality.measures import tile_energies

    master = MasterCache().get(_png(tmp_path / "m.png", 3, size=(96, 64)))
    assert np.array_equal(master.tiles, tile_energies(master.decoded.pixels))
    assert master.tiles is master.tiles  # kept with the entry, not recomputed per artifact


def test_master_cache_is_bounded_in_bytes(tmp_path):
    paths = [_png(tmp_path / f"m{k}.png", k) for k in range(4)]
    entry = MasterCache().get(paths[0]).nbytes  # 40 x 30: 3.6 kB of pixels, 28.8 kB of Lab
    cache = MasterCache(max_bytes=2 * entry)
    for path in paths:
        cache.get(path)
    assert len(cache) == 2 and cache.nbytes <= 2 * entry and cache.stats.evictions == 2
    cache.get(paths[3])  # the most recent stayed
    cache.get(paths[0])  # the oldest went: decoded again
    assert (cache.stats.hits, cache.stats.misses) == (1, 5)

    tiny = MasterCache(max_bytes=entry - 1)  # larger than the bound: computed, not kept
    assert tiny.get(paths[0]).nbytes == entry and len(tiny) == 0 and tiny.stats.not_kept == 1


def test_a_missing_master_gets_a_key_and_a_decode_error(tmp_path):
    from retouch_assets.quality.decode import DecodeError

    missing = tmp_path / "gone.png"
    assert master_key(missing).startswith("missing:")
    with pytest.raises(DecodeError):
        MasterCache().get(missing)


def test_chunks_follow_masters(tmp_path):
    from retouch_assets.quality.artifact import ArtifactInput

    def item(artifact: str, master: str) -> WorkItem:
        at = WEEK
        return WorkItem(
            ArtifactInput(artifact, 1, "c", at, tmp_path, tmp_path, [], 1),  # type: ignore[arg-type]
            master,
            "t",
            {},
        )

    work = [item(f"a{k}", "m2" if k % 2 else "m1") for k in range(5)]
    chunks = plan_chunks(work, 2)
    assert [[w.item.artifact_id for w in c] for c in chunks] == [
        ["a0", "a2"],
        ["a4", "a1"],
        ["a3"],
    ]
    with pytest.raises(ValueError):
        plan_chunks(work, 0)


def test_workers_auto_is_one_per_available_core():
    assert resolve_workers("auto") >= 1 and resolve_workers(3) == 3


def _work(run: SampleRun, week: date) -> tuple[list[WorkItem], list]:
    landing = LandingResource(path=run.settings.landing_dir)
    with duckdb.connect(str(run.db), read_only=True) as con:
        generations = generations_to_measure(con, week)
        earlier = earlier_hashes(con, week)
        clip = {k: scoring.quality_fields(r) for k, r in clip_scores_of_week(con, week).items()}
    return work_items(generations, landing.file, clip), earlier


def _rows(files: list[Path]) -> list[dict]:
    rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: (r["artifact_id"], r["attempt"]))


def _same(a: list[dict], b: list[dict]) -> None:
    """Rows equal column by column; floats (ΔE, histogram delta, contrast) to 1e-6."""
    assert [(r["artifact_id"], r["attempt"]) for r in a] == [
        (r["artifact_id"], r["attempt"]) for r in b
    ]
    for x, y in zip(a, b, strict=True):
        for name in x.keys() | y.keys():
            u, v = x.get(name), y.get(name)
            if isinstance(u, float) and v is not None:
                assert u == pytest.approx(v, abs=1e-6), (x["artifact_id"], name)
            else:
                assert u == v, (x["artifact_id"], name)


def _with_extras(work: list[WorkItem], folder: Path) -> list[WorkItem]:
    """The week's work and an attempt of each kind the small sample may lack, derived from its
    first attempt: a later copy (a duplicate), an image that no longer decodes, a master of
    another size, a failing text layer, a text layer outside the image, a Display P3 image."""
    first = work[0]
    pixels = np.asarray(Image.open(first.item.image_path).convert("RGB"))
    broken = folder / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    small_master = folder / "small-master.png"
    Image.fromarray(pixels[:-8, :-8]).save(small_master)
    p3 = folder / "p3.png"
    Image.fromarray(encode_in_profile(pixels, DISPLAY_P3)).save(
        p3, icc_profile=matrix_trc_profile("Display P3 (test)", DISPLAY_P3)
    )
    layer = {"id": "x", "text": "t", "fg": "#777777", "bg": "#FFFFFF", "bold": False}
    layer |= {"bbox": [0, 0, 10, 10], "font_px": 12.0}  # 4.478:1, under AA's 4.5

    def extra(name: str, master_key: str | None = None, **changes) -> WorkItem:
        item = replace(first.item, artifact_id=f"zz-{name}", attempt=1, **changes)
        return replace(first, item=item, master_key=master_key or first.master_key)

    later = first.item.generated_at + timedelta(hours=1)
    return [
        *work,
        extra("copy", generated_at=later),
        extra("broken", image_path=broken),
        extra("resized", master_key(small_master), master_path=small_master),
        extra("low-contrast", text_layers=[layer]),
        extra("outside", text_layers=[layer | {"bg": None, "bbox": [10**6, 0, 5, 5]}]),
        extra("p3", image_path=p3),
    ]


def test_parallel_measurement_matches_the_serial_and_the_in_memory_paths(sample_run, tmp_path):
    settings = QualitySettings.from_config(sample_run.resources()["retouch_config"].load())
    # As `retouch run` does at start-up: the workers then fork from a server already running
    # (a second call changes nothing).
    start_worker_server()
    start_worker_server()
    rows = []
    for week in (date(2026, 10, 5), date(2026, 10, 12)):
        work, earlier = _work(sample_run, week)
        (tmp_path / str(week)).mkdir()
        work = _with_extras(work, tmp_path / str(week))
        measured = {}
        for workers in (1, 2):
            folder = tmp_path / str(week) / f"workers-{workers}"
            folder.mkdir(parents=True)
            # Chunks of 3: several chunks per worker, and masters split across chunks.
            options = MeasureOptions(workers=workers, chunk_size=3, master_cache_mb=64)
            measured[workers] = measure_week(week, work, settings, options, folder)
        serial, parallel = measured[1], measured[2]
        assert len(serial.files) > 2 and serial.rows == parallel.rows == len(work)
        _same(_rows(serial.files), _rows(parallel.files))
        assert serial.hashes == parallel.hashes

        # The in-memory path the pipeline ran before (threads, every result held at once).
        reference = measure_all([w.item for w in work], settings)
        find_duplicates(reference, earlier, settings.duplicate_max_hamming)
        found = duplicates_of(parallel.hashes, earlier, settings.duplicate_max_hamming)
        expected = quality_rows(
            week,
            reference,
            {(w.item.artifact_id, w.item.attempt): w.template_id for w in work},
            {(w.item.artifact_id, w.item.attempt): w.clip for w in work},
        )
        week_rows = [
            r | {"duplicate_of": found.get((r["artifact_id"], r["attempt"]))}
            for r in _rows(parallel.files)
        ]
        _same(week_rows, sorted(expected, key=lambda r: (r["artifact_id"], r["attempt"])))
        extra = {r["artifact_id"]: r for r in week_rows if r["artifact_id"].startswith("zz-")}
        assert extra["zz-copy"]["duplicate_of"] == work[0].item.artifact_id
        assert extra["zz-broken"]["measure_error"].startswith("undecodable")
        assert extra["zz-resized"]["measure_error"].startswith("size_mismatch")
        assert extra["zz-low-contrast"]["wcag_aa_pass"] is False
        assert extra["zz-outside"]["measure_error"].startswith("bad_text_layer")
        assert "Display P3" in extra["zz-p3"]["image_profile"]
        rows += week_rows
    assert any(r["delta_e_mean"] and r["delta_e_mean"] > 2 for r in rows)  # the sample's casts


_TABLES = {
    "retouch.artifact_quality": "artifact_id, attempt",
    "retouch.gate_decisions": "artifact_id, attempt",
    "retouch.gate_results": "artifact_id, attempt, gate, metric, phase",
}


def _week_rows(db: Path) -> dict[str, list[tuple]]:
    # The delivery gate's rendition rows are written by the renditions step, which these
    # re-runs do not select (re-running the gates clears them until it runs again).
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT * EXCLUDE (week) FROM {table} WHERE week = $week "
                + ("AND phase <> 'rendition' " if table == "retouch.gate_results" else "")
                + f"ORDER BY {order}",
                {"week": WEEK},
            ).fetchall()
            for table, order in _TABLES.items()
        }


def test_the_pipeline_gives_the_same_rows_and_statuses_serial_and_parallel(sample_copy, tmp_path):
    results = {0: _week_rows(sample_copy.db)}  # the shared run: the default settings
    for workers in (1, 2):
        config = tmp_path / f"workers-{workers}.yaml"
        config.write_text(f"quality:\n  workers: {workers}\n  chunk_size: 2\n", encoding="utf-8")
        defs = build_definitions(replace(sample_copy.settings, slo_config=str(config)))
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            resources=defs.resources,
            partition_key=WEEK.isoformat(),
            selection=dg.AssetSelection.assets(
                ["retouch", "artifact_quality"], ["retouch", "gate_decisions"]
            ).required_multi_asset_neighbors(),
            raise_on_error=False,
        )
        assert result.success
        (quality,) = [
            m
            for m in result.get_asset_materialization_events()
            if m.asset_key == dg.AssetKey(["retouch", "artifact_quality"])
        ]
        assert quality.materialization.metadata["workers"].value == workers
        results[workers] = _week_rows(sample_copy.db)
    for table in _TABLES:
        assert len(results[0][table]) > 0
        assert results[1][table] == results[2][table] == results[0][table], table
