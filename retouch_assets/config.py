"""`retouch-slo.yaml`: the configuration users edit, validated before anything runs.

A bad file fails fast with the file, the field and the fix, e.g.
`retouch-slo.yaml: ingest.ranges.steps.max: Input should be greater than 0 (got -1). Fix: ...`.
"""

import difflib
import hashlib
import json
import re
import typing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, LiteralString
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError


class ConfigError(ValueError):
    """A configuration file that cannot be used, with every problem found in it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """Inclusive bounds for a batch-level expectation."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class IngestRanges(_Strict):
    attempt: Range = Range(min=1, max=10)
    steps: Range = Range(min=1, max=150)
    cfg_scale: Range = Range(min=0, max=30)
    processing_ms: Range = Range(min=0, max=3_600_000)
    review_seconds: Range = Range(min=0, max=86_400)


class IngestConfig(_Strict):
    """Batch-level expectations run by great-expectations on every week of generations."""

    channels: list[str] = Field(
        default_factory=lambda: ["web", "social", "email", "display", "print"],
        min_length=1,
        description="Channels a generation may target; anything else fails the batch check.",
    )
    ranges: IngestRanges = IngestRanges()


class ColourGate(_Strict):
    delta_e_mean_max: float = Field(default=0.8, gt=0)
    hist_delta_pct_max: float = Field(default=5.0, gt=0, le=100)
    sharpness_ratio_min: float = Field(
        default=0.85,
        gt=0,
        le=1,
        description="the artifact's luma gradient energy relative to its master's: below it "
        "the image is soft and fails colour fidelity (fidelity to the master)",
    )

    def passes(self, delta_e_mean: float, hist_delta: float, sharpness: float | None) -> bool:
        """Whether measured (or re-measured) values pass the gate; no sharpness ratio (a row
        measured before sharpness was, or a flat master) is not judged."""
        return (
            delta_e_mean <= self.delta_e_mean_max
            and hist_delta <= self.hist_delta_pct_max
            and (sharpness is None or sharpness >= self.sharpness_ratio_min)
        )


class AccessibilityGate(_Strict):
    normal_text_min_ratio: float = Field(default=4.5, ge=1, le=21)
    large_text_min_ratio: float = Field(default=3.0, ge=1, le=21)


class PromptDriftGate(_Strict):
    """Prompt drift = 1 − cosine between the CLIP text embeddings of an artifact's prompt and
    its template's approved prompt; above the limit the artifact goes to human review, a
    fallback preset is named and the template is locked until signed off."""

    cosine_distance_max: float = Field(default=0.2, ge=0, le=2)
    judge_untrained: bool = Field(
        default=False,
        description="judge drift computed by a model exported without trained weights "
        "(tests only: such scores exercise the plumbing, not the judgement)",
    )


class DeliveryGate(_Strict):
    processing_seconds_max: float = Field(default=90, gt=0)


class Gates(_Strict):
    colour: ColourGate = ColourGate()
    accessibility: AccessibilityGate = AccessibilityGate()
    prompt_drift: PromptDriftGate = PromptDriftGate()
    delivery: DeliveryGate = DeliveryGate()
    systemic_failure_tolerance: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Largest share of a week's artifacts that may still fail after healing "
        "before publication of the week is blocked.",
    )


HealPreset = Literal["white_balance", "colour_matrix", "sharpening", "masking"]


