"""CLIP scoring and the prompt-drift gate through the real Definitions, on the committed tiny
untrained model (real ONNX Runtime sessions, no torch): scores recorded with their model,
drift judged only when asked, a drifted prompt locking its template, the lock holding later
artifacts until a sign-off, the text-embedding cache, and the "not configured" path.

The tiny model has random weights, so the test config judges its drift on purpose
(`judge_untrained: true`) with a limit that only an unchanged prompt meets: what is tested
is the plumbing, not CLIP's judgement.
"""

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml
from PIL import Image
from skimage import data as skdata

from retouch_assets.definitions import build_definitions
from retouch_assets.migrations import migrate
from retouch_assets.settings import Settings
from retouch_assets.slo.governance import record_signoff
from retouch_assets.vocabulary import DriftStatus, EventType, Gate, SignoffKind, Status
from retouch_assets.warehouse import connect
from tests.conftest import REPO_ROOT, SampleRun, valid_record

TINY_MODEL = REPO_ROOT / "models" / "clip-untrained-tiny"
WEEK = "2026-10-05"
APPROVED = "a cup of coffee on a wooden table"
DRIFTED = "a neon cyberpunk city skyline at night, rain"


def _landing(root: Path) -> Path:
    """One batch: three artifacts of tpl-a (approved prompt, drifted prompt, approved prompt
    again, an hour apart) and one of a template the registry does not know. Image and master
    are the same real photo, so only the prompt can fail a gate."""
    batch = root / "landing" / "batch-1"
    (batch / "images").mkdir(parents=True)
    photo = Image.fromarray(skdata.coffee()).resize((96, 64))
    photo.save(batch / "images" / "out.png")
    photo.save(batch / "master.png")
    lines = []
    for n, (artifact, template, prompt) in enumerate(
        [
            ("a0-before", "tpl-a", APPROVED),
            ("a1-drifted", "tpl-a", DRIFTED),
            ("a2-after", "tpl-a", APPROVED),
            ("b0-unlisted", "tpl-unlisted", "a rocket"),
        ]
    ):
        record = valid_record(
            artifact_id=artifact,
            template_id=template,
            prompt=prompt,
            prompt_version=f"{template}/v{n}",
            generated_at=f"2026-10-07T{9 + n:02d}:00:00+00:00",
            image="images/out.png",
            master="master.png",
        )
        lines.append(json.dumps(record))
    (batch / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root / "landing"


def _config(root: Path) -> Path:
    config = yaml.safe_load((REPO_ROOT / "retouch-slo.yaml").read_text())
    config["gates"]["prompt_drift"] = {"cosine_distance_max": 1e-4, "judge_untrained": True}
    config["templates"] = {
        "tpl-a": {
            "approved_prompt": APPROVED,
            "prompt_version": "tpl-a/v0",
            "fallback_prompt_version": "tpl-a/v-safe",
        }
    }
    path = root / "retouch-slo.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def _run(settings: Settings) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def("retouch_weekly")
    with dg.DagsterInstance.ephemeral() as instance:
        return job.execute_in_process(partition_key=WEEK, instance=instance, raise_on_error=False)


def _query(settings: Settings, sql: str, params: dict | None = None) -> list[tuple]:
    with connect(settings.duckdb_path, read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def _clip_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = [
        m for m in result.get_asset_materialization_events() if "clip_scores" in str(m.asset_key)
    ]
    return {k: v.value for k, v in materialization.materialization.metadata.items()}


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory) -> tuple[Settings, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("clip_pipeline")
    settings = Settings(
        duckdb_path=str(root / "warehouse.duckdb"),
        landing_dir=str(_landing(root)),
        slo_config=str(_config(root)),
        outputs_dir=str(root / "outputs"),
        reports_dir=str(root / "reports"),
        clip_model_dir=str(TINY_MODEL),
    )
    return settings, _run(settings)


def test_every_attempt_is_scored_with_its_model(drift_run):
    settings, result = drift_run
    manifest = json.loads((TINY_MODEL / "manifest.json").read_text())
    rows = _query(
        settings,
        "SELECT artifact_id, model_hash, untrained, provider, clip_score, clip_score_100, "
        "prompt_drift, prompt_drift_status, rank_in_group, group_size "
        "FROM retouch.clip_scores ORDER BY artifact_id",
    )
    assert [r[0] for r in rows] == ["a0-before", "a1-drifted", "a2-after", "b0-unlisted"]
    for _, model_hash, untrained, provider, cos, cos100, *_ in rows:
        assert model_hash == manifest["model_hash"] and untrained is True
        assert provider == "CPUExecutionProvider"
        assert -1.0 <= cos <= 1.0 and cos100 == pytest.approx(100 * max(cos, 0.0))
    by_id = {r[0]: r for r in rows}
    assert by_id["a0-before"][6] == pytest.approx(0.0, abs=1e-5)
    assert by_id["a1-drifted"][6] > 1e-4
    assert by_id["b0-unlisted"][6] is None
    assert by_id["b0-unlisted"][7] == DriftStatus.NO_APPROVED_PROMPT
    assert {by_id[a][7] for a in ("a0-before", "a1-drifted", "a2-after")} == {DriftStatus.SCORED}
    # a0 and a2 share image and prompt: the same score, tied at the better rank.
    assert by_id["a0-before"][4] == pytest.approx(by_id["a2-after"][4], abs=1e-6)
    assert by_id["a0-before"][8] == by_id["a2-after"][8] and by_id["a0-before"][9] == 3
    # The quality rows carry the same scores, marked untrained.
    quality = _query(
        settings,
        "SELECT q.clip_score - c.clip_score, q.prompt_drift_status, q.clip_untrained "
        "FROM retouch.artifact_quality q JOIN retouch.clip_scores c USING (artifact_id, attempt)",
    )
    assert all(abs(d) < 1e-12 and u is True for d, _, u in quality)
    metadata = _clip_metadata(result)
    assert metadata["provider"] == "CPUExecutionProvider" and metadata["untrained"] is True
    assert metadata["templates_without_approved_prompt"] == ["tpl-unlisted"]


def test_drift_fails_the_gate_names_the_fallback_and_locks_the_template(drift_run):
    settings, result = drift_run
    statuses = dict(_query(settings, "SELECT artifact_id, status FROM retouch.gated_outputs"))
    assert statuses == {
        "a0-before": Status.APPROVED,  # before the lock
        "a1-drifted": Status.NEEDS_HUMAN_REVIEW,
        "a2-after": Status.HELD_BY_TEMPLATE_LOCK,  # approved, but its template is locked
        "b0-unlisted": Status.APPROVED,  # no approved prompt: not judged, never failed
    }
    [(reasons,)] = _query(
        settings, "SELECT reasons FROM retouch.review_queue WHERE artifact_id = 'a1-drifted'"
    )
    assert reasons[0].startswith("prompt_drift: cosine distance")
    assert "fallback preset tpl-a/v-safe" in reasons[0]
    [lock] = _query(
        settings,
        "SELECT template_id, cause_artifact_id, fallback_prompt_version, approved_prompt_version "
        "FROM retouch.template_locks",
    )
    assert lock == ("tpl-a", "a1-drifted", "tpl-a/v-safe", "tpl-a/v0")
    events = _query(
        settings,
        "SELECT event_type, artifact_id, details FROM ops.events WHERE event_type IN ($f, $l)",
        {"f": EventType.FALLBACK_PRESET, "l": EventType.TEMPLATE_LOCKED},
    )
    assert sorted((e[0], e[1]) for e in events) == [
        (EventType.FALLBACK_PRESET, "a1-drifted"),
        (EventType.TEMPLATE_LOCKED, "a1-drifted"),
    ]
    gate_rows = _query(
        settings,
        "SELECT count(*) FROM retouch.gate_results WHERE gate = $g",
        {"g": Gate.PROMPT_DRIFT},
    )
    assert gate_rows == [(3,)]  # judged: tpl-a's three; the unlisted template has none
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["template_locks_respected"] and checks["published_outputs_pass_gates"]
    assert checks["clip_model_configured"] is False  # WARN: an untrained model scored
    # The prompt-fidelity SLO counts the judged drift: one bad event of three.
    [(good, total)] = _query(
        settings,
        "SELECT good, total FROM slo.error_budget WHERE slo = 'prompt-fidelity' "
        "AND scope = 'overall'",
    )
    assert (good, total) == (2, 3)


def _copy(settings: Settings, tmp_path: Path, **changes) -> Settings:
    """The drift run's warehouse, outputs and reports copied (the landing is shared)."""
    root = Path(settings.duckdb_path).parent
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("landing"))
    with connect(copy / "warehouse.duckdb") as con:
        con.execute(
            "UPDATE retouch.gated_outputs SET output_path = replace(output_path, $old, $new), "
            "sidecar_path = replace(sidecar_path, $old, $new)",
            {"old": str(root), "new": str(copy)},
        )
    return replace(
        settings,
        duckdb_path=str(copy / "warehouse.duckdb"),
        outputs_dir=str(copy / "outputs"),
        reports_dir=str(copy / "reports"),
        **changes,
    )


def test_a_re_run_that_no_longer_judges_drift_keeps_the_lock(drift_run, tmp_path):
    settings = _copy(drift_run[0], tmp_path, clip_model_dir=None)
    assert _run(settings).success
    statuses = dict(_query(settings, "SELECT artifact_id, status FROM retouch.gated_outputs"))
    # No model now: nothing is judged, but only a sign-off ends the lock.
    assert statuses["a1-drifted"] == statuses["a2-after"] == Status.HELD_BY_TEMPLATE_LOCK
    assert statuses["a0-before"] == Status.APPROVED
    assert _query(settings, "SELECT count(*) FROM retouch.template_locks") == [(1,)]


def test_the_lock_check_fails_when_a_locked_artifact_was_published(drift_run, tmp_path):
    settings = _copy(drift_run[0], tmp_path)
    with connect(settings.duckdb_path) as con:
        con.execute(
            "UPDATE retouch.gated_outputs SET status = $approved, hold_reason = NULL, "
            "output_path = (SELECT output_path FROM retouch.gated_outputs "
            "WHERE artifact_id = 'a0-before') WHERE artifact_id = 'a2-after'",
            {"approved": Status.APPROVED},
        )
    check = dg.AssetCheckKey(dg.AssetKey(["retouch", "gated_outputs"]), "template_locks_respected")
    only = dg.define_asset_job("one_check", selection=dg.AssetSelection.checks(check))
    defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[only]))
    result = defs.resolve_job_def("one_check").execute_in_process(
        tags={"dagster/partition": WEEK}, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["violations"].value == 1


def test_a_sign_off_unlocks_and_a_re_run_publishes_from_the_cache(drift_run, tmp_path):
    settings = _copy(drift_run[0], tmp_path)
    with connect(settings.duckdb_path) as con:
        migrate(con)
        record_signoff(
            con,
            SignoffKind.UNLOCK_TEMPLATE,
            "tpl-a",
            "Mara",
            "drift reviewed: a1 re-generated with tpl-a/v-safe",
            datetime.now(UTC),
        )
    result = _run(settings)
    assert result.success
    statuses = dict(_query(settings, "SELECT artifact_id, status FROM retouch.gated_outputs"))
    assert statuses["a2-after"] == Status.APPROVED
    # Every text embedding came from the warehouse cache: nothing encoded twice.
    metadata = _clip_metadata(result)
    # Three distinct texts: the approved prompt (also a0's and a2's), the drifted one, "a rocket".
    assert metadata["text_embeddings_encoded"] == 0 and metadata["text_embeddings_cached"] == 3
    assert _query(settings, "SELECT count(*) FROM retouch.text_embeddings") == [(3,)]


def test_with_no_model_configured_nothing_is_scored_and_the_check_warns(sample_run: SampleRun):
    rows = sample_run.query(
        "SELECT prompt_drift_status, count(*), count(clip_score), count(prompt_drift), "
        "count(model_hash) FROM retouch.clip_scores GROUP BY 1"
    )
    generations = sample_run.query("SELECT count(*) FROM retouch.generations")[0][0]
    assert rows == [(DriftStatus.NOT_CONFIGURED, generations, 0, 0, 0)]
    assert sample_run.query(
        "SELECT count(*) FROM retouch.artifact_quality WHERE clip_score IS NOT NULL "
        "OR prompt_drift IS NOT NULL OR prompt_drift_status <> $s",
        {"s": DriftStatus.NOT_CONFIGURED},
    ) == [(0,)]
    for result in sample_run.results.values():
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["clip_model_configured"].passed is False
        assert checks["clip_model_configured"].severity == dg.AssetCheckSeverity.WARN
    assert sample_run.query(
        "SELECT count(*) FROM retouch.gate_results WHERE gate = $g", {"g": Gate.PROMPT_DRIFT}
    ) == [(0,)]


def test_a_model_whose_files_changed_fails_the_step_naming_the_file(drift_run, tmp_path):
    settings, _ = drift_run
    model = tmp_path / "model"
    shutil.copytree(TINY_MODEL, model)
    onnx = sorted(model.glob("*.onnx"))[0]
    data = bytearray(onnx.read_bytes())
    data[-1] ^= 0xFF
    onnx.write_bytes(bytes(data))
    root = tmp_path / "run"
    settings = replace(
        settings,
        duckdb_path=str(root / "warehouse.duckdb"),
        outputs_dir=str(root / "outputs"),
        reports_dir=str(root / "reports"),
        clip_model_dir=str(model),
    )
    result = _run(settings)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.step_failure_data.error
    while error.cause is not None:
        error = error.cause
    assert onnx.name in error.message and "sha256" in error.message


def test_the_cli_unlocks_a_locked_template_once(drift_run, tmp_path, capsys):
    from retouch_assets.cli import main

    settings, _ = drift_run
    db = tmp_path / "w.duckdb"
    shutil.copyfile(settings.duckdb_path, db)
    argv = ["signoff", "--template", "tpl-a", "--by", "Mara", "--note", "re-generated", "--db"]
    assert main([*argv, str(db)]) == 0
    assert "unlock_template tpl-a by Mara" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="'tpl-a' is not locked"):
        main([*argv, str(db)])
    with pytest.raises(SystemExit, match="not locked .*locked templates: none"):
        main(["signoff", "--template", "tpl-zzz", "--by", "M", "--note", "n", "--db", str(db)])
    with connect(db, read_only=True) as con:
        kinds = con.execute("SELECT kind, scope, approver FROM ops.signoffs").fetchall()
    assert kinds == [(SignoffKind.UNLOCK_TEMPLATE, "tpl-a", "Mara")]
