"""The project's shared vocabulary: every status, gate, state, event, severity and reason that
is written to the warehouse or compared against, named once.

The members are `StrEnum`s: they compare equal to their string values, go into Arrow tables and
SQL parameters as plain strings, and are what analysts see in the warehouse. SQL never spells
these values out; it receives them as parameters.
"""

from enum import StrEnum


class Status(StrEnum):
    """An artifact attempt's outcome after the gates (and, for publication, the freezes)."""

    APPROVED = "approved"
    HEALED = "healed"
    NEEDS_HUMAN_REVIEW = "needs_human_review"
    REJECTED = "rejected"
    HELD_BY_FREEZE = "held_by_freeze"  # publishable, but held while an SLO freeze is in force
    # publishable, but its template is locked after a prompt-drift failure (until sign-off)
    HELD_BY_TEMPLATE_LOCK = "held_by_template_lock"


PUBLISHABLE = (Status.APPROVED, Status.HEALED)
HELD = (Status.HELD_BY_FREEZE, Status.HELD_BY_TEMPLATE_LOCK)
FAILING_AFTER_HEALING = (Status.NEEDS_HUMAN_REVIEW, Status.REJECTED)
GATE_STATUSES = (Status.APPROVED, Status.HEALED, Status.NEEDS_HUMAN_REVIEW, Status.REJECTED)


class Gate(StrEnum):
    COLOUR_FIDELITY = "colour_fidelity"
    ACCESSIBILITY = "accessibility"
    PROMPT_DRIFT = "prompt_drift"
    DELIVERY = "delivery"
    INPUT_INTEGRITY = "input_integrity"


# Gates whose final failure keeps an artifact from counting as passed (delivery never does).
BLOCKING_GATES = (Gate.COLOUR_FIDELITY, Gate.ACCESSIBILITY, Gate.PROMPT_DRIFT, Gate.INPUT_INTEGRITY)

# The phase of gate rows measured on the image as delivered (healing rows carry the preset).
MEASURED = "measured"
# The phase of the delivery gate's rows about channel renditions (`retouch.renditions`).
RENDITION = "rendition"


class RenditionFormat(StrEnum):
    """Encoded formats of channel renditions."""

    AVIF = "avif"
    WEBP = "webp"
    JPEG = "jpeg"


class MeasureError(StrEnum):
    """Why an artifact could not be measured (prefix of `artifact_quality.measure_error`)."""

    UNDECODABLE = "undecodable"
    SIZE_MISMATCH = "size_mismatch"
    BAD_TEXT_LAYER = "bad_text_layer"


class DriftStatus(StrEnum):
    """`prompt_drift_status` of an artifact attempt: whether the prompt-drift gate judged it,
    and if not, why. Only `scored` drift is judged by the gate and counted by SLOs."""

    SCORED = "scored"
    # Computed with a model exported without trained weights: plumbing, not judgement.
    UNTRAINED_MODEL = "untrained_model"
    NO_APPROVED_PROMPT = "no_approved_prompt"  # the template registry has no approved prompt
    NOT_CONFIGURED = "not_configured"  # no CLIP model configured


class ReviewPriority(StrEnum):
    HIGH = "high"
    NORMAL = "normal"


class PolicyState(StrEnum):
    """Budget policy of an SLO scope: freeze new work at 60 %, SLO freeze at 90 %."""

    OK = "ok"
    FREEZE_NEW_WORK = "freeze_new_work"
    SLO_FREEZE = "slo_freeze"
    EXHAUSTED = "exhausted"


FROZEN_STATES = (PolicyState.SLO_FREEZE, PolicyState.EXHAUSTED)

OVERALL = "overall"  # the scope of an SLO over every artifact


class EventType(StrEnum):
    """`ops.events.event_type`."""

    RETOUCH_SUCCESS = "retouch_success"
    GATE_FAILED = "gate_failed"
    HEALED = "healed"
    NEEDS_HUMAN_REVIEW = "needs_human_review"
    REJECTED = "rejected"
    QUEUE_REPRIORITISATION = "queue_reprioritisation"
    POLICY_STATE_CHANGED = "policy_state_changed"
    GUARDRAIL_REGRESSION = "guardrail_regression"
    # Prompt drift over the threshold: re-generate with the template's fallback prompt version.
    FALLBACK_PRESET = "fallback_preset"
    TEMPLATE_LOCKED = "template_locked"