class Sharpening(_Strict):
    """A bounded unsharp mask, fitted so the output's sharpness matches the master's; tried
    only when the sharpness ratio is below `gates.colour.sharpness_ratio_min`."""

    radius_min: float = Field(default=0.5, gt=0, le=20, description="Gaussian sigma, pixels")
    radius_max: float = Field(default=2.5, gt=0, le=20, description="Gaussian sigma, pixels")
    radius_steps: int = Field(default=5, ge=1, le=16, description="radii tried, evenly spaced")
    amount_max: float = Field(
        default=3.0,
        gt=0,
        le=10,
        description="largest unsharp-mask amount (a softer image "
        "than this can restore is not healed)",
    )

    detail_limit: float = Field(
        default=8.0,
        gt=0,
        le=255,
        description="the detail added back is clipped to ± this many code values, so that "
        "edges already crisp (text layers) get no halo",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "Sharpening":
        if self.radius_min > self.radius_max:
            raise ValueError(
                f"radius_min ({self.radius_min}) is greater than radius_max ({self.radius_max}); "
                "set radius_min <= radius_max"
            )
        return self


class Masking(_Strict):
    """Bounded gains fitted per region on a feathered mask, where the ΔE map shows local
    damage; never copies master pixels."""

    local_delta_e: float = Field(
        default=3.0, gt=0, description="ΔE00 (9x9 mean) above which a pixel is damaged"
    )
    min_region_px: int = Field(
        default=256, ge=1, description="damaged areas smaller than this are ignored"
    )
    max_regions: int = Field(default=4, ge=1, le=32, description="regions fitted at most")
    min_excess_share: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="masking applies only when the regions hold at least this share of the "
        "ΔE in excess of the gate's mean (else the damage is not local)",
    )
    max_area_share: float = Field(
        default=0.25, gt=0, le=1, description="bound: share of the image the masks may cover"
    )
    feather_px: int = Field(default=6, ge=0, le=64, description="mask edge ramp, pixels")
    max_gain_deviation: float = Field(
        default=0.4, gt=0, le=1, description="|gain - 1| per channel of a region's correction"
    )


