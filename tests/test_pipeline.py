"""The whole weekly graph materialized on a temporary warehouse: quality, gates, publication,
events, and the blocking checks."""

import json

import dagster as dg
import duckdb
import pytest
from PIL import Image

from retouch_assets.definitions import build_definitions
from retouch_assets.defs.shared import GATE_DECISIONS, GATED_OUTPUTS
from retouch_assets.gates.publish import TRAINED_ALGORITHMIC_MEDIA, XMP_KEY
from retouch_assets.settings import Settings
from tests.conftest import REPO_ROOT

_DEFS = build_definitions(Settings("unused.duckdb", "unused", "unused.yaml", "unused"))
ALL = [*_DEFS.assets, *_DEFS.asset_checks]
WEEK = "2026-10-05"


def _run(resources, week=WEEK):
    return dg.materialize(ALL, resources=resources, partition_key=week, raise_on_error=False)


def _query(res, sql):
    with duckdb.connect(res["warehouse"].path, read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def first_week(small_sample, tmp_path_factory):
    """The sample's first week, materialized once for the read-only tests below."""
    from tests.conftest import (
        LandingResource,
        OutputsResource,
        ReportsResource,
        RetouchConfigResource,
        WarehouseResource,
    )

    tmp = tmp_path_factory.mktemp("pipeline")
    res = {
        "warehouse": WarehouseResource(path=str(tmp / "w.duckdb")),
        "landing": LandingResource(path=str(small_sample)),
        "outputs": OutputsResource(path=str(tmp / "outputs")),
        "reports": ReportsResource(path=str(tmp / "reports")),
        "retouch_config": RetouchConfigResource(path=str(REPO_ROOT / "retouch-slo.yaml")),
    }
    result = _run(res)
    return res, result


def test_every_check_passes_and_every_table_is_filled(first_week):
    res, result = first_week
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert len(result.get_asset_check_evaluations()) == 5
    report = res["reports"].root / WEEK / "reliability_sync.md"
    assert "## SLO status" in report.read_text() and "## Human review queue" in report.read_text()
    generations = _query(res, f"SELECT count(*) FROM retouch.generations WHERE week = '{WEEK}'")[0][
        0
    ]
    for table in ("artifact_quality", "gate_decisions", "gated_outputs"):
        assert _query(res, f"SELECT count(*) FROM retouch.{table}")[0][0] == generations
    assert _query(res, "SELECT count(*) FROM retouch.gate_results")[0][0] > 3 * generations
    nulls = _query(
        res,
        "SELECT count(*) FROM retouch.artifact_quality WHERE clip_score IS NOT NULL "
        "OR prompt_drift IS NOT NULL",
    )[0][0]
    assert nulls == 0  # never faked before the CLIP layer exists


def test_events_carry_what_on_call_needs(first_week):
    res, _ = first_week
    rows = _query(
        res,
        "SELECT event_type, artifact_id, template_id, delta_e, contrast_ratio, "
        "processing_ms, prompt_version FROM ops.events WHERE source = 'gates'",
    )
    types = {r[0] for r in rows}
    assert {"retouch_success", "gate_failed"} <= types
    for r in rows:
        assert all(v is not None for v in (r[1], r[2], r[5], r[6]))
    statuses = dict(_query(res, "SELECT status, count(*) FROM retouch.gate_decisions GROUP BY 1"))
    successes = sum(1 for r in rows if r[0] == "retouch_success")
    assert successes == statuses.get("approved", 0) + statuses.get("healed", 0)
    assert sum(1 for r in rows if r[0] == "healed") == statuses.get("healed", 0)


def test_published_images_carry_provenance(first_week):
    res, _ = first_week
    published = _query(
        res,
        "SELECT output_path, sidecar_path, status FROM retouch.gated_outputs "
        "WHERE output_path IS NOT NULL",
    )
    assert published
    statuses = {s for _, _, s in published}
    assert statuses <= {"approved", "healed"}
    path, sidecar, _ = published[0]
    xmp = Image.open(path).info[XMP_KEY]
    assert TRAINED_ALGORITHMIC_MEDIA in xmp and "retouch:seed=" in xmp
    facts = json.loads(open(sidecar).read())
    assert facts["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert {"seed", "steps", "cfg_scale", "model_version", "gates", "heal_actions"} <= set(facts)
    unpublished = _query(
        res,
        "SELECT count(*) FROM retouch.gated_outputs "
        "WHERE status IN ('needs_human_review', 'rejected') AND output_path IS NOT NULL",
    )
    assert unpublished[0][0] == 0
    queue = _query(res, "SELECT count(*) FROM retouch.review_queue")[0][0]
    assert (
        queue
        == _query(
            res, "SELECT count(*) FROM retouch.gate_decisions WHERE status = 'needs_human_review'"
        )[0][0]
    )


def test_a_rerun_leaves_the_same_rows_and_files(first_week):
    res, _ = first_week
    tables = ("artifact_quality", "gate_results", "gate_decisions", "gated_outputs", "review_queue")
    before = [_query(res, f"SELECT count(*) FROM retouch.{t}")[0][0] for t in tables]
    events = _query(res, "SELECT count(*), count(DISTINCT event_id) FROM ops.events")[0]
    outputs = sorted(p.name for p in (res["outputs"].root / WEEK).iterdir())
    assert _run(res).success
    assert [_query(res, f"SELECT count(*) FROM retouch.{t}")[0][0] for t in tables] == before
    assert _query(res, "SELECT count(*), count(DISTINCT event_id) FROM ops.events")[0] == events
    assert sorted(p.name for p in (res["outputs"].root / WEEK).iterdir()) == outputs


def test_a_systemically_broken_week_is_not_published(small_sample, resources, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("gates:\n  systemic_failure_tolerance: 0.0\n")
    res = resources(small_sample, strict)
    result = _run(res)
    statuses = dict(_query(res, "SELECT status, count(*) FROM retouch.gate_decisions GROUP BY 1"))
    assert statuses.get("needs_human_review", 0) + statuses.get("rejected", 0) > 0
    assert not result.success
    (failed,) = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed.asset_check_key == dg.AssetCheckKey(
        GATE_DECISIONS, "batch_not_systemically_broken"
    )
    assert "worst_offenders" in failed.metadata
    assert result.asset_materializations_for_node("retouch__gated_outputs") == []
    assert not any(
        m.asset_key == GATED_OUTPUTS
        for m in result.get_asset_materialization_events()
        if hasattr(m, "asset_key")
    )
    assert _query(res, "SELECT count(*) FROM retouch.gated_outputs")[0][0] == 0
    assert not (res["outputs"].root / WEEK).exists()
