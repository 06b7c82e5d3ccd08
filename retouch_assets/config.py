"""`retouch-slo.yaml`: the configuration users edit, validated before anything runs.

A bad file fails fast with the file, the field and the fix, e.g.
`retouch-slo.yaml: ingest.ranges.steps.max: Input should be greater than 0 (got -1). Fix: ...`.
"""

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


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
    delta_e_mean_max: float = Field(0.8, gt=0)
    hist_delta_pct_max: float = Field(5.0, gt=0, le=100)


class AccessibilityGate(_Strict):
    normal_text_min_ratio: float = Field(4.5, ge=1, le=21)
    large_text_min_ratio: float = Field(3.0, ge=1, le=21)


class PromptDriftGate(_Strict):
    cosine_distance_max: float = Field(0.2, ge=0, le=2)


class DeliveryGate(_Strict):
    processing_seconds_max: float = Field(90, gt=0)


class Gates(_Strict):
    colour: ColourGate = ColourGate()
    accessibility: AccessibilityGate = AccessibilityGate()
    prompt_drift: PromptDriftGate = PromptDriftGate()
    delivery: DeliveryGate = DeliveryGate()
    systemic_failure_tolerance: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Largest share of a week's artifacts that may still fail after healing "
        "before publication of the week is blocked.",
    )


HealPreset = Literal["white_balance", "colour_matrix"]


class Healing(_Strict):
    """Bounded, global corrections fitted against the master, tried in order."""

    presets: list[HealPreset] = Field(
        default_factory=lambda: ["white_balance", "colour_matrix"], max_length=4
    )
    max_gain_deviation: float = Field(0.25, gt=0, le=1, description="|gain - 1| per channel")
    max_matrix_deviation: float = Field(
        0.35, gt=0, le=2, description="largest |M - I| entry of the 3x3 colour matrix"
    )


class Quality(_Strict):
    duplicate_max_hamming: int = Field(
        4, ge=0, le=32, description="perceptual-hash bits within which an artifact duplicates"
    )
    alpha_background: str = Field(
        "#FFFFFF", pattern=r"^#[0-9A-Fa-f]{6}$", description="what transparent pixels become"
    )


class RetouchConfig(_Strict):
    """The whole of `retouch-slo.yaml`."""

    service: str = Field("retouch-assets", min_length=1)
    ingest: IngestConfig = IngestConfig()
    quality: Quality = Quality()
    gates: Gates = Gates()
    healing: Healing = Healing()


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _known_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at `loc`, to suggest a fix for a misspelt key."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        field = current.model_fields.get(part)
        if field is None:
            break
        current = field.annotation
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _fix_for(error: dict[str, Any]) -> str:
    kind, loc = error["type"], error["loc"]
    if kind == "extra_forbidden":
        known = _known_fields(RetouchConfig, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
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
        return "write a colour as #RRGGBB"
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
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: (top level): expected a mapping of sections, got {type(data).__name__}. "
            "Fix: start the file with keys such as 'service:', 'ingest:' and 'gates:'"
        )
    try:
        return RetouchConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


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