class Healing(_Strict):
    """Bounded corrections fitted against the master, tried in order: global colour (white
    balance, colour matrix), sharpening, masking."""

    presets: list[HealPreset] = Field(
        default_factory=lambda: ["white_balance", "colour_matrix", "sharpening", "masking"],
        max_length=4,
    )
    max_gain_deviation: float = Field(
        default=0.25, gt=0, le=1, description="|gain - 1| per channel"
    )
    max_matrix_deviation: float = Field(
        default=0.35, gt=0, le=2, description="largest |M - I| entry of the 3x3 colour matrix"
    )
    sharpening: Sharpening = Sharpening()
    masking: Masking = Masking()

    @field_validator("presets")
    @classmethod
    def _unique(cls, presets: list[str]) -> list[str]:
        twice = sorted({p for p in presets if presets.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once; list each preset once")
        return presets


class Quality(_Strict):
    duplicate_max_hamming: int = Field(
        default=4,
        ge=0,
        le=32,
        description="perceptual-hash bits within which an artifact duplicates",
    )
    alpha_background: str = Field(
        default="#FFFFFF",
        pattern=r"^#[0-9A-Fa-f]{6}$",
        description="what transparent pixels become",
    )
    workers: Literal["auto"] | Annotated[int, Field(ge=1, le=512)] = Field(
        default="auto",
        description="worker processes that measure a week: auto (one per available core) "
        "or a number (1 measures in the run's own process)",
    )
    chunk_size: int = Field(
        default=16,
        ge=1,
        le=100_000,
        description="attempts a worker measures and writes to one results file at a time",
    )
    master_cache_mb: int = Field(
        default=256,
        ge=0,
        le=1_000_000,
        description="MiB of decoded masters (pixels and Lab) each worker keeps; beyond it the "
        "least recently used go and are decoded again when needed (a 1 MP master takes 27 MB)",
    )


class Clip(_Strict):
    """The CLIP model that scores prompts against images (exported by `retouch clip
    export`). A relative `model_dir` is relative to this file's folder; RETOUCH_CLIP_MODEL
    and `retouch run --clip-model` override it. None: CLIP scoring is not configured."""

    model_dir: str | None = None
    device: Literal["auto", "cuda", "cpu"] = "auto"
    # auto: fp16 on CUDA, fp32 on CPU; int8 (the quantised image tower, offered by an export
    # only when it agrees with fp32) is ~2-3x faster on CPU.
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    batch_size: int = Field(default=32, ge=1, le=1024)


class Provenance(_Strict):
    """The C2PA signing identity every published image is signed with: a PEM certificate chain
    (the end-entity certificate first, then its issuers) and its PEM private key, by path; a
    relative path is relative to this file's folder. RETOUCH_C2PA_CERT, RETOUCH_C2PA_KEY and
    RETOUCH_C2PA_TRUST_ANCHOR override them. Unset: `retouch run` refuses to start, and
    publication refuses to write unsigned images (the message says how to make a test chain)."""

    cert_chain: str | None = Field(default=None, description="PEM chain: end-entity, then CA")
    private_key: str | None = Field(default=None, description="PEM private key (P-256)")
    algorithm: Literal["ES256"] = "ES256"
    trust_anchor: str | None = Field(
        default=None,
        description="PEM root certificate(s) read-back trusts: with one, every published "
        "manifest must validate as Trusted, without one as Valid",
    )


class TemplateEntry(_Strict):
    """A template's approved prompt (what prompt drift is measured against) and the
    known-good prompt version to fall back to when an artifact drifts."""

    # Not blank: drift measured against an empty text would lock the template for nothing.
    approved_prompt: str = Field(pattern=r"\S")
    prompt_version: str = Field(pattern=r"\S")
    fallback_prompt_version: str | None = Field(
        default=None, description="default: the approved prompt version"
    )

    @property
    def fallback(self) -> str:
        return self.fallback_prompt_version or self.prompt_version


_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def parse_duration(value: Any) -> timedelta:
    """'5m', '1h', '30d', '2w' -> timedelta."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"'{value}' is not a duration such as 5m, 1h, 30d or 2w")
    return timedelta(minutes=int(match.group(1)) * _UNIT_MINUTES[match.group(2)])


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    for unit, size in (("w", 10080), ("d", 1440), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]

# What an SLO can count: each metric is a fact of an artifact attempt. Kept as a closed list so
# the SLI is always computed by tested code, never by SQL written in the config.
SliMetric = Literal[
    "delta_e_mean",
    "final_delta_e_mean",
    "hist_delta",
    "min_contrast_ratio",
    "wcag_aa_pass",
    "processing_seconds",
    "passed_gates",
    "reprocess_success",
    "prompt_drift",
    "delivery_ok",
]
BOOLEAN_METRICS = {"wcag_aa_pass", "passed_gates", "reprocess_success", "delivery_ok"}
Dimension = Literal["campaign_id", "template_id", "channel"]


class Indicator(_Strict):
    """Good events: artifacts whose `metric` satisfies `op threshold`; total: artifacts where
    the metric exists (reprocess_success: attempts > 1 only)."""

    metric: SliMetric
    op: Literal["<", "<=", ">", ">=", "=="]
    threshold: float | bool

    @model_validator(mode="after")
    def _consistent(self) -> "Indicator":
        boolean = self.metric in BOOLEAN_METRICS
        if boolean and (self.op != "==" or not isinstance(self.threshold, bool)):
            raise ValueError(f"{self.metric} is true/false: use op '==' with threshold true")
        if not boolean and isinstance(self.threshold, bool):
            raise ValueError(f"{self.metric} is a number: give a numeric threshold")
        return self


class Slo(_Strict):
    """One service-level objective, in the spirit of OpenSLO's SLO spec."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="lower-case, dashes")
    description: str = ""
    indicator: Indicator
    objective: float = Field(gt=0, lt=1, description="share of good events, e.g. 0.95")
    window: Duration = Field(default_factory=lambda: timedelta(days=30))
    dimensions: list[Dimension] = Field(
        default_factory=lambda: ["campaign_id", "template_id", "channel"]
    )


# The brief's SLOs: name, description, metric, op, threshold, objective (30-day windows).
_BRIEF_SLOS: list[tuple[str, str, str, str, float | bool, float]] = [
    (
        "colour-fidelity",
        "CIEDE2000 mean to the master at most 1.0",
        "delta_e_mean",
        "<=",
        1.0,
        0.95,
    ),
    ("accessibility", "every text layer meets WCAG 2.x AA", "wcag_aa_pass", "==", True, 0.99),
    (
        "delivery",
        "processed in under 90 seconds, every channel rendition within budget and floor",
        "delivery_ok",
        "==",
        True,
        0.95,
    ),
    (
        "reprocess-success",
        "reprocessing attempts that pass their gates",
        "reprocess_success",
        "==",
        True,
        0.98,
    ),
]


def _default_slos() -> list[Slo]:
    return [
        Slo.model_validate(
            {
                "name": name,
                "description": description,
                "indicator": {"metric": metric, "op": op, "threshold": threshold},
                "objective": objective,
            }
        )
        for name, description, metric, op, threshold, objective in _BRIEF_SLOS
    ]


class BudgetPolicy(_Strict):
    """What budget consumption allows: freeze new creative work at 60 %, SLO freeze (template
    changes and new prompt versions held) at 90 %, exhausted at 100 %."""

    freeze_new_work_at: float = Field(default=0.6, gt=0)
    slo_freeze_at: float = Field(default=0.9, gt=0)
    exhausted_at: float = Field(default=1.0, gt=0)
    low_traffic_min_events: int = Field(
        default=20, ge=1, description="fewer events than this in a window: flagged, never paged"
    )

    @model_validator(mode="after")
    def _ordered(self) -> "BudgetPolicy":
        if not self.freeze_new_work_at < self.slo_freeze_at <= self.exhausted_at:
            raise ValueError(
                "thresholds must rise: freeze_new_work_at < slo_freeze_at <= exhausted_at"
            )
        return self


class AlertWindow(_Strict):
    """A multi-window burn-rate alert: it fires when the burn rate over both the long and the
    short window exceeds budget_consumed × SLO window / long window."""

    severity: Literal["page", "ticket"]
    budget_consumed: float = Field(gt=0, le=1)
    long: Duration
    short: Duration

    @model_validator(mode="after")
    def _short_is_shorter(self) -> "AlertWindow":
        if self.short >= self.long:
            raise ValueError("short window must be shorter than long window")
        return self


def _default_windows() -> list[AlertWindow]:
    """The SRE Workbook's table ("Alerting on SLOs"); factors scale with the SLO window."""
    return [
        AlertWindow(
            severity="page",
            budget_consumed=0.02,
            long=parse_duration("1h"),
            short=parse_duration("5m"),
        ),
        AlertWindow(
            severity="page",
            budget_consumed=0.05,
            long=parse_duration("6h"),
            short=parse_duration("30m"),
        ),
        AlertWindow(
            severity="ticket",
            budget_consumed=0.10,
            long=parse_duration("1d"),
            short=parse_duration("2h"),
        ),
        AlertWindow(
            severity="ticket",
            budget_consumed=0.10,
            long=parse_duration("3d"),
            short=parse_duration("6h"),
        ),
    ]


class AlertRoute(_Strict):
    """Where alerts go; secrets are named by environment variable, never written here."""

    name: str = Field(min_length=1)
    kind: Literal["pagerduty", "slack", "jira"]
    severities: list[Literal["page", "ticket"]] = Field(min_length=1)
    # Only RETOUCH_* variables can be named: the alert resource hands out nothing else.
    url_env: str | None = Field(default=None, pattern=r"^RETOUCH_[A-Z0-9_]+$")
    secret_env: str | None = Field(default=None, pattern=r"^RETOUCH_[A-Z0-9_]+$")


class Alerting(_Strict):
    windows: list[AlertWindow] = Field(default_factory=_default_windows, min_length=1)
    routes: list[AlertRoute] = Field(default_factory=list)


class Review(_Strict):
    """When the weekly reliability sync runs. `slow_review_seconds` is read by the review
    statistics of the reports issue (QA reviews slower than this feed the template backlog)."""

    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday"] = "monday"
    time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "Europe/Berlin"
    slow_review_seconds: float = Field(default=300, gt=0)

    @model_validator(mode="after")
    def _known_timezone(self) -> "Review":
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{self.timezone}' (use an IANA name)") from None
        return self


class Guardrail(_Strict):
    """A model or prompt version new in a week is compared with the previous weeks' baseline."""

    baseline_weeks: int = Field(default=4, ge=1, le=26)
    max_worse_pct: float = Field(
        default=20.0, gt=0, description="allowed ΔE mean increase, percent"
    )
    min_artifacts: int = Field(default=5, ge=1, description="fewer artifacts: not judged yet")


_CURRENCY = r"^[A-Z]{3}$"


class Business(_Strict):
    """The business inputs (kpi_daily.csv, rum_lcp.csv) and the overlay built from them."""

    currency: str = Field(
        default="EUR", pattern=_CURRENCY, description="ISO 4217 code of kpi_daily revenue"
    )


class Cost(_Strict):
    """The reprocess-cost meter: (processing + human review time) of attempts > 1 × rate."""

    currency: str = Field(default="EUR", pattern=_CURRENCY, description="ISO 4217 code")
    staff_rate_per_hour: float = Field(
        default=65.0,
        ge=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="loaded staff cost of one hour of reprocessing work",
    )
    template_rates: dict[str, Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]] = (
        Field(
            default_factory=dict,
            description="per-template hourly rates overriding staff_rate_per_hour",
        )
    )

    def rate_for(self, template_id: str) -> float:
        return self.template_rates.get(template_id, self.staff_rate_per_hour)


def _config_error(message: LiteralString, fix: str, **context: Any) -> PydanticCustomError:
    """A validation error that carries its own fix (`_fix_for` reads `ctx['fix']`)."""
    return PydanticCustomError("config_fix", message, {**context, "fix": fix})


_INSTANT_FIX = "write an ISO-8601 time with its UTC offset, e.g. 2026-10-05T02:00:00+02:00"


def _aware_instant(value: Any) -> datetime:
    """An ISO-8601 time with a UTC offset (YAML may already have parsed it)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _config_error("not an ISO-8601 time", _INSTANT_FIX) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _config_error("the time has no UTC offset", _INSTANT_FIX)
        return value
    if isinstance(value, date):
        raise _config_error("a date is not a time", _INSTANT_FIX)
    raise _config_error("not an ISO-8601 time", _INSTANT_FIX)


Instant = Annotated[datetime, BeforeValidator(_aware_instant)]

_SCOPE_FIX = (
    "write overall, an SLO name, <dimension>=<value> or <slo>/<dimension>=<value> "
    "(dimension: campaign_id, template_id or channel), e.g. delivery/channel=web"
)
_SLO_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# In the vocabulary of the SLO engine's scopes: `overall` or `dimension=value`, optionally
# after `<slo>/` as in the freeze sign-offs (`<slo>/*` is the SLO's every scope).
_DIMENSIONS = ("campaign_id", "template_id", "channel")


@dataclass(frozen=True)
class ExclusionTarget:
    """What an exclusion window covers: every SLO or one (`slo`), every event or those with
    one dimension value."""

    slo: str | None
    dimension: str | None
    value: str | None

    @property
    def scope(self) -> str:
        """The engine's scope label of the covered events: `overall` or `dimension=value`."""
        return "overall" if self.dimension is None else f"{self.dimension}={self.value}"

    @property
    def canonical(self) -> str:
        return f"{self.slo or '*'}/{self.scope}"


def parse_exclusion_scope(text: str) -> ExclusionTarget | None:
    """`overall`, `<slo>`, `<dimension>=<value>`, `<slo>/overall`, `<slo>/*` or
    `<slo>/<dimension>=<value>`; None when the text is none of these."""
    text = text.strip()
    head, equals, value = text.partition("=")
    slo, slash, what = head.rpartition("/") if "/" in head else ("", "", head)
    if slash and not _SLO_NAME.match(slo):
        return None
    if equals:
        if what not in _DIMENSIONS or not value.strip():
            return None
        return ExclusionTarget(slo or None, what, value.strip())
    if what in ("overall", "*") and (slash or what == "overall"):
        return ExclusionTarget(slo or None, None, None)
    if not slash and _SLO_NAME.match(what):
        return ExclusionTarget(what, None, None)
    return None


class ExclusionWindow(_Strict):
    """Planned maintenance excluded from SLIs, error budgets and burn-rate alerts: the events
    of `scope` with start <= generated_at < end. Recorded (`slo.exclusion_windows`) when
    first applied; a window new or changed after its start needs a `retroactive_exclusion`
    sign-off."""

    start: Instant
    end: Instant
    scope: str
    reason: str = Field(pattern=r"\S")
    approved_by: str = Field(pattern=r"\S")

    @field_validator("scope")
    @classmethod
    def _known_scope(cls, value: str) -> str:
        if parse_exclusion_scope(value) is None:
            raise _config_error("'{scope}' is not an exclusion scope", _SCOPE_FIX, scope=value)
        return value.strip()

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise _config_error(
                "the window ends at or before its start ({start})",
                "make end later than start",
                start=start.isoformat(),
            )
        return value

    @property
    def target(self) -> ExclusionTarget:
        target = parse_exclusion_scope(self.scope)
        assert target is not None  # validated
        return target

    @property
    def exclusion_id(self) -> str:
        """A content hash of what the window excludes (its bounds as UTC instants and its
        canonical scope): the same window keeps its id, any change of them makes a new one.
        The reason and approver are not part of it."""
        content = [
            self.start.astimezone(UTC).isoformat(),
            self.end.astimezone(UTC).isoformat(),
            self.target.canonical,
        ]
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]


