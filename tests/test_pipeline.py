"""The whole weekly graph on the sample: quality, gates, publication and events; and every
blocking check of the gates layer failing on a warehouse corrupted the way it guards against."""

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from PIL import Image

from retouch_assets.definitions import build_definitions
from retouch_assets.defs.shared import key_of
from retouch_assets.gates.publish import TRAINED_ALGORITHMIC_MEDIA, XMP_KEY
from retouch_assets.gates.tables import GATE_DECISIONS, GATED_OUTPUTS
from retouch_assets.safe_paths import sha256_file
from retouch_assets.settings import Settings
from retouch_assets.vocabulary import FAILING_AFTER_HEALING, PUBLISHABLE, Gate, Status
from tests.conftest import SAMPLE_WEEKS, SampleRun

WEEK = SAMPLE_WEEKS[0]


def test_every_check_passes_and_every_table_is_filled(sample_run: SampleRun):
    for result in sample_run.results.values():
        assert result.success
        blocking = [
            e
            for e in result.get_asset_check_evaluations()
            if e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert {
            "generations_expectations",
            "batch_not_systemically_broken",
            "published_outputs_pass_gates",
            "slo_freeze_respected",
            "template_locks_respected",
        } <= {e.check_name for e in blocking}
        assert all(e.passed for e in blocking)
    first_week = sample_run.results[WEEK].get_asset_check_evaluations()
    # Every check passes but the warning that no CLIP model is configured in this run.
    failed = {e.check_name for e in first_week if not e.passed}
    assert failed == {"clip_model_configured"}
    report = (sample_run.reports / WEEK / "reliability_sync.md").read_text()
    assert "## SLO status" in report and "## Human review queue" in report
    [(generations,)] = sample_run.query(
        "SELECT count(*) FROM retouch.generations WHERE week = $w", {"w": date.fromisoformat(WEEK)}
    )
    assert generations > 0
    for table in ("artifact_quality", "gate_decisions", "gated_outputs"):
        assert sample_run.query(
            f"SELECT count(*) FROM retouch.{table} WHERE week = $w",
            {"w": date.fromisoformat(WEEK)},
        ) == [(generations,)]
    assert sample_run.query("SELECT count(*) FROM retouch.gate_results")[0][0] > 3 * generations
    scored = sample_run.query(
        "SELECT count(*) FROM retouch.artifact_quality "
        "WHERE clip_score IS NOT NULL OR prompt_drift IS NOT NULL"
    )
    assert scored == [(0,)]  # no CLIP model configured: never faked


def test_events_carry_what_on_call_needs(sample_run: SampleRun):
    rows = sample_run.query(
        "SELECT event_type, artifact_id, template_id, delta_e, contrast_ratio, "
        "processing_ms, prompt_version FROM ops.events WHERE source = 'gates'"
    )
    assert {"retouch_success", "gate_failed"} <= {r[0] for r in rows}
    for r in rows:
        assert all(v is not None for v in (r[1], r[2], r[5], r[6]))
    statuses = dict(
        sample_run.query("SELECT status, count(*) FROM retouch.gate_decisions GROUP BY 1")
    )
    successes = sum(1 for r in rows if r[0] == "retouch_success")
    assert successes == sum(statuses.get(s, 0) for s in PUBLISHABLE)
    assert sum(1 for r in rows if r[0] == "healed") == statuses.get("healed", 0)


def test_published_images_carry_provenance_and_their_recorded_hash(sample_run: SampleRun):
    published = sample_run.query(
        "SELECT output_path, sidecar_path, status, output_sha256 FROM retouch.gated_outputs "
        "WHERE output_path IS NOT NULL"
    )
    assert published and {s for _, _, s, _ in published} <= set(PUBLISHABLE)
    for path, sidecar, _, digest in published:
        assert Path(path).parent == Path(sidecar).parent
        assert Path(path).resolve().is_relative_to(sample_run.outputs.resolve())
        assert sha256_file(Path(path)) == digest
    path, sidecar, _, _ = published[0]
    xmp = Image.open(path).info[XMP_KEY]
    assert TRAINED_ALGORITHMIC_MEDIA in xmp and "retouch:seed=" in xmp
    facts = json.loads(Path(sidecar).read_text())
    assert facts["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert {"seed", "steps", "cfg_scale", "model_version", "gates", "heal_actions"} <= set(facts)
    unpublished = sample_run.query(
        "SELECT count(*) FROM retouch.gated_outputs "
        "WHERE list_contains($failing, status) AND output_path IS NOT NULL",
        {"failing": list(FAILING_AFTER_HEALING)},
    )
    assert unpublished == [(0,)]
    queue = sample_run.query("SELECT count(*) FROM retouch.review_queue")
    waiting = sample_run.query(
        "SELECT count(*) FROM retouch.gate_decisions WHERE status = 'needs_human_review'"
    )
    assert queue == waiting


def _tables(run: SampleRun) -> dict:
    tables = ("artifact_quality", "gate_results", "gate_decisions", "gated_outputs", "review_queue")
    out = {t: run.query(f"SELECT * EXCLUDE (week) FROM retouch.{t} ORDER BY ALL") for t in tables}
    out["events"] = run.query("SELECT * FROM ops.events ORDER BY event_id")
    return out


def test_a_rerun_leaves_the_same_rows_and_files(sample_copy: SampleRun):
    from tests.conftest import run_weeks

    before = _tables(sample_copy)
    files = sorted(p.name for p in (sample_copy.outputs / WEEK).iterdir())
    assert all(r.success for r in run_weeks(sample_copy.settings, [WEEK]).values())
    assert _tables(sample_copy) == before
    assert sorted(p.name for p in (sample_copy.outputs / WEEK).iterdir()) == files


def _check(
    run: SampleRun,
    check: dg.AssetCheckKey,
    config: Path | None = None,
    run_config: dict | None = None,
    settings: Settings | None = None,
):
    settings = settings or (run.settings if config is None else _with_config(run, config))
    only = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(check))
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[only]))
    # A run of a check alone takes its week as a tag (Dagster validates `partition_key`
    # against the selected assets, and there are none).
    result = defs.resolve_job_def("one_check").execute_in_process(
        tags={"dagster/partition": WEEK}, raise_on_error=False, run_config=run_config
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _with_config(run: SampleRun, config: Path):
    return replace(run.settings, slo_config=str(config))


PUBLISHED_CHECK = dg.AssetCheckKey(key_of(GATED_OUTPUTS), "published_outputs_pass_gates")
PUBLISHED_CHECK_OP = "retouch__gated_outputs_published_outputs_pass_gates"
FREEZE_CHECK = dg.AssetCheckKey(key_of(GATED_OUTPUTS), "slo_freeze_respected")
SYSTEMIC_CHECK = dg.AssetCheckKey(key_of(GATE_DECISIONS), "batch_not_systemically_broken")


def _first_published(run: SampleRun) -> tuple[str, int, Path]:
    (row,) = run.query(
        "SELECT artifact_id, attempt, output_path FROM retouch.gated_outputs "
        "WHERE week = $w AND output_path IS NOT NULL ORDER BY artifact_id LIMIT 1",
        {"w": date.fromisoformat(WEEK)},
    )
    return row[0], row[1], Path(row[2])


def _delete_file(run: SampleRun):
    _first_published(run)[2].unlink()
    return "does not exist"


def _overwrite_file(run: SampleRun):
    path = _first_published(run)[2]
    Image.fromarray(255 - __import__("numpy").asarray(Image.open(path))).save(path)
    return "published image does not match its recorded sha256"


def _delete_sidecar(run: SampleRun):
    _first_published(run)[2].with_suffix(".json").unlink()
    return "sidecar_path"


def _edit_sidecar(run: SampleRun):
    sidecar = _first_published(run)[2].with_suffix(".json")
    facts = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(facts | {"status": "approved by nobody"}))
    return "published sidecar does not match its recorded sha256"


