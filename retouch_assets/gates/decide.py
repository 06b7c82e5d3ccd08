"""The four gates of the article, per artifact: colour fidelity, accessibility, prompt drift
and delivery SLA, with self-healing, and the resulting status.

- colour fidelity: ΔE00 mean and histogram delta within limits and the image as sharp as its
  master (sharpness ratio at least the minimum), else try the healing presets that apply, in
  order, and keep the first that passes on re-measure (`healed`), else human review;
- accessibility: every text layer reaches WCAG AA; a failure gets the nearest accessible text
  colour proposed (the palette balancer) and goes to human review;
- prompt drift: the cosine distance of the prompt's CLIP text embedding to the template's
  approved prompt within the limit, else human review, a fallback preset and a template lock
  (`template_locks`); judged only when a trained model scored it and the template has an
  approved prompt (no gate row otherwise, never a made-up pass);
- delivery: processing time under the SLA; a breach counts toward the SLO and raises a
  queue-reprioritisation event, it never rejects an image.
An artifact that cannot be measured (undecodable, size mismatch) is `rejected`.
"""

from dataclasses import dataclass, field

from retouch_assets.config import RetouchConfig, TemplateEntry
from retouch_assets.gates.heal import Correction, HealAttempt, Healer
from retouch_assets.quality.artifact import ArtifactMeasurement
from retouch_assets.quality.measures import nearest_accessible_colour
from retouch_assets.vocabulary import MEASURED, DriftStatus, Gate, Status


@dataclass(frozen=True)
class GateRow:
    gate: Gate
    metric: str
    phase: str
    value: float | None
    threshold: float | None
    passed: bool
    final: bool = False  # the row that decided the artifact's status


@dataclass
class Decision:
    status: Status
    rows: list[GateRow] = field(default_factory=list)
    failed_gates: list[Gate] = field(default_factory=list)
    unresolved_gates: list[Gate] = field(default_factory=list)
    heal_actions: list[dict] = field(default_factory=list)
    proposals: list[dict] = field(default_factory=list)
    review_reasons: list[str] = field(default_factory=list)
    final_delta_e_mean: float | None = None
    final_hist_delta: float | None = None
    delivery_breach: bool = False
    correction: Correction | None = None
    # Set when the prompt-drift gate failed: the drift, what it was measured against, and the
    # prompt version to fall back to.
    prompt_drift: float | None = None
    approved_prompt_version: str | None = None
    fallback_prompt_version: str | None = None


def _colour_rows(
    de_mean: float, hist: float, sharpness: float | None, phase: str, config: RetouchConfig
) -> list[GateRow]:
    gate = config.gates.colour
    rows = [
        GateRow(
            Gate.COLOUR_FIDELITY,
            "delta_e_mean",
            phase,
            de_mean,
            gate.delta_e_mean_max,
            de_mean <= gate.delta_e_mean_max,
        ),
        GateRow(
            Gate.COLOUR_FIDELITY,
            "hist_delta_pct",
            phase,
            hist,
            gate.hist_delta_pct_max,
            hist <= gate.hist_delta_pct_max,
        ),
    ]
    if sharpness is not None:  # not judged on rows measured before sharpness was
        rows.append(
            GateRow(
                Gate.COLOUR_FIDELITY,
                "sharpness_ratio",
                phase,
                sharpness,
                gate.sharpness_ratio_min,
                sharpness >= gate.sharpness_ratio_min,
            )
        )
    return rows


def _finalise(rows: list[GateRow]) -> list[GateRow]:
    return [GateRow(r.gate, r.metric, r.phase, r.value, r.threshold, r.passed, True) for r in rows]


def _remeasured(attempt: HealAttempt) -> tuple[float, float, float | None]:
    # Only called for an attempt with a fitted correction, which `make_healer` re-measures.
    assert attempt.delta_e_mean is not None and attempt.hist_delta is not None
    return attempt.delta_e_mean, attempt.hist_delta, attempt.sharpness_ratio


def _heal_action(attempt: HealAttempt, config: RetouchConfig) -> dict:
    """What `heal_actions` records for one preset: the correction and its re-measure."""
    action: dict = {"preset": attempt.preset, "passed": False}
    if attempt.correction is None:
        action["note"] = attempt.note or "fitted correction out of bounds"
        return action
    # A fitted correction is always re-measured (`make_healer`).
    assert attempt.delta_e_p95 is not None
    de_mean, hist, sharpness = _remeasured(attempt)
    rows = _colour_rows(de_mean, hist, sharpness, attempt.preset, config)
    action.update(
        attempt.correction.as_dict(),
        delta_e_mean=round(de_mean, 4),
        delta_e_p95=round(attempt.delta_e_p95, 4),
        hist_delta_pct=round(hist, 4),
        passed=all(r.passed for r in rows),
    )
    if sharpness is not None:
        action["sharpness_ratio"] = round(sharpness, 4)
    return action


def _describe(action: dict) -> str:
    if "delta_e_mean" not in action:
        return f"{action['preset']} ({action['note']})"
    sharpness = action.get("sharpness_ratio")
    return f"{action['preset']} → ΔE {action['delta_e_mean']:.2f}" + (
        f", sharpness {sharpness:.2f}" if sharpness is not None else ""
    )


def _prompt_drift(
    m: ArtifactMeasurement, template: TemplateEntry | None, config: RetouchConfig
) -> GateRow | None:
    """The prompt-drift gate row, or None when the drift is not judged (see DriftStatus)."""
    if m.prompt_drift_status != DriftStatus.SCORED or m.prompt_drift is None:
        return None
    limit = config.gates.prompt_drift.cosine_distance_max
    return GateRow(
        Gate.PROMPT_DRIFT,
        "cosine_distance",
        MEASURED,
        m.prompt_drift,
        limit,
        m.prompt_drift <= limit,
        True,
    )