# --- Channel renditions and the web delivery manifest (issue 15 parts 1 and 5) -------------

RenditionFormatName = Literal["avif", "webp", "jpeg"]


class RenditionWidth(_Strict):
    """One rendition size of a channel: its width in pixels (height keeps the aspect ratio; a
    source narrower than this is never upscaled, it is rendered at its own width) and the
    byte budget of every rendition at that width."""

    width: int = Field(ge=16, le=16383, description="pixels; AVIF and WebP allow up to 16383")
    max_kb: float = Field(gt=0, le=100_000, description="byte budget in kB (1000 bytes)")

    @property
    def max_bytes(self) -> int:
        return int(self.max_kb * 1000)


class QualityFloor(_Strict):
    """How close every rendition must stay to the published image at the same size."""

    delta_e_mean_max: float = Field(default=3.0, gt=0, le=100, description="CIEDE2000 mean")
    ssim_min: float = Field(default=0.95, gt=0, le=1, description="SSIM on luminance")


class Channel(_Strict):
    """A delivery channel's renditions: formats × widths, each within its byte budget and
    above the quality floor, and the HTML `sizes` attribute of its web delivery manifest."""

    formats: list[RenditionFormatName] = Field(min_length=1, max_length=3)
    widths: list[RenditionWidth] = Field(min_length=1, max_length=12)
    floor: QualityFloor = QualityFloor()
    sizes: str = Field(default="100vw", min_length=1, max_length=500)

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise PydanticCustomError(
                "config_fix",
                "formats are repeated: {value}",
                {"value": value, "fix": "list each of avif, webp, jpeg at most once"},
            )
        return value

    @field_validator("widths")
    @classmethod
    def _unique_widths(cls, value: list[RenditionWidth]) -> list[RenditionWidth]:
        widths = [w.width for w in value]
        if len(set(widths)) != len(widths):
            raise PydanticCustomError(
                "config_fix",
                "widths are repeated: {value}",
                {"value": widths, "fix": "give each width once, with its max_kb"},
            )
        return sorted(value, key=lambda w: w.width)


