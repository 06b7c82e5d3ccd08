"""The input contract for one manifest line, as a typed model with precise rejection reasons.

Every rejection has a stable `code` (what analysts group by in `retouch.quarantine`) and a
human-readable detail naming the field.

Manifests come from upstreams that may be careless or hostile, so a line is untrusted data:

- JSON is strict: `NaN`/`Infinity` literals, a name repeated in one object, integer literals
  Python refuses to convert (> 4300 digits) and nesting too deep to parse are `invalid_json`.
- Identifiers (`IDENTIFIER_FIELDS`, and a text layer's `id`) are data, not paths: ingest does
  not care whether they look like `../../x` or `C:\\x` (the publisher maps ids to safe file
  names), only that they are printable single-line strings of bounded length, see
  `identifier_problem`. Violations are `bad_identifier`.
- Every string that is accepted can be stored: a lone surrogate (a `\\ud800` escape that JSON
  allows but UTF-8 cannot encode) is `invalid_encoding` in free text and paths, and
  `bad_identifier` in identifiers.
- Numbers fit their warehouse columns (BIGINT, INTEGER for a bbox) and floats are finite, or the
  line is `out_of_range`.
- A rejection's detail quotes at most `MAX_QUOTED_CHARS` of an offending value, with invisible
  and unstorable characters escaped (`\\u0000`), and is cut at `MAX_DETAIL_CHARS`.
"""

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, LiteralString

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

# Reason codes written to retouch.quarantine.reason_code. Pydantic types a custom error's type
# as a LiteralString, which a member's `.value` is and the member itself is not.
R = QuarantineReason

_TYPE_ERRORS = re.compile(r".*_(type|parsing)$|^(int_from_float|model_type|dict_type|list_type)$")
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_MAX_BIGINT = 2**63 - 1
_MAX_INTEGER = 2**31 - 1  # a bbox coordinate is an INTEGER column

# An identifier is at most this many characters (Unicode code points, so at most 800 bytes of
# UTF-8). Real ids are short keys and version labels; the bound keeps a hostile line from
# putting megabytes into every index, log line and file name derived from an id.
MAX_IDENTIFIER_CHARS = 200

# A relative image path is at most this many characters (Linux allows 4096 bytes per path).
MAX_PATH_CHARS = 1024

# Quoting hostile input back in a rejection detail: a value is cut at MAX_QUOTED_CHARS, a whole
# detail at MAX_DETAIL_CHARS, so `retouch.quarantine.reason` stays readable and bounded.
MAX_QUOTED_CHARS = 80
MAX_DETAIL_CHARS = 2000

# The fields that are identifiers (keys, inventory axes, versions). Free text (prompt,
# negative_prompt, sampler, reviewer, review_labels, a layer's text) only has to be storable.
IDENTIFIER_FIELDS = (
    "artifact_id",
    "campaign_id",
    "template_id",
    "channel",
    "retouch_version",
    "model_version",
    "prompt_version",
)

# Unicode general categories an identifier must not contain: Cc (C0/C1 controls: NUL, TAB, CR,
# LF, ESC, DEL...), Cf (invisible format characters: bidi overrides such as U+202E that reorder
# how an id is displayed, zero-width spaces and joiners, soft hyphen, BOM), Cs (lone
# surrogates: not storable as UTF-8), Zl and Zp (U+2028 LINE / U+2029 PARAGRAPH SEPARATOR,
# line breaks to many readers). Other scripts, emoji and inner spaces are fine.
_FORBIDDEN_IN_IDENTIFIERS = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_CHARACTER_NAMES = {
    "\x00": "a NUL byte",
    "\t": "a tab",
    "\n": "a line feed",
    "\r": "a carriage return",
}


