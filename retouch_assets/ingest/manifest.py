"""The input contract for one manifest line, as a typed model with precise rejection reasons.

Every rejection has a stable `code` (what analysts group by in `retouch.quarantine`) and a
human-readable detail naming the field.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from retouch_assets.vocabulary import QuarantineReason

# Reason codes written to retouch.quarantine.reason_code.
R = QuarantineReason

_TYPE_ERRORS = re.compile(r".*_(type|parsing)$|^(int_from_float|model_type|dict_type|list_type)$")
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_MAX_BIGINT = 2**63 - 1


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with an explicit offset (or `Z`), normalised to UTC."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            R.BAD_TIMESTAMP, "expected an ISO-8601 string, got {kind}", {"kind": type(value).__name__}
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            R.BAD_TIMESTAMP, "'{value}' is not an ISO-8601 timestamp", {"value": value}
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError(
            R.BAD_TIMESTAMP, "'{value}' has no UTC offset (add e.g. +00:00 or Z)", {"value": value}
        )
    return parsed.astimezone(UTC)


def _colour(value: str) -> str:
    if not _COLOUR.match(value):
        raise PydanticCustomError(R.BAD_COLOUR, "'{value}' is not #RRGGBB", {"value": value})
    return value.upper()


def relative_path_error(value: str) -> str | None:
    """Why `value` is not a safe path inside the batch folder, or None when it is."""
    if not value:
        return "is empty"
    if (
        PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or value[:1] in "\\/"
    ):
        return f"'{value}' is absolute"
    if PureWindowsPath(value).drive:
        return f"'{value}' names a drive"
    depth = 0
    for part in PurePosixPath(value.replace("\\", "/")).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"'{value}' leaves the batch folder"
    if depth == 0:
        return f"'{value}' names the batch folder itself"
    return None


def _relative_path(value: str) -> str:
    problem = relative_path_error(value)
    if problem:
        raise PydanticCustomError(R.UNSAFE_PATH, problem)
    return value


def _non_negative_time(value: float) -> float:
    if value < 0:
        raise PydanticCustomError(R.NEGATIVE_TIME, "{value} is negative", {"value": value})
    return value


NonEmptyStr = Annotated[str, Field(min_length=1)]
Colour = Annotated[str, AfterValidator(_colour)]
RelativePath = Annotated[str, AfterValidator(_relative_path)]
UtcTimestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]


class TextLayer(BaseModel):
    """A text layer rendered on the image; its contrast is checked against WCAG."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: NonEmptyStr
    text: str
    fg: Colour
    bg: Colour | None = None
    bbox: Annotated[list[int], Field(min_length=4, max_length=4)] | None = None
    font_px: Annotated[float, Field(gt=0)]
    bold: bool = False

    @model_validator(mode="after")
    def _background_is_measurable(self) -> "TextLayer":
        if self.bg is None and self.bbox is None:
            raise PydanticCustomError(
                R.BAD_TEXT_LAYER,
                "layer '{id}' has neither bg nor bbox to measure a background from",
                {"id": self.id},
            )
        if self.bbox is not None and (min(self.bbox[:2]) < 0 or min(self.bbox[2:]) <= 0):
            raise PydanticCustomError(
                R.BAD_TEXT_LAYER,
                "layer '{id}' bbox {bbox} needs x, y >= 0 and w, h > 0",
                {"id": self.id, "bbox": self.bbox},
            )
        return self


class ManifestRecord(BaseModel):
    """One accepted generation: the contract fields of a manifest line."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    artifact_id: NonEmptyStr
    attempt: Annotated[int, Field(ge=1, le=_MAX_BIGINT)] = 1
    campaign_id: NonEmptyStr
    template_id: NonEmptyStr
    channel: NonEmptyStr
    retouch_version: NonEmptyStr
    model_version: NonEmptyStr
    prompt: str
    prompt_version: NonEmptyStr
    prompt_hash: str | None = None
    negative_prompt: str | None = None
    sampler: str | None = None
    seed: Annotated[int, Field(ge=0, le=_MAX_BIGINT)]
    steps: Annotated[int, Field(ge=1, le=_MAX_BIGINT)]
    cfg_scale: Annotated[float, Field(allow_inf_nan=False)]
    generated_at: UtcTimestamp
    processing_ms: Annotated[int, AfterValidator(_non_negative_time), Field(le=_MAX_BIGINT)]
    image: RelativePath
    master: RelativePath
    text_layers: list[TextLayer] = Field(default_factory=list)
    reviewer: str | None = None
    review_seconds: Annotated[float, AfterValidator(_non_negative_time)] | None = None
    review_labels: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _prompt_hash_matches(self) -> "ManifestRecord":
        actual = prompt_sha256(self.prompt)
        if self.prompt_hash is not None and self.prompt_hash.lower() != actual:
            raise PydanticCustomError(
                R.PROMPT_HASH_MISMATCH,
                "prompt_hash {given} is not the sha256 of the prompt ({actual})",
                {"given": self.prompt_hash, "actual": actual},
            )
        return self

    @property
    def key(self) -> tuple[str, int]:
        return (self.artifact_id, self.attempt)

    @property
    def computed_prompt_hash(self) -> str:
        return prompt_sha256(self.prompt)


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Rejection:
    """Why a line was quarantined: a stable code and a detail naming the field."""

    code: str
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


def _location(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _code_for(error_type: str) -> str:
    if error_type == "missing":
        return R.MISSING_FIELD
    if error_type in _RANGE_ERRORS or error_type in {"too_short", "too_long", "finite_number"}:
        return R.OUT_OF_RANGE
    if _TYPE_ERRORS.match(error_type):
        return R.WRONG_TYPE
    return error_type  # our own PydanticCustomError types are already reason codes


def _json_kind(value: Any) -> str:
    names = {type(None): "null", bool: "boolean", str: "string", int: "integer", float: "number"}
    return names.get(type(value), "array" if isinstance(value, list) else "object")


def rejection_from(exc: ValidationError) -> Rejection:
    """Map pydantic's errors to one rejection: the first error's code, every error's detail."""
    errors = exc.errors(include_url=False)
    details = []
    for error in errors:
        where = _location(error["loc"])
        message = error["msg"]
        if error["type"] == "missing":
            message = "is required"
        elif _TYPE_ERRORS.match(error["type"]):
            message = f"{message} (got {_json_kind(error['input'])})"
        message = message[:1].lower() + message[1:]
        details.append(f"{where} {message}".strip() if where else message)
    return Rejection(_code_for(errors[0]["type"]), "; ".join(details))


def parse_line(raw: str) -> ManifestRecord | Rejection:
    """Parse and validate one manifest line on its own."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return Rejection(R.INVALID_JSON, f"{exc.msg} at column {exc.colno}")
    if not isinstance(data, dict):
        return Rejection(R.NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}")
    try:
        return ManifestRecord.model_validate(data)
    except ValidationError as exc:
        return rejection_from(exc)


def lenient_timestamp(raw: str) -> datetime | None:
    """The line's generated_at if it can be read at all; used to file rejected lines by week."""
    try:
        data = json.loads(raw)
        return parse_timestamp(data.get("generated_at")) if isinstance(data, dict) else None
    except (json.JSONDecodeError, PydanticCustomError):
        return None


def lenient_artifact_id(raw: str) -> str | None:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    value = data.get("artifact_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