def _default_channels() -> dict[str, Channel]:
    """Defaults chosen from `retouch bench renditions` (docs/renditions.md): at the default
    floor, real 480 × 320 photographs take a median 11-14 kB as AVIF or WebP and 15-17 kB as
    JPEG, the hardest (a saturated, detailed motorcycle) up to 3× that, and the XMP provenance
    packet adds about 2.5 kB to each. Budgets cover the hardest photograph at each width
    with headroom, so a failure means an image much harder to compress than these
    photographs (or a floor set too high)."""
    return {
        name: Channel.model_validate(channel)
        for name, channel in {
            "web": {
                "formats": ["avif", "webp"],
                "widths": [{"width": 320, "max_kb": 48}, {"width": 640, "max_kb": 100}],
                "sizes": "(max-width: 640px) 100vw, 640px",
            },
            "social": {
                "formats": ["webp", "jpeg"],
                "widths": [{"width": 1080, "max_kb": 250}],
                "sizes": "100vw",
            },
            "email": {
                "formats": ["jpeg"],
                "widths": [{"width": 600, "max_kb": 80}],
                "sizes": "(max-width: 600px) 100vw, 600px",
            },
            "display": {
                "formats": ["webp", "jpeg"],
                "widths": [{"width": 300, "max_kb": 48}],
                "sizes": "300px",
            },
        }.items()
    }


