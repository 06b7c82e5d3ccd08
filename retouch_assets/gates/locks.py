"""Template locks: a prompt-drift failure locks its template, and a locked template's newer
artifacts are held from publication (like an SLO freeze) until a sign-off unlocks it.

A lock begins at the `generated_at` of the first drifted artifact of its template and week
(`retouch.template_locks`). An `unlock_template` sign-off for the template (`ops.signoffs`,
scope = template_id) effective at or after that moment releases it; a drift after the
sign-off locks the template again.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from retouch_assets.vocabulary import SignoffKind
from retouch_assets.warehouse import fetch_dicts


@dataclass(frozen=True)
class TemplateLock:
    template_id: str
    locked_at: datetime
    cause_artifact_id: str
    prompt_version: str
    prompt_drift: float
    fallback_prompt_version: str

    def holds(self, artifact: dict) -> bool:
        return (
            artifact["template_id"] == self.template_id
            and artifact["generated_at"] >= self.locked_at
        )

    def reason(self) -> str:
        return (
            f"template {self.template_id} locked since {self.locked_at:%Y-%m-%d %H:%M} "
            f"(prompt drift {self.prompt_drift:.3f} of {self.cause_artifact_id}; fallback "
            f"{self.fallback_prompt_version})"
        )


_ACTIVE_LOCKS = """
SELECT l.template_id, l.locked_at, l.cause_artifact_id, l.prompt_version, l.prompt_drift,
       l.fallback_prompt_version
FROM retouch.template_locks l
WHERE NOT EXISTS (
    SELECT 1 FROM ops.signoffs s
    WHERE s.kind = $unlock AND s.scope = l.template_id AND s.effective_from >= l.locked_at
)
ORDER BY l.template_id, l.locked_at
"""


def active_locks(con: duckdb.DuckDBPyConnection) -> list[TemplateLock]:
    """Every lock no sign-off has released."""
    return [
        TemplateLock(**row)
        for row in fetch_dicts(con, _ACTIVE_LOCKS, {"unlock": SignoffKind.UNLOCK_TEMPLATE})
    ]


def lock_reason(artifact: dict, locks: Sequence[TemplateLock]) -> str | None:
    """Why a lock holds this artifact (its template is locked since before it was generated);
    None when none does."""
    for lock in locks:
        if lock.holds(artifact):
            return lock.reason()
    return None


def lock_violations(published: Iterable[dict], locks: Sequence[TemplateLock]) -> list[tuple]:
    """(artifact_id, attempt, reason) of every published artifact a lock holds."""
    return [
        (row["artifact_id"], row["attempt"], reason)
        for row in published
        if (reason := lock_reason(row, locks))
    ]


def locked_templates(locks: Iterable[TemplateLock]) -> dict[str, TemplateLock]:
    """template_id -> its earliest active lock."""
    first: dict[str, TemplateLock] = {}
    for lock in sorted(locks, key=lambda lock: lock.locked_at):
        first.setdefault(lock.template_id, lock)
    return first