def decide(
    m: ArtifactMeasurement,
    layers: list[dict],
    config: RetouchConfig,
    healer: Healer | None,
    template: TemplateEntry | None = None,
) -> Decision:
    """Gate one measured artifact. `healer(preset)` fits and re-measures a correction; it is
    only called when the colour gate fails. `template` is the artifact's entry of the template
    registry (its approved prompt and fallback), if any."""
    delivery_limit = config.gates.delivery.processing_seconds_max
    seconds = m.processing_ms / 1000.0
    delivery = GateRow(
        Gate.DELIVERY,
        "processing_seconds",
        MEASURED,
        seconds,
        delivery_limit,
        seconds < delivery_limit,
        True,
    )
    if m.measure_error:
        decision = Decision(Status.REJECTED, rows=[delivery], delivery_breach=not delivery.passed)
        decision.rows.insert(
            0, GateRow(Gate.INPUT_INTEGRITY, "measurable", MEASURED, None, None, False, True)
        )
        decision.failed_gates = [Gate.INPUT_INTEGRITY] + (
            [Gate.DELIVERY] if not delivery.passed else []
        )
        decision.unresolved_gates = [Gate.INPUT_INTEGRITY]
        decision.review_reasons = [m.measure_error]
        return decision

    # Without a measure error, the colour metrics are set (`measure_artifact`).
    assert m.delta_e_mean is not None and m.hist_delta is not None
    decision = Decision(
        Status.APPROVED, final_delta_e_mean=m.delta_e_mean, final_hist_delta=m.hist_delta
    )
    colour = _colour_rows(m.delta_e_mean, m.hist_delta, m.sharpness_ratio, MEASURED, config)
    colour_ok = all(r.passed for r in colour)
    if colour_ok:
        decision.rows += _finalise(colour)
    else:
        decision.failed_gates.append(Gate.COLOUR_FIDELITY)
        colour_at = len(decision.rows)
        decision.rows += colour
        kept = None
        if healer:
            for preset in config.healing.presets:
                attempt = healer(preset)
                if attempt is None:
                    continue  # the preset does not apply to this damage
                decision.heal_actions.append(_heal_action(attempt, config))
                if decision.heal_actions[-1]["passed"]:
                    kept = attempt
                    decision.rows += _finalise(_colour_rows(*_remeasured(attempt), preset, config))
                    break
                if attempt.correction is not None:
                    decision.rows += _colour_rows(*_remeasured(attempt), preset, config)
        if kept:
            decision.status = Status.HEALED
            decision.correction = kept.correction
            decision.final_delta_e_mean, decision.final_hist_delta, _ = _remeasured(kept)
        else:
            decision.rows[colour_at : colour_at + len(colour)] = _finalise(colour)
            decision.unresolved_gates.append(Gate.COLOUR_FIDELITY)
            tried = ", ".join(_describe(action) for action in decision.heal_actions)
            soft = (
                f", sharpness {m.sharpness_ratio:.2f} of the master's"
                if m.sharpness_ratio is not None
                and m.sharpness_ratio < config.gates.colour.sharpness_ratio_min
                else ""
            )
            decision.review_reasons.append(
                f"colour fidelity: ΔE mean {m.delta_e_mean:.2f}, histogram delta "
                f"{m.hist_delta:.1f} %{soft}; healing tried: {tried or 'none'}"
            )

    for layer_result, layer in zip(m.layers, layers, strict=True):
        decision.rows.append(
            GateRow(
                Gate.ACCESSIBILITY,
                f"contrast:{layer_result.layer_id}",
                MEASURED,
                layer_result.ratio,
                layer_result.required,
                layer_result.passed,
                True,
            )
        )
        if not layer_result.passed:
            proposal = nearest_accessible_colour(
                layer["fg"], layer_result.background, layer_result.required
            )
            decision.proposals.append(
                {
                    "layer": layer_result.layer_id,
                    "fg": layer["fg"],
                    "background": layer_result.background,
                    "ratio": round(layer_result.ratio, 3),
                    "required": layer_result.required,
                    "proposed_fg": proposal,
                }
            )
    if decision.proposals:
        decision.failed_gates.append(Gate.ACCESSIBILITY)
        decision.unresolved_gates.append(Gate.ACCESSIBILITY)
        decision.review_reasons.append(
            "accessibility: "
            + "; ".join(
                f"layer {p['layer']} {p['ratio']}:1 < {p['required']}:1, try {p['proposed_fg']}"
                for p in decision.proposals
            )
        )

    drift = _prompt_drift(m, template, config)
    if drift is not None:
        decision.rows.append(drift)
        if not drift.passed:
            assert template is not None and drift.value is not None  # judged: both exist
            decision.failed_gates.append(Gate.PROMPT_DRIFT)
            decision.unresolved_gates.append(Gate.PROMPT_DRIFT)
            decision.prompt_drift = drift.value
            decision.approved_prompt_version = template.prompt_version
            decision.fallback_prompt_version = template.fallback
            decision.review_reasons.append(
                f"{Gate.PROMPT_DRIFT}: cosine distance {drift.value:.3f} > {drift.threshold} "
                f"to the approved prompt {template.prompt_version}; fallback preset "
                f"{template.fallback}, template locked"
            )

    decision.rows.append(delivery)
    if not delivery.passed:
        decision.failed_gates.append(Gate.DELIVERY)
        decision.delivery_breach = True
    if decision.unresolved_gates:
        decision.status = Status.NEEDS_HUMAN_REVIEW
    return decision