def parse_timestamp(value: Any) -> datetime:
    """ISO-8601 with an explicit offset (or `Z`), normalised to UTC."""
    if not isinstance(value, str):
        raise PydanticCustomError(
            R.BAD_TIMESTAMP.value,
            "expected an ISO-8601 string, got {kind}",
            {"kind": type(value).__name__},
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # UnicodeEncodeError (a lone surrogate) is a ValueError too
        raise PydanticCustomError(
            R.BAD_TIMESTAMP.value, "{value} is not an ISO-8601 timestamp", {"value": quoted(value)}
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError(
            R.BAD_TIMESTAMP.value,
            "{value} has no UTC offset (add e.g. +00:00 or Z)",
            {"value": quoted(value)},
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise PydanticCustomError(
            R.BAD_TIMESTAMP.value, "{value} is out of range in UTC", {"value": quoted(value)}
        ) from None


def _escaped(char: str) -> str:
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def storable(text: str) -> str:
    """`text` with every character that is invisible, breaks a line or cannot be encoded as
    UTF-8 written as a `\\uXXXX` escape: safe to store and to print."""
    return "".join(
        _escaped(c) if unicodedata.category(c) in _FORBIDDEN_IN_IDENTIFIERS else c for c in text
    )


def quoted(value: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    """A value quoted into a rejection detail: `'...'`, escaped, cut at `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        return f"'{storable(text[:limit])}…' ({len(text)} characters)"
    return f"'{storable(text)}'"


def _describe(char: str) -> str:
    if char in _CHARACTER_NAMES:
        return _CHARACTER_NAMES[char]
    category = unicodedata.category(char)
    if category == "Cs":
        return f"a lone surrogate {_escaped(char)} (not storable as UTF-8)"
    name = unicodedata.name(char, "")
    kind = "control" if category == "Cc" else "invisible or line-breaking"
    return f"{kind} character {_escaped(char)}" + (f" {name}" if name else "")


def identifier_problem(value: str) -> str | None:
    """Why `value` is not a valid identifier, or None: it must be non-empty, at most
    MAX_IDENTIFIER_CHARS characters, free of surrounding whitespace and of the characters in
    `_FORBIDDEN_IN_IDENTIFIERS`. Path-like ids (`../x`, `/x`, `a/b`) are fine."""
    if not value:
        return "is empty"
    if len(value) > MAX_IDENTIFIER_CHARS:
        return f"is {len(value)} characters long (at most {MAX_IDENTIFIER_CHARS})"
    for position, char in enumerate(value):
        if unicodedata.category(char) in _FORBIDDEN_IN_IDENTIFIERS:
            return f"contains {_describe(char)} at position {position}"
    if value != value.strip():
        return "has leading or trailing whitespace"
    return None


def unencodable_problem(value: str) -> str | None:
    """Why `value` cannot be stored as UTF-8 (a lone surrogate), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains {_describe(value[exc.start])} at position {exc.start}"
    return None


def _colour(value: str) -> str:
    if not _COLOUR.fullmatch(value):
        raise PydanticCustomError(
            R.BAD_COLOUR.value, "{value} is not #RRGGBB", {"value": quoted(value)}
        )
    return value.upper()


def relative_path_error(value: str) -> str | None:
    """Why `value` is not a safe path inside the batch folder, or None when it is."""
    if not value:
        return "is empty"
    shown = quoted(value)
    if len(value) > MAX_PATH_CHARS:
        return f"{shown} is longer than {MAX_PATH_CHARS} characters"
    if "\x00" in value:
        return f"{shown} contains a NUL byte"
    if (
        PurePosixPath(value).is_absolute()
        or PureWindowsPath(value).is_absolute()
        or value[:1] in "\\/"
    ):
        return f"{shown} is absolute"
    if PureWindowsPath(value).drive:
        return f"{shown} names a drive"
    depth = 0
    for part in PurePosixPath(value.replace("\\", "/")).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return f"{shown} leaves the batch folder"
    if depth == 0:
        return f"{shown} names the batch folder itself"
    return None


def _refusing(problem_of: Callable[[str], str | None], code: LiteralString) -> AfterValidator:
    """A validator that refuses a string with `code` and, verbatim (not as a message
    template), the problem `problem_of` finds in it."""

    def validate(value: str) -> str:
        problem = problem_of(value)
        if problem:
            raise PydanticCustomError(code, "{problem}", {"problem": problem})
        return value

    return AfterValidator(validate)


_IDENTIFIER = _refusing(identifier_problem, R.BAD_IDENTIFIER.value)
_STORABLE = _refusing(unencodable_problem, R.INVALID_ENCODING.value)
_RELATIVE = _refusing(relative_path_error, R.UNSAFE_PATH.value)

# Free text of the delivery fields (alt text, credits, terms) is at most this long.
MAX_DELIVERY_TEXT_CHARS = 2000


def url_problem(value: str) -> str | None:
    """Why `value` is not an absolute http(s) URL of bounded length, or None."""
    if len(value) > MAX_PATH_CHARS:
        return f"is longer than {MAX_PATH_CHARS} characters"
    if not _URL.fullmatch(value):
        return f"{quoted(value)} is not an absolute http(s) URL"
    return None


# An absolute http(s) URL without whitespace, quotes or angle brackets (it ends up in JSON-LD
# and in HTML attributes of a CMS).
_URL = re.compile(r"https?://[^\s\"'<>\\]+")


def _non_negative_time(value: float) -> float:
    if value < 0:
        raise PydanticCustomError(R.NEGATIVE_TIME.value, "{value} is negative", {"value": value})
    return value


_URL_FIELD = _refusing(url_problem, R.BAD_URL.value)
Identifier = Annotated[str, _IDENTIFIER]
Text = Annotated[str, _STORABLE]
Colour = Annotated[str, AfterValidator(_colour)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# Validators run in order: a path that cannot be encoded cannot name a file either.
RelativePath = Annotated[str, _STORABLE, _RELATIVE]
UtcTimestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
DeliveryText = Annotated[str, _STORABLE, Field(max_length=MAX_DELIVERY_TEXT_CHARS)]
Url = Annotated[str, _STORABLE, _URL_FIELD]


class TextLayer(BaseModel):
    """A text layer rendered on the image; its contrast is checked against WCAG."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Identifier
    text: Text
    fg: Colour
    bg: Colour | None = None
    bbox: (
        Annotated[
            list[Annotated[int, Field(ge=-_MAX_INTEGER - 1, le=_MAX_INTEGER)]],
            Field(min_length=4, max_length=4),
        ]
        | None
    ) = None
    font_px: Annotated[FiniteFloat, Field(gt=0)]
    bold: bool = False

    @model_validator(mode="after")
    def _background_is_measurable(self) -> "TextLayer":
        if self.bg is None and self.bbox is None:
            raise PydanticCustomError(
                R.BAD_TEXT_LAYER.value,
                "layer '{id}' has neither bg nor bbox to measure a background from",
                {"id": self.id},
            )
        if self.bbox is not None and (min(self.bbox[:2]) < 0 or min(self.bbox[2:]) <= 0):
            raise PydanticCustomError(
                R.BAD_TEXT_LAYER.value,
                "layer '{id}' bbox {bbox} needs x, y >= 0 and w, h > 0",
                {"id": self.id, "bbox": self.bbox},
            )
        return self


class ManifestRecord(BaseModel):
    """One accepted generation: the contract fields of a manifest line."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    artifact_id: Identifier
    attempt: Annotated[int, Field(ge=1, le=_MAX_BIGINT)] = 1
    campaign_id: Identifier
    template_id: Identifier
    channel: Identifier
    retouch_version: Identifier
    model_version: Identifier
    prompt: Text
    prompt_version: Identifier
    prompt_hash: Text | None = None
    negative_prompt: Text | None = None
    sampler: Text | None = None
    seed: Annotated[int, Field(ge=0, le=_MAX_BIGINT)]
    steps: Annotated[int, Field(ge=1, le=_MAX_BIGINT)]
    cfg_scale: FiniteFloat
    generated_at: UtcTimestamp
    processing_ms: Annotated[int, AfterValidator(_non_negative_time), Field(le=_MAX_BIGINT)]
    image: RelativePath
    master: RelativePath
    text_layers: list[TextLayer] = Field(default_factory=list)
    reviewer: Text | None = None
    review_seconds: Annotated[FiniteFloat, AfterValidator(_non_negative_time)] | None = None
    review_labels: list[Text] = Field(default_factory=list)
    # Optional delivery fields (the web delivery manifest's alt text, credits and usage
    # rights). A missing alt text is reported by the run, never rejected.
    alt_text: DeliveryText | None = None
    creator: DeliveryText | None = None
    credit_text: DeliveryText | None = None
    copyright_notice: DeliveryText | None = None
    usage_terms: DeliveryText | None = None
    license_url: Url | None = None
    acquire_license_url: Url | None = None
    rights_expire_at: UtcTimestamp | None = None

    @model_validator(mode="after")
    def _prompt_hash_matches(self) -> "ManifestRecord":
        actual = prompt_sha256(self.prompt)
        if self.prompt_hash is not None and self.prompt_hash.lower() != actual:
            raise PydanticCustomError(
                R.PROMPT_HASH_MISMATCH.value,
                "prompt_hash {given} is not the sha256 of the prompt ({actual})",
                {"given": quoted(self.prompt_hash), "actual": actual},
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
    """Why a line was quarantined: a stable code and a detail naming the field.

    The detail is made storable on construction: characters that are invisible, break lines or
    cannot be encoded as UTF-8 are escaped, and it is cut at MAX_DETAIL_CHARS."""

    code: str
    detail: str

    def __post_init__(self) -> None:
        detail = storable(self.detail)
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 1] + "…"
        object.__setattr__(self, "detail", detail)

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


def _location(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_REASON_CODES = frozenset(R)


def _code_for(error_type: str) -> str:
    if error_type == "missing":
        return R.MISSING_FIELD
    if error_type in _RANGE_ERRORS or error_type in {"too_short", "too_long", "finite_number"}:
        return R.OUT_OF_RANGE
    if error_type == "string_unicode":
        return R.INVALID_ENCODING
    if error_type in _REASON_CODES:
        return R(error_type)  # our own PydanticCustomError types are already reason codes
    return R.WRONG_TYPE  # any other pydantic complaint: the value has the wrong shape


def _json_kind(value: Any) -> str:
    names = {type(None): "null", bool: "boolean", str: "string", int: "integer", float: "number"}
    return names.get(type(value), "array" if isinstance(value, list) else "object")


def rejection_from(exc: ValidationError) -> Rejection:
    """Map pydantic's errors to one rejection: the first error's code, every error's detail."""
    errors = exc.errors(include_url=False, include_input=True, include_context=False)
    details = []
    for error in errors:
        where = _location(error["loc"])
        message = error["msg"]
        if error["type"] == "missing":
            message = "is required"
        elif _TYPE_ERRORS.match(error["type"]):
            message = f"{message} (got {_json_kind(error.get('input'))})"
        message = message[:1].lower() + message[1:]
        details.append(f"{where} {message}".strip() if where else message)
    return Rejection(_code_for(errors[0]["type"]), "; ".join(details))


class _RepeatedName(ValueError):
    pass


class _NonFiniteLiteral(ValueError):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A name given twice is read differently by different parsers (first or last wins): refuse.
    obj: dict[str, Any] = {}
    for name, value in pairs:
        if name in obj:
            raise _RepeatedName(name)
        obj[name] = value
    return obj


def _non_finite(literal: str) -> Any:
    raise _NonFiniteLiteral(literal)


def load_json(raw: str) -> Any:
    """The line's JSON value, or a Rejection (`invalid_json`) saying why there is none. Strict
    JSON only: no NaN/Infinity literals, no name twice in one object."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_object, parse_constant=_non_finite)
    except json.JSONDecodeError as exc:
        return Rejection(R.INVALID_JSON, f"{exc.msg} at column {exc.colno}")
    except _RepeatedName as exc:
        return Rejection(R.INVALID_JSON, f"name {quoted(exc.args[0])} appears twice in an object")
    except _NonFiniteLiteral as exc:
        return Rejection(R.INVALID_JSON, f"{exc.args[0]} is not a JSON number")
    except RecursionError:
        return Rejection(R.INVALID_JSON, "nested too deeply to parse")
    except ValueError as exc:  # e.g. an integer literal of more than 4300 digits
        return Rejection(R.INVALID_JSON, f"cannot be parsed: {exc}")


@dataclass(frozen=True)
class LineOutcome:
    """A line's outcome, and what can still be read from it when it is rejected."""

    outcome: "ManifestRecord | Rejection"
    generated_at: datetime | None  # the record's, or a rejected line's when it reads as one
    artifact_id: str | None  # the record's, or a rejected line's when it is a valid identifier


def examine_line(raw: str) -> LineOutcome:
    """Parse and validate one manifest line on its own; never raises for any input text."""
    data = load_json(raw)
    if isinstance(data, Rejection):
        return LineOutcome(data, None, None)
    if not isinstance(data, dict):
        return LineOutcome(
            Rejection(R.NOT_AN_OBJECT, f"expected a JSON object, got {_json_kind(data)}"),
            None,
            None,
        )
    try:
        record = ManifestRecord.model_validate(data)
    except ValidationError as exc:
        return LineOutcome(rejection_from(exc), _lenient_timestamp(data), _lenient_id(data))
    return LineOutcome(record, record.generated_at, record.artifact_id)


def _lenient_timestamp(data: dict[str, Any]) -> datetime | None:
    try:
        return parse_timestamp(data.get("generated_at"))
    except PydanticCustomError:
        return None


def _lenient_id(data: dict[str, Any]) -> str | None:
    value = data.get("artifact_id")
    return value if isinstance(value, str) and identifier_problem(value) is None else None