class EventSource(StrEnum):
    """The step that owns a row of `ops.events` (each replaces only its own rows)."""

    GATES = "gates"
    SLO = "slo"
    GUARDRAIL = "guardrail"


class AlertSeverity(StrEnum):
    PAGE = "page"
    TICKET = "ticket"


class IncidentSeverity(StrEnum):
    SEV1 = "SEV1"  # paged from the fastest window: a fast burn
    SEV2 = "SEV2"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class IncidentEventKind(StrEnum):
    OPENED = "opened"
    ALERT_ATTACHED = "alert_attached"
    ALERT_RESOLVED = "alert_resolved"
    POSTMORTEM_DUE = "postmortem_due"
    RESOLVED = "resolved"


class RootCause(StrEnum):
    """`ops.incidents.root_cause_category`."""

    UNKNOWN = "unknown"
    MODEL_VERSION = "model_version"
    PROMPT_VERSION = "prompt_version"
    TEMPLATE = "template"
    MIXED = "mixed"


class RouteKind(StrEnum):
    """`ops.alert_outbox.route_kind`: the service a route delivers to."""

    PAGERDUTY = "pagerduty"
    SLACK = "slack"
    JIRA = "jira"
    NONE = "none"  # no route configured for the severity


class OutboxStatus(StrEnum):
    NO_ROUTE = "no_route"  # nothing configured for this severity: kept, visible, never dropped
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the service refused it (4xx): final, with the response recorded
    RETRYING = "retrying"  # 5xx or unreachable after every retry: tried again next delivery
    NO_ENDPOINT = "no_endpoint"  # a route is configured but its environment variable is unset


UNDELIVERED = (OutboxStatus.PENDING, OutboxStatus.RETRYING, OutboxStatus.NO_ENDPOINT)


class OutboxKind(StrEnum):
    BURN_ALERT = "burn_alert"
    POLICY = "policy"


class OutboxAction(StrEnum):
    TRIGGER = "trigger"
    RESOLVE = "resolve"


class SignoffKind(StrEnum):
    RELEASE_FREEZE = "release_freeze"
    RELAX_OBJECTIVE = "relax_objective"
    UNLOCK_TEMPLATE = "unlock_template"  # scope: the template_id a prompt-drift lock holds
    # scope: the id of an exclusion window that starts before it is first applied
    RETROACTIVE_EXCLUSION = "retroactive_exclusion"


class QuarantineReason(StrEnum):
    """`retouch.quarantine.reason_code`: why a manifest line broke the input contract."""

    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    NEGATIVE_TIME = "negative_time"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_COLOUR = "bad_colour"
    BAD_TEXT_LAYER = "bad_text_layer"
    BAD_IDENTIFIER = "bad_identifier"
    PROMPT_HASH_MISMATCH = "prompt_hash_mismatch"
    UNSAFE_PATH = "unsafe_path"
    SYMLINK_ESCAPE = "symlink_escape"
    DUPLICATE_KEY = "duplicate_key"
    TIMESTAMP_BEFORE_PARTITIONS = "timestamp_before_partitions"
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    MISSING_FILE = "missing_file"
    NOT_A_FILE = "not_a_file"
    UNDECODABLE_IMAGE = "undecodable_image"
    LINE_TOO_LONG = "line_too_long"
    BAD_URL = "bad_url"  # a delivery field (license_url, ...) that is not an http(s) URL


class Dimension(StrEnum):
    """The inventory axes SLO scopes and baselines are cut by."""

    CAMPAIGN = "campaign_id"
    TEMPLATE = "template_id"
    CHANNEL = "channel"


class ScopeType(StrEnum):
    """`baselines.weekly.scope_type`: every artifact, one template, or one channel."""

    OVERALL = OVERALL
    TEMPLATE = "template"
    CHANNEL = "channel"


class VersionKind(StrEnum):
    """`baselines.version_guardrail.kind`: the generations column the version is from."""

    MODEL = "model_version"
    PROMPT = "prompt_version"