class Renditions(_Strict):
    """How renditions are searched, encoded and addressed: the bounded quality search, encoder
    effort, worker threads and the web delivery manifest's base URL."""

    quality_min: int = Field(default=30, ge=1, le=100)
    quality_max: int = Field(default=92, ge=1, le=100)
    max_probes: int = Field(default=4, ge=1, le=8, description="encodes per rendition at most")
    avif_speed: int = Field(default=9, ge=0, le=10, description="libavif speed 0 (slow) .. 10")
    webp_method: int = Field(default=4, ge=0, le=6, description="libwebp method 0 (fast) .. 6")
    workers: Literal["auto"] | Annotated[int, Field(ge=1, le=256)] = Field(
        default="auto", description="threads rendering images in parallel (auto: one per core)"
    )
    base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s\"'<>]+/$",
        description="prefix of rendition URLs in the web manifest; None: relative paths",
    )

    @model_validator(mode="after")
    def _ordered(self) -> "Renditions":
        if self.quality_min > self.quality_max:
            raise PydanticCustomError(
                "config_fix",
                "quality_min ({low}) is above quality_max ({high})",
                {
                    "low": self.quality_min,
                    "high": self.quality_max,
                    "fix": "give quality_min <= quality_max, e.g. 30 and 92",
                },
            )
        return self