def _point_outside(run: SampleRun):
    artifact, attempt, path = _first_published(run)
    with duckdb.connect(str(run.db)) as con:
        con.execute(
            "UPDATE retouch.gated_outputs SET output_path = $p "
            "WHERE artifact_id = $a AND attempt = $n",
            {"p": str(run.db.parent.parent / path.name), "a": artifact, "n": attempt},
        )
    return "outside the outputs folder"


def _publish_a_rejected_one(run: SampleRun):
    artifact, attempt, _ = _first_published(run)
    with duckdb.connect(str(run.db)) as con:
        con.execute(
            "UPDATE retouch.gated_outputs SET status = $s WHERE artifact_id = $a AND attempt = $n",
            {"s": Status.REJECTED, "a": artifact, "n": attempt},
        )
    return "status rejected"


def _tamper_with_pixels_and_hash(run: SampleRun):
    """A published image that no longer passes the colour gate, with a matching hash."""
    import numpy as np

    artifact, attempt, path = _first_published(run)
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(np.int16)
    pixels[..., 0] = np.clip(pixels[..., 0] + 60, 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    with duckdb.connect(str(run.db)) as con:
        con.execute(
            "UPDATE retouch.gated_outputs SET output_sha256 = $h "
            "WHERE artifact_id = $a AND attempt = $n",
            {"h": sha256_file(path), "a": artifact, "n": attempt},
        )
    return "re-measured ΔE"


def _change_a_gate_value(run: SampleRun):
    """Intact files, but a final gate row of the warehouse says something else than the one
    the published sidecar records (still passing: only the comparison can tell)."""
    artifact, attempt, _ = _first_published(run)
    with duckdb.connect(str(run.db)) as con:
        con.execute(
            "UPDATE retouch.gate_results SET value = value / 2 "
            "WHERE artifact_id = $a AND attempt = $n AND final AND value IS NOT NULL "
            "AND metric = (SELECT min(metric) FROM retouch.gate_results "
            "WHERE artifact_id = $a AND attempt = $n AND final AND value IS NOT NULL)",
            {"a": artifact, "n": attempt},
        )
    return "final gate rows differ from those the published sidecar records"


def _fail_a_gate(run: SampleRun):
    artifact, attempt, _ = _first_published(run)
    with duckdb.connect(str(run.db)) as con:
        con.execute(
            "UPDATE retouch.gate_results SET passed = false "
            "WHERE artifact_id = $a AND attempt = $n AND final AND gate = $g",
            {"a": artifact, "n": attempt, "g": Gate.COLOUR_FIDELITY},
        )
    return "failed final gate rows"


DEEP = {"ops": {PUBLISHED_CHECK_OP: {"config": {"deep_verify": True}}}}


@pytest.mark.parametrize(
    "corrupt",
    [
        _delete_file,
        _overwrite_file,
        _delete_sidecar,
        _edit_sidecar,
        _point_outside,
        _publish_a_rejected_one,
        _change_a_gate_value,
        _fail_a_gate,
    ],
)
def test_published_outputs_pass_gates_fails_on_a_corrupted_publication(sample_copy, corrupt):
    """Without re-decoding anything: hashes, statuses and gate rows."""
    assert _check(sample_copy, PUBLISHED_CHECK).passed
    expected = corrupt(sample_copy)
    evaluation = _check(sample_copy, PUBLISHED_CHECK)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["verified"].value == "hashes, gate rows"
    assert evaluation.metadata["violations"].value == 1
    assert expected in evaluation.metadata["worst_offenders"].value


def test_deep_verification_re_measures_what_hashes_cannot_catch(sample_copy):
    """Pixels changed and the recorded hash updated to match: only re-measuring the published
    file finds it. Asked for by run config (the UI) or by the setting (`--deep-verify`)."""
    assert _check(sample_copy, PUBLISHED_CHECK, run_config=DEEP).passed
    expected = _tamper_with_pixels_and_hash(sample_copy)
    assert _check(sample_copy, PUBLISHED_CHECK).passed  # the cheap check's documented limit
    for evaluation in (
        _check(sample_copy, PUBLISHED_CHECK, run_config=DEEP),
        _check(
            sample_copy, PUBLISHED_CHECK, settings=replace(sample_copy.settings, deep_verify=True)
        ),
    ):
        assert not evaluation.passed
        assert evaluation.metadata["verified"].value == "hashes, gate rows, re-measured"
        assert evaluation.metadata["violations"].value == 1
        assert expected in evaluation.metadata["worst_offenders"].value


def test_slo_freeze_respected_fails_when_a_frozen_scope_published_new_work(sample_copy):
    assert _check(sample_copy, FREEZE_CHECK).passed
    week_start = datetime.fromisoformat(WEEK + "T00:00:00+00:00")
    with duckdb.connect(str(sample_copy.db)) as con:
        # A freeze in force since long before every version of the week was first seen.
        con.execute(
            "INSERT INTO slo.error_budget VALUES ($prev, 'colour-fidelity', 'overall', NULL, "
            "$at, 30, 10, 100, 0.1, 0.95, 18.0, '[]', 'slo_freeze', $since, false, 0)",
            {
                "prev": (week_start - timedelta(days=7)).date(),
                "at": week_start,
                "since": week_start - timedelta(days=365),
            },
        )
    evaluation = _check(sample_copy, FREEZE_CHECK)
    assert not evaluation.passed and evaluation.metadata["violations"].value > 0
    assert "colour-fidelity/overall" in evaluation.metadata["worst_offenders"].value


def test_a_systemically_broken_week_fails_its_check(sample_copy, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("gates:\n  systemic_failure_tolerance: 0.0\n")
    evaluation = _check(sample_copy, SYSTEMIC_CHECK, strict)
    assert not evaluation.passed and evaluation.metadata["failing_after_healing"].value > 0
    assert "worst_offenders" in evaluation.metadata


def test_a_systemically_broken_week_stops_publication_in_the_same_run(sample_copy, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("gates:\n  systemic_failure_tolerance: 0.0\n")
    defs = build_definitions(_with_config(sample_copy, strict))
    with duckdb.connect(str(sample_copy.db)) as con:
        con.execute("DELETE FROM retouch.gated_outputs")
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        partition_key=WEEK,
        selection=dg.AssetSelection.groups("gates"),
        raise_on_error=False,
    )
    assert not result.success
    assert not any(
        e.asset_key == key_of(GATED_OUTPUTS) for e in result.get_asset_materialization_events()
    )
    assert sample_copy.query("SELECT count(*) FROM retouch.gated_outputs") == [(0,)]
