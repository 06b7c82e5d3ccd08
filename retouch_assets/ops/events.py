"""Rows of `ops.events`, the operations layer's event log: one shape for every writer (gating
outcomes, policy-state changes, guardrail regressions), with an id that is stable across
re-runs."""

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from retouch_assets.vocabulary import EventSource, EventType


def stable_id(*parts: Any) -> str:
    """The same parts give the same id on every run, so re-running a week rewrites, not adds."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def event_row(
    week: date,
    at: datetime,
    event_type: EventType,
    source: EventSource,
    key: Sequence[Any],
    details: dict[str, Any],
    **columns: Any,
) -> dict[str, Any]:
    """One `ops.events` row; `key` identifies the event within its week, `columns` fills the
    inventory columns it concerns (template_id, model_version, ...)."""
    return {
        "event_id": stable_id(week, *key),
        "week": week,
        "event_time": at,
        "event_type": event_type,
        "details": json.dumps(details),
        "source": source,
        **columns,
    }