def channel_problems(config: "RetouchConfig") -> list[str]:
    """Rendition channels the ingest contract does not know (no artifact could use them)."""
    known = config.ingest.channels
    return [
        f"channels.{name}: is not one of ingest.channels (got {name!r}). Fix: use one of "
        f"{', '.join(known)}, or add it to ingest.channels"
        for name in config.channels
        if name not in known
    ]


class RetouchConfig(_Strict):
    """The whole of `retouch-slo.yaml`."""

    service: str = Field(default="retouch-assets", min_length=1)
    ingest: IngestConfig = IngestConfig()
    quality: Quality = Quality()
    gates: Gates = Gates()
    healing: Healing = Healing()
    slos: list[Slo] = Field(default_factory=_default_slos, min_length=1)
    budget_policy: BudgetPolicy = BudgetPolicy()
    alerting: Alerting = Alerting()
    review: Review = Review()
    guardrail: Guardrail = Guardrail()
    business: Business = Business()
    cost: Cost = Cost()
    clip: Clip = Clip()
    provenance: Provenance = Provenance()
    # template_id -> its approved prompt; templates not listed have no approved prompt (their
    # drift is not computed, and the run says which they are).
    templates: Annotated[
        dict[str, TemplateEntry], BeforeValidator(lambda v: {} if v is None else v)
    ] = Field(default_factory=dict)
    exclusions: Annotated[
        list[ExclusionWindow], BeforeValidator(lambda v: [] if v is None else v)
    ] = Field(default_factory=list)
    # Channel renditions (issue 15 part 1): channel name (an ingest channel) -> its renditions.
    channels: Annotated[dict[str, Channel], BeforeValidator(lambda v: {} if v is None else v)] = (
        Field(default_factory=_default_channels)
    )
    renditions: Renditions = Renditions()

    @model_validator(mode="after")
    def _unique_slo_names(self) -> "RetouchConfig":
        names = [slo.name for slo in self.slos]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"SLO names must be unique; repeated: {', '.join(duplicated)}")
        return self

    def slo(self, name: str) -> Slo:
        return next(s for s in self.slos if s.name == name)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or inside list[...] / X | None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at `loc`, to suggest a fix for a misspelt key."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue  # a list index: the model stays the list's item model
        field = current.model_fields.get(part)
        current = _model_in(field.annotation) if field is not None else None
    return list(current.model_fields) if current is not None else []


