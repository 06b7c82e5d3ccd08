"""Prompt drift and CLIP scores as plain data: the word diff, ranks, drift status, the text
cache, the gate's decision, template locks and what holds publication."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from retouch_assets.config import RetouchConfig, TemplateEntry, parse_config
from retouch_assets.gates.decide import decide
from retouch_assets.gates.locks import TemplateLock, lock_reason, locked_templates
from retouch_assets.gates.week import GateInput, event_rows, template_lock_rows
from retouch_assets.quality.artifact import ArtifactMeasurement
from retouch_assets.quality.clip_scores import (
    ModelFacts,
    TextEmbedding,
    embed_texts,
    not_configured_rows,
    prompt_hash,
    prompts_to_embed,
    rank_variants,
    resolve_model_dir,
    score_rows,
    templates_without_approved_prompt,
    word_diff,
)
from retouch_assets.vocabulary import DriftStatus, EventType, Gate, Status

WEEK = date(2026, 10, 5)
AT = datetime(2026, 10, 6, 12, tzinfo=UTC)
APPROVED = "studio photo of a cappuccino, warm light"
TRAINED = ModelFacts("ViT-B-32", "abc123", untrained=False, provider="CPUExecutionProvider")
UNTRAINED = ModelFacts("tiny", "def456", untrained=True, provider="CPUExecutionProvider")


def _config(**gate) -> RetouchConfig:
    return parse_config(
        {
            "templates": {
                "tpl-a": {"approved_prompt": APPROVED, "prompt_version": "tpl-a/v1"},
                "tpl-b": {
                    "approved_prompt": "a cat",
                    "prompt_version": "tpl-b/v3",
                    "fallback_prompt_version": "tpl-b/v2",
                },
            },
            "gates": {"prompt_drift": {"cosine_distance_max": 0.2, **gate}},
        },
        "test",
    )


def test_word_diff_marks_removed_and_added_words():
    assert word_diff("a b c", "a b c") == ""
    assert word_diff("a red car", "a blue car") == "a [-red-] {+blue+} car"
    assert word_diff("a car", "a car, high detail") == "a [-car-] {+car, high detail+}"
    assert word_diff("Straße im Café", "Straße im Café 🌧") == "Straße im Café {+🌧+}"


def test_fallback_defaults_to_the_approved_version():
    config = _config()
    assert config.templates["tpl-a"].fallback == "tpl-a/v1"
    assert config.templates["tpl-b"].fallback == "tpl-b/v2"


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def _generation(artifact_id: str, prompt: str, template: str = "tpl-a", campaign: str = "c1"):
    return {
        "artifact_id": artifact_id,
        "attempt": 1,
        "campaign_id": campaign,
        "template_id": template,
        "prompt_version": f"{template}/v1",
        "prompt": prompt,
    }


def test_score_rows_cosines_drift_ranks_and_statuses():
    generations = [
        _generation("a1", APPROVED),
        _generation("a2", APPROVED + ", extra"),
        _generation("a3", "something else", template="tpl-unlisted"),
        _generation("a4", APPROVED),
    ]
    texts = {
        prompt_hash(APPROVED): TextEmbedding(_unit(1, 0, 0), False),
        prompt_hash(APPROVED + ", extra"): TextEmbedding(_unit(0.6, 0.8, 0), True),
        prompt_hash("something else"): TextEmbedding(_unit(0, 0, 1), False),
    }
    images = np.stack([_unit(1, 1, 0), _unit(1, 0, 0), _unit(0, 0, 1), np.full(3, np.nan)])
    errors = [None, None, None, "cannot identify image file"]
    rows = score_rows(WEEK, generations, images, errors, texts, _config(), TRAINED)
    a1, a2, a3, a4 = rows
    assert a1["clip_score"] == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert a1["clip_score_100"] == pytest.approx(100 * np.sqrt(0.5), abs=1e-4)
    assert a1["prompt_drift"] == pytest.approx(0.0, abs=1e-6)
    assert a2["prompt_drift"] == pytest.approx(0.4, abs=1e-6)
    assert a2["prompt_truncated"] is True
    assert a2["prompt_diff"] == "studio photo of a cappuccino, warm [-light-] {+light, extra+}"
    assert {r["prompt_drift_status"] for r in (a1, a2, a4)} == {DriftStatus.SCORED}
    # No approved prompt: no drift, never zero; the image score still exists.
    assert a3["prompt_drift_status"] == DriftStatus.NO_APPROVED_PROMPT
    assert a3.get("prompt_drift") is None and a3["clip_score"] == pytest.approx(1.0)
    # An unreadable image has no clip_score and no rank, but its prompt drift is valid.
    assert a4.get("clip_score") is None and a4["error"] == "cannot identify image file"
    assert a4["prompt_drift"] == pytest.approx(0.0, abs=1e-6)
    # Ranks among the variants of campaign × template: a1 (0.707) before a2 (0.6).
    assert a2["clip_score"] == pytest.approx(0.6, abs=1e-6)
    assert (a1["rank_in_group"], a2["rank_in_group"], a4.get("rank_in_group")) == (1, 2, None)
    assert a1["group_size"] == 3 and a3["rank_in_group"] == 1 and a3["group_size"] == 1
    assert all(r["model_hash"] == "abc123" and r["untrained"] is False for r in rows)


def test_untrained_models_are_not_judged_unless_asked():
    generations = [_generation("a1", APPROVED)]
    texts = {prompt_hash(APPROVED): TextEmbedding(_unit(1, 0), False)}
    images = np.stack([_unit(1, 0)])
    row = score_rows(WEEK, generations, images, [None], texts, _config(), UNTRAINED)[0]
    assert row["prompt_drift_status"] == DriftStatus.UNTRAINED_MODEL
    assert row["untrained"] is True and row["prompt_drift"] == pytest.approx(0.0, abs=1e-6)
    judged = score_rows(
        WEEK, generations, images, [None], texts, _config(judge_untrained=True), UNTRAINED
    )[0]
    assert judged["prompt_drift_status"] == DriftStatus.SCORED


def test_ties_share_the_better_rank_and_only_latest_attempts_compete():
    rows = [
        {"artifact_id": a, "attempt": n, "campaign_id": "c", "template_id": "t", "clip_score": s}
        for a, n, s in (("a", 1, 0.3), ("b", 1, 0.5), ("c", 1, 0.3), ("d", 1, None))
    ]
    superseded = rows[1] | {"attempt": 0, "clip_score": 0.9}  # b's earlier attempt
    rows.append(superseded)
    rank_variants(rows)
    assert [r.get("rank_in_group") for r in rows] == [2, 1, 2, None, None]
    assert {r["group_size"] for r in rows} == {4}


def test_not_configured_rows_have_no_scores():
    (row,) = not_configured_rows(WEEK, [_generation("a1", APPROVED)])
    assert row["prompt_drift_status"] == DriftStatus.NOT_CONFIGURED
    assert "clip_score" not in row and "prompt_drift" not in row
    assert row["prompt_hash"] == prompt_hash(APPROVED)


class _CountingEncoder:
    def __init__(self):
        self.seen: list[str] = []

    def encode_texts(self, prompts):
        self.seen += list(prompts)
        vectors = np.stack([_unit(len(p), 1) for p in prompts])
        return vectors, np.array([len(p) > 20 for p in prompts])


def test_text_embeddings_come_from_the_cache_when_present():
    generations = [_generation("a1", "short"), _generation("a2", "short")]
    texts = prompts_to_embed(generations, _config())
    assert set(texts.values()) == {"short", APPROVED}  # each distinct text once
    encoder = _CountingEncoder()
    found, new = embed_texts(encoder, texts, {}, TRAINED, AT)
    assert sorted(encoder.seen) == sorted(texts.values()) and len(new) == 2
    cache = {r["prompt_hash"]: (r["embedding"], r["truncated"]) for r in new}
    again = _CountingEncoder()
    found_again, new_again = embed_texts(again, texts, cache, TRAINED, AT)
    assert again.seen == [] and new_again == []
    for h in texts:
        np.testing.assert_allclose(found_again[h].vector, found[h].vector, atol=1e-7)
        assert found_again[h].truncated == found[h].truncated


def test_templates_without_an_approved_prompt_are_named():
    generations = [_generation("a1", "x", template="tpl-a"), _generation("a2", "y", "tpl-new")]
    assert templates_without_approved_prompt(generations, _config()) == ["tpl-new"]


def test_model_dir_resolution(tmp_path: Path):
    config = parse_config({"clip": {"model_dir": "models/clip"}}, "test")
    assert resolve_model_dir(config, tmp_path / "retouch-slo.yaml", None) == (
        tmp_path / "models/clip"
    )
    assert resolve_model_dir(config, tmp_path / "x.yaml", "/m") == Path("/m")
    assert resolve_model_dir(_config(), tmp_path / "x.yaml", None) is None


def _measurement(drift: float | None, status: DriftStatus | None) -> ArtifactMeasurement:
    return ArtifactMeasurement(
        "a1",
        1,
        "c1",
        AT,
        1000,
        delta_e_mean=0.2,
        delta_e_p95=0.5,
        hist_delta=1.0,
        wcag_aa_pass=True,
        prompt_drift=drift,
        prompt_drift_status=status,
    )


def test_drift_within_the_limit_passes_the_gate():
    config = _config()
    d = decide(_measurement(0.05, DriftStatus.SCORED), [], config, None, config.templates["tpl-a"])
    assert d.status == Status.APPROVED
    (row,) = [r for r in d.rows if r.gate == Gate.PROMPT_DRIFT]
    assert row.passed and row.final and row.value == 0.05 and row.threshold == 0.2


def test_drift_over_the_limit_sends_to_review_with_the_fallback():
    config = _config()
    d = decide(_measurement(0.35, DriftStatus.SCORED), [], config, None, config.templates["tpl-b"])
    assert d.status == Status.NEEDS_HUMAN_REVIEW
    assert Gate.PROMPT_DRIFT in d.failed_gates and Gate.PROMPT_DRIFT in d.unresolved_gates
    assert d.review_reasons[0].startswith("prompt_drift: cosine distance 0.350 > 0.2")
    assert "fallback preset tpl-b/v2" in d.review_reasons[0]
    assert (d.fallback_prompt_version, d.approved_prompt_version) == ("tpl-b/v2", "tpl-b/v3")


@pytest.mark.parametrize(
    "status",
    [
        DriftStatus.UNTRAINED_MODEL,
        DriftStatus.NO_APPROVED_PROMPT,
        DriftStatus.NOT_CONFIGURED,
        None,
    ],
)
def test_drift_that_is_not_judged_writes_no_gate_row(status):
    config = _config()
    d = decide(_measurement(0.9, status), [], config, None, config.templates["tpl-a"])
    assert d.status == Status.APPROVED
    assert not [r for r in d.rows if r.gate == Gate.PROMPT_DRIFT]


def _gate_input(artifact_id: str, template: str, hours: float, drift: float) -> GateInput:
    m = _measurement(drift, DriftStatus.SCORED)
    m.artifact_id = artifact_id
    return GateInput(
        artifact_id=artifact_id,
        attempt=1,
        campaign_id="c1",
        template_id=template,
        channel="web",
        prompt_version=f"{template}/v9",
        model_version="m",
        generated_at=AT + timedelta(hours=hours),
        image_path=Path("x.png"),
        master_path=Path("m.png"),
        text_layers=[],
        measurement=m,
    )


def test_every_drift_is_a_lock_row_and_the_first_of_each_template_locks_it():
    config = _config()
    items = [
        _gate_input("late", "tpl-a", 5, 0.5),
        _gate_input("early", "tpl-a", 1, 0.3),
        _gate_input("fine", "tpl-a", 0, 0.1),
        _gate_input("cat", "tpl-b", 2, 0.6),
    ]
    decisions = [
        decide(i.measurement, [], config, None, config.templates[i.template_id]) for i in items
    ]
    locks = template_lock_rows(WEEK, items, decisions)
    assert [(r["template_id"], r["cause_artifact_id"]) for r in locks] == [
        ("tpl-a", "early"),
        ("tpl-a", "late"),
        ("tpl-b", "cat"),
    ]
    assert locks[0]["locked_at"] == AT + timedelta(hours=1)
    assert locks[2]["fallback_prompt_version"] == "tpl-b/v2" and locks[2]["threshold"] == 0.2
    events = event_rows(WEEK, items, decisions)
    fallback = [e for e in events if e["event_type"] == EventType.FALLBACK_PRESET]
    locked = [e for e in events if e["event_type"] == EventType.TEMPLATE_LOCKED]
    assert sorted(e["artifact_id"] for e in fallback) == ["cat", "early", "late"]
    assert sorted(e["artifact_id"] for e in locked) == ["cat", "early"]


def test_a_lock_holds_only_later_artifacts_of_its_template():
    lock = TemplateLock("tpl-a", AT, "early", "tpl-a/v9", 0.3, "tpl-a/v1")
    later = {"template_id": "tpl-a", "generated_at": AT + timedelta(minutes=1)}
    before = {"template_id": "tpl-a", "generated_at": AT - timedelta(minutes=1)}
    other = {"template_id": "tpl-b", "generated_at": AT + timedelta(days=1)}
    assert "tpl-a locked since" in (lock_reason(later, [lock]) or "")
    assert lock_reason(before, [lock]) is None and lock_reason(other, [lock]) is None
    second = TemplateLock("tpl-a", AT + timedelta(days=7), "x", "v", 0.4, "tpl-a/v1")
    assert locked_templates([second, lock]) == {"tpl-a": lock}


def test_a_template_entry_needs_an_approved_prompt():
    with pytest.raises(Exception, match="approved_prompt"):
        parse_config({"templates": {"tpl-a": {"prompt_version": "v1"}}}, "test")
    assert isinstance(_config().templates["tpl-a"], TemplateEntry)


def test_a_blank_approved_prompt_is_refused_with_the_fix():
    from retouch_assets.config import ConfigError

    with pytest.raises(ConfigError, match=r"templates\.tpl-a\.approved_prompt: .*Fix: write"):
        parse_config(
            {"templates": {"tpl-a": {"approved_prompt": "  ", "prompt_version": "v"}}}, "x"
        )
    assert parse_config({"templates": None}, "x").templates == {}


def test_a_sign_off_releases_earlier_drift_and_a_later_drift_locks_again(tmp_path):
    from retouch_assets.gates.locks import active_locks
    from retouch_assets.gates.tables import TEMPLATE_LOCKS
    from retouch_assets.migrations import migrate
    from retouch_assets.slo.governance import record_signoff
    from retouch_assets.vocabulary import SignoffKind
    from retouch_assets.warehouse import connect, insert

    def drift(artifact: str, hours: int) -> dict:
        return {
            "template_id": "tpl-a",
            "locked_at": AT + timedelta(hours=hours),
            "cause_artifact_id": artifact,
            "cause_attempt": 1,
            "week": WEEK,
            "prompt_version": "tpl-a/v9",
            "prompt_drift": 0.3,
            "threshold": 0.2,
            "approved_prompt_version": "tpl-a/v1",
            "fallback_prompt_version": "tpl-a/v1",
        }

    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        insert(con, TEMPLATE_LOCKS, [drift("d1", 0)])
        assert [lock.cause_artifact_id for lock in active_locks(con)] == ["d1"]
        record_signoff(
            con, SignoffKind.UNLOCK_TEMPLATE, "tpl-a", "Mara", "ok", AT + timedelta(hours=2)
        )
        assert active_locks(con) == []
        # A drift after the sign-off locks the template again; re-inserting d1 changes nothing.
        rows = [drift("d1", 0), drift("d2", 3)]
        insert(con, TEMPLATE_LOCKS, rows, skip_existing=("cause_artifact_id", "cause_attempt"))
        assert [lock.cause_artifact_id for lock in active_locks(con)] == ["d2"]
        assert con.execute("SELECT count(*) FROM retouch.template_locks").fetchone() == (2,)
