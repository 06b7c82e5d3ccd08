"""A week of gating: measurements in, decisions, gate rows, review queue and events out."""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from retouch_assets.config import RetouchConfig
from retouch_assets.cores import available_cores
from retouch_assets.gates.decide import Decision, decide
from retouch_assets.gates.heal import Correction, apply_correction, make_healer
from retouch_assets.ops.events import event_row
from retouch_assets.quality.artifact import ArtifactMeasurement, measurement_from_row
from retouch_assets.quality.decode import DecodeError, decode_srgb8
from retouch_assets.quality.masters import MasterCache
from retouch_assets.quality.measures import hex_to_rgb
from retouch_assets.vocabulary import (
    FAILING_AFTER_HEALING,
    PUBLISHABLE,
    EventSource,
    EventType,
    Gate,
    ReviewPriority,
    Status,
)


@dataclass(frozen=True)
class GateInput:
    """One artifact attempt of the week: its generation fields and its measurement."""

    artifact_id: str
    attempt: int
    campaign_id: str
    template_id: str
    channel: str
    prompt_version: str
    model_version: str
    generated_at: datetime
    image_path: Path
    master_path: Path
    text_layers: list[dict]
    measurement: ArtifactMeasurement


# Fields of a GateInput taken as they are from the gating query's row.
_ROW_FIELDS = (
    "artifact_id",
    "attempt",
    "campaign_id",
    "template_id",
    "channel",
    "prompt_version",
    "model_version",
    "generated_at",
)


def gate_input(row: dict, file: Callable[[dict, str], Path]) -> GateInput:
    """A row of the gating query (generation fields + quality row) as a `GateInput`."""
    return GateInput(
        **{name: row[name] for name in _ROW_FIELDS},
        image_path=file(row, "image"),
        master_path=file(row, "master"),
        text_layers=row["text_layers"] or [],
        measurement=measurement_from_row(row),
    )


def _needs_healing(m: ArtifactMeasurement, config: RetouchConfig) -> bool:
    if m.measure_error is not None:
        return False
    # Without a measure error, the colour metrics are set (`measure_artifact`).
    assert m.delta_e_mean is not None and m.hist_delta is not None
    return not config.gates.colour.passes(m.delta_e_mean, m.hist_delta, m.sharpness_ratio)