# What a value of each patterned field looks like, for the fix of a mismatch.
_PATTERN_FIXES = {
    "alpha_background": "write a colour as #RRGGBB",
    "url_env": "name an environment variable starting with RETOUCH_, e.g. RETOUCH_SLACK_URL",
    "secret_env": "name an environment variable starting with RETOUCH_, e.g. RETOUCH_JIRA_TOKEN",
    "name": "use lower-case letters, digits and dashes, e.g. colour-fidelity",
    "time": "write the time as HH:MM, e.g. 09:00",
    "approved_prompt": "write the approved prompt's text (not blank), or remove the template",
    "prompt_version": "name the approved prompt's version, e.g. tpl-a/v1",
    "currency": "write an ISO 4217 currency code in capitals, e.g. EUR",
    "reason": "say why the window is excluded, e.g. the maintenance ticket",
    "approved_by": "name who approved the window",
    "base_url": "write an http(s) URL ending in /, e.g. https://cdn.example.com/retouch/",
}


def _fix_for(error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "config_fix":
        return str(error.get("ctx", {}).get("fix"))
    if kind == "extra_forbidden":
        known = _known_fields(RetouchConfig, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        if not known:
            return f"{hint}remove it (this section takes no other keys)"
        return f"{hint}remove it or use one of: {', '.join(known)}"
    if kind == "missing":
        return f"add '{loc[-1]}'"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"write a {kind.split('_')[0]} value"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return "use a value inside the allowed range"
    if kind == "too_short":
        return "list at least one value"
    if kind == "literal_error":
        return f"use one of the values listed ({error['msg'].removeprefix('Input should be ')})"
    if kind == "string_pattern_mismatch":
        return _PATTERN_FIXES.get(
            str(loc[-1]), f"match the pattern {error.get('ctx', {}).get('pattern', '')}"
        )
    return "see the commented defaults in the repository's retouch-slo.yaml"


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        got = f" (got {error['input']!r})" if error["type"] != "missing" else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(
            f"{source}: {_field_path(error['loc'])}: {message}{got}. Fix: {_fix_for(error)}"
        )
    return "\n".join(lines)


def parse_config(data: Any, source: str) -> RetouchConfig:
    """Validate already-loaded YAML data; `source` names it in error messages."""
    if data is None:
        raise ConfigError(
            f"{source}: (top level): the file is empty. Fix: start from the repository's "
            "retouch-slo.yaml (every key is optional, but an empty file is more likely a "
            "truncated copy than a choice of all defaults); write `{}` to ask for the defaults"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: (top level): expected a mapping of sections, got {type(data).__name__}. "
            "Fix: start the file with keys such as 'service:', 'ingest:' and 'gates:'"
        )
    try:
        config = RetouchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None
    problems = exclusion_problems(config) + channel_problems(config)
    if problems:
        raise ConfigError("\n".join(f"{source}: {problem}" for problem in problems))
    return config


def exclusion_problems(config: RetouchConfig) -> list[str]:
    """Exclusion windows naming an SLO the config does not define."""
    names = [slo.name for slo in config.slos]
    problems = []
    for i, window in enumerate(config.exclusions):
        slo = window.target.slo
        if slo is not None and slo not in names:
            problems.append(
                f"exclusions[{i}].scope: names SLO '{slo}', which is not defined (got "
                f"{window.scope!r}). Fix: use one of {', '.join(names)}, or overall"
            )
    return problems


def load_config(path: str | Path) -> RetouchConfig:
    """Read and validate a configuration file; every problem is reported with its field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: file not found. Fix: pass --config with an existing file or set "
            "RETOUCH_SLO_CONFIG (the repository ships retouch-slo.yaml)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path}:{where}: not valid YAML ({exc}). Fix: correct the syntax"
        ) from None
    return parse_config(data, str(path))


@lru_cache(maxsize=8)
def load_config_cached(path: str, mtime_ns: int) -> RetouchConfig:
    """Cache by path and modification time, so an edited file is re-read."""
    return load_config(path)