def gate_week(
    items: list[GateInput],
    config: RetouchConfig,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> list[Decision]:
    """Decide every artifact; those failing the colour gate are decoded again and healed."""
    background = hex_to_rgb(config.quality.alpha_background)
    # Keyed by content: the copies of a master in every batch folder are decoded once.
    masters = MasterCache(config.quality.master_cache_mb << 20, background)

    def one(item: GateInput) -> Decision:
        healer = None
        if _needs_healing(item.measurement, config):
            try:
                image = decode_srgb8(item.image_path, background).pixels
                master = masters.get(item.master_path)
                healer = make_healer(
                    image,
                    master.decoded.pixels,
                    master.lab,
                    config.healing,
                    config.gates.colour,
                    master.tiles,
                )
            except DecodeError:
                healer = None  # changed on disk since measured: decided without healing
        template = config.templates.get(item.template_id)
        return decide(item.measurement, item.text_layers, config, healer, template)

    decisions = []
    with ThreadPoolExecutor(max_workers=workers or available_cores()) as pool:
        for done, decision in enumerate(pool.map(one, items), start=1):
            decisions.append(decision)
            if on_done:
                on_done(done, len(items))
    return decisions


def _key(week: date, item: GateInput) -> dict:
    return {"artifact_id": item.artifact_id, "attempt": item.attempt, "week": week}


def _where(item: GateInput) -> dict:
    return {"campaign_id": item.campaign_id, "template_id": item.template_id}


def gate_rows(week: date, items: list[GateInput], decisions: list[Decision]) -> list[dict]:
    return [
        _key(week, item)
        | {
            "gate": row.gate,
            "metric": row.metric,
            "phase": row.phase,
            "value": row.value,
            "threshold": row.threshold,
            "passed": row.passed,
            "final": row.final,
        }
        for item, decision in zip(items, decisions, strict=True)
        for row in decision.rows
    ]


def decision_rows(week: date, items: list[GateInput], decisions: list[Decision]) -> list[dict]:
    return [
        _key(week, item)
        | _where(item)
        | {
            "channel": item.channel,
            "generated_at": item.generated_at,
            "status": d.status,
            "failed_gates": d.failed_gates,
            "unresolved_gates": d.unresolved_gates,
            "heal_actions": json.dumps(d.heal_actions),
            "proposals": json.dumps(d.proposals),
            "review_reasons": d.review_reasons,
            "delta_e_mean": item.measurement.delta_e_mean,
            "final_delta_e_mean": d.final_delta_e_mean,
            "final_hist_delta": d.final_hist_delta,
            "delivery_breach": d.delivery_breach,
        }
        for item, d in zip(items, decisions, strict=True)
    ]


def review_rows(week: date, items: list[GateInput], decisions: list[Decision]) -> list[dict]:
    """The human-review queue: unresolved failures, urgent when delivery is also late."""
    return [
        _key(week, item)
        | _where(item)
        | {
            "queued_at": item.generated_at,
            "priority": ReviewPriority.HIGH if d.delivery_breach else ReviewPriority.NORMAL,
            "reasons": d.review_reasons,
            "proposals": json.dumps(d.proposals),
        }
        for item, d in zip(items, decisions, strict=True)
        if d.status == Status.NEEDS_HUMAN_REVIEW
    ]


def _event(
    week: date,
    item: GateInput,
    event_type: EventType,
    gate: Gate | None,
    d: Decision,
    details: dict,
) -> dict:
    m = item.measurement
    return event_row(
        week,
        item.generated_at,
        event_type,
        EventSource.GATES,
        (event_type, gate, item.artifact_id, item.attempt),
        details,
        gate=gate,
        artifact_id=item.artifact_id,
        attempt=item.attempt,
        campaign_id=item.campaign_id,
        template_id=item.template_id,
        channel=item.channel,
        prompt_version=item.prompt_version,
        model_version=item.model_version,
        delta_e=d.final_delta_e_mean if d.final_delta_e_mean is not None else m.delta_e_mean,
        contrast_ratio=m.min_contrast_ratio,
        processing_ms=m.processing_ms,
    )


def event_rows(week: date, items: list[GateInput], decisions: list[Decision]) -> list[dict]:
    """`ops.events`: retouch_success, gate_failed (one per failed gate), healed,
    needs_human_review, rejected and queue_reprioritisation (delivery breaches). Event ids
    are stable, so re-running a week writes the same events."""
    events = []
    for item, d in zip(items, decisions, strict=True):
        for gate in d.failed_gates:
            events.append(_event(week, item, EventType.GATE_FAILED, gate, d, {"status": d.status}))
        if d.status in PUBLISHABLE:
            events.append(
                _event(week, item, EventType.RETOUCH_SUCCESS, None, d, {"status": d.status})
            )
        if d.status == Status.HEALED:
            kept = next(a for a in d.heal_actions if a["passed"])
            events.append(_event(week, item, EventType.HEALED, None, d, {"preset": kept["preset"]}))
        if d.status in FAILING_AFTER_HEALING:
            # The event type of a failing status has the status's name.
            reasons = {"reasons": d.review_reasons}
            events.append(_event(week, item, EventType(d.status), None, d, reasons))
        if d.delivery_breach:
            seconds = item.measurement.processing_ms / 1000
            breach = {"processing_seconds": seconds}
            events.append(
                _event(week, item, EventType.QUEUE_REPRIORITISATION, Gate.DELIVERY, d, breach)
            )
        if d.fallback_prompt_version is not None:
            fallback = {
                "fallback_prompt_version": d.fallback_prompt_version,
                "approved_prompt_version": d.approved_prompt_version,
                "prompt_drift": d.prompt_drift,
            }
            events.append(
                _event(week, item, EventType.FALLBACK_PRESET, Gate.PROMPT_DRIFT, d, fallback)
            )
    # The week's first drift of each template locks it (later ones keep it locked).
    first: dict[str, dict] = {}
    for row in template_lock_rows(week, items, decisions):
        first.setdefault(row["template_id"], row)
    causes = {(r["cause_artifact_id"], r["cause_attempt"]): r for r in first.values()}
    for item, d in zip(items, decisions, strict=True):
        lock = causes.get((item.artifact_id, item.attempt))
        if lock is not None:
            details = {"template_id": item.template_id, "locked_at": lock["locked_at"].isoformat()}
            events.append(
                _event(week, item, EventType.TEMPLATE_LOCKED, Gate.PROMPT_DRIFT, d, details)
            )
    return events


def template_lock_rows(week: date, items: list[GateInput], decisions: list[Decision]) -> list[dict]:
    """`retouch.template_locks`: one row per artifact attempt whose prompt drift failed the
    gate (each may begin a lock; the earliest unreleased one does)."""
    rows = []
    for item, d in zip(items, decisions, strict=True):
        if d.fallback_prompt_version is None:
            continue
        rows.append(
            {
                "template_id": item.template_id,
                "locked_at": item.generated_at,
                "cause_artifact_id": item.artifact_id,
                "cause_attempt": item.attempt,
                "week": week,
                "prompt_version": item.prompt_version,
                "prompt_drift": d.prompt_drift,
                "threshold": next(r.threshold for r in d.rows if r.gate == Gate.PROMPT_DRIFT),
                "approved_prompt_version": d.approved_prompt_version,
                "fallback_prompt_version": d.fallback_prompt_version,
                "model_hash": item.measurement.clip_model_hash,
            }
        )
    return sorted(rows, key=lambda r: (r["template_id"], r["locked_at"], r["cause_artifact_id"]))


def final_pixels(image_path: Path, row: dict, background) -> "np.ndarray | None":
    """The pixels to publish: the delivered image, with the kept healing correction applied;
    None when the image no longer decodes (changed on disk since it was measured)."""
    try:
        pixels = decode_srgb8(image_path, background).pixels
    except DecodeError:
        return None
    kept = [a for a in json.loads(row["heal_actions"]) if a.get("passed")]
    if kept:
        pixels = apply_correction(pixels, Correction.from_dict(kept[0]))
    return pixels
