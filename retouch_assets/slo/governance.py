"""Budget governance: sign-offs, freezes that hold new prompt versions and template changes,
and the rules that relaxing an SLO, or excluding events already past from it, needs a recorded
sign-off and a release note."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from retouch_assets.config import ConfigError, ExclusionWindow, RetouchConfig, Slo
from retouch_assets.ingest.queries import FirstSeen
from retouch_assets.ops.events import stable_id
from retouch_assets.slo import queries
from retouch_assets.slo.tables import APPLIED_CONFIG, EXCLUSION_WINDOWS, SIGNOFFS
from retouch_assets.vocabulary import SignoffKind
from retouch_assets.warehouse import insert


@dataclass(frozen=True)
class Relaxation:
    slo: str
    what: str


def relaxations(old: RetouchConfig, new: RetouchConfig) -> list[Relaxation]:
    """How `new` asks less than `old`: a lower objective, a looser threshold, a shorter
    window, or an SLO removed."""
    found = []
    current = {slo.name: slo for slo in new.slos}
    for before in old.slos:
        after = current.get(before.name)
        if after is None:
            found.append(Relaxation(before.name, "SLO removed"))
            continue
        if after.objective < before.objective:
            found.append(
                Relaxation(before.name, f"objective {before.objective} -> {after.objective}")
            )
        b, a = before.indicator, after.indicator
        if _delivery_ok_tightens(before, after, new):
            pass  # processing time under a limit -> delivery_ok: asks more, not less
        elif (a.metric, a.op) != (b.metric, b.op):
            found.append(
                Relaxation(
                    before.name, f"indicator changed ({b.metric} {b.op} -> {a.metric} {a.op})"
                )
            )
        elif not isinstance(a.threshold, bool):
            looser = a.threshold > b.threshold if a.op in ("<", "<=") else a.threshold < b.threshold
            if a.op != "==" and looser:
                found.append(Relaxation(before.name, f"threshold {b.threshold} -> {a.threshold}"))
        if after.window < before.window:
            found.append(Relaxation(before.name, "window shortened"))
    return found


def _delivery_ok_tightens(before: Slo, after: Slo, new: RetouchConfig) -> bool:
    """Whether `before` (processing_seconds < or <= T) becoming `after` (delivery_ok) asks
    more: delivery_ok needs processing under `gates.delivery.processing_seconds_max` (strictly)
    AND every channel rendition within budget and floor, so with that limit at most T every
    event good under `after` was good under `before`."""
    b, a = before.indicator, after.indicator
    return (
        b.metric == "processing_seconds"
        and b.op in ("<", "<=")
        and a.metric == "delivery_ok"
        and not isinstance(b.threshold, bool)
        and new.gates.delivery.processing_seconds_max <= b.threshold
    )


def config_hash(config: RetouchConfig) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()


def last_applied(con: duckdb.DuckDBPyConnection) -> tuple[datetime, RetouchConfig] | None:
    row = queries.last_applied_config(con)
    if row is None:
        return None
    applied_at, config = row
    return applied_at, RetouchConfig.model_validate(json.loads(config))


def unapproved_relaxations(
    con: duckdb.DuckDBPyConnection, config: RetouchConfig
) -> list[Relaxation]:
    """Relaxations against the last applied config that no sign-off made after it covers."""
    previous = last_applied(con)
    if previous is None:
        return []
    applied_at, old = previous
    signed = queries.signed_scopes(con, SignoffKind.RELAX_OBJECTIVE, applied_at)
    return [r for r in relaxations(old, config) if r.slo not in signed]


def refuse_relaxations(
    con: duckdb.DuckDBPyConnection,
    config: RetouchConfig,
    source: str,
    now: datetime | None = None,
) -> None:
    """Raise a ConfigError naming every relaxation against the config last applied to this
    warehouse that no `relax_objective` sign-off covers, and every retroactive exclusion
    window (starting before `now`, default the wall clock) no sign-off covers."""
    refused = unapproved_relaxations(con, config)
    if refused:
        listed = "; ".join(f"{r.slo}: {r.what}" for r in refused)
        raise ConfigError(
            f"{source}: slos: relaxes an objective against the config last applied without "
            f"sign-off ({listed}). Fix: record one with `retouch signoff --kind "
            f"{SignoffKind.RELAX_OBJECTIVE} --scope <slo> --approver <name> --release-note "
            "<text>`, or restore the previous values"
        )
    refuse_unsigned_exclusions(con, config, source, now or datetime.now(UTC))


def retroactive_exclusions(
    windows: list[ExclusionWindow], recorded: set[str], now: datetime
) -> list[tuple[int, ExclusionWindow]]:
    """(position, window) of every window that starts before `now` and is not among the
    recorded (applied, not retired) windows: new, or with its bounds or scope changed, after
    its start. Windows still in the future, and windows applied before, need nothing."""
    return [
        (i, w) for i, w in enumerate(windows) if w.start < now and w.exclusion_id not in recorded
    ]


def unsigned_exclusions(
    con: duckdb.DuckDBPyConnection, config: RetouchConfig, now: datetime
) -> list[tuple[int, ExclusionWindow]]:
    """Retroactive windows no `retroactive_exclusion` sign-off names (scope: the window id)."""
    recorded = set(queries.active_exclusions(con))
    signed = queries.signoffs_by_scope(con, SignoffKind.RETROACTIVE_EXCLUSION)
    return [
        (i, w)
        for i, w in retroactive_exclusions(config.exclusions, recorded, now)
        if w.exclusion_id not in signed
    ]


def refuse_unsigned_exclusions(
    con: duckdb.DuckDBPyConnection, config: RetouchConfig, source: str, now: datetime
) -> None:
    """Raise a ConfigError naming every exclusion window that would change SLIs already
    reported (it starts before `now` and was not applied before) without a sign-off, with the
    command that records one."""
    refused = unsigned_exclusions(con, config, now)
    if not refused:
        return
    lines = [
        f"{source}: exclusions[{i}]: window {w.exclusion_id} ({w.start.isoformat()} to "
        f"{w.end.isoformat()}, scope {w.scope}) starts before now ({now:%Y-%m-%dT%H:%MZ}) and "
        "was not applied before: it would change SLIs and budgets already reported. Fix: "
        f"record a sign-off with `retouch signoff --kind {SignoffKind.RETROACTIVE_EXCLUSION} "
        f"--scope {w.exclusion_id} --approver <name> --release-note <text>`, or remove the "
        "window (or restore its previous bounds and scope)"
        for i, w in refused
    ]
    raise ConfigError("\n".join(lines))


def record_exclusions(
    con: duckdb.DuckDBPyConnection, config: RetouchConfig, now: datetime
) -> list[str]:
    """Bring `slo.exclusion_windows` to the config's windows, in one transaction: new ones
    recorded (retroactive ones with the sign-off that allowed them), ones no longer configured
    retired, edited reasons and approvers updated. Returns the ids recorded now; a second call
    with the same config records nothing."""
    active = queries.active_exclusions(con)
    signed = queries.signoffs_by_scope(con, SignoffKind.RETROACTIVE_EXCLUSION)
    configured = {w.exclusion_id: w for w in config.exclusions}
    new = [w for key, w in configured.items() if key not in active]
    rows = [
        {
            "exclusion_id": w.exclusion_id,
            "slo": w.target.slo,
            "scope": w.target.scope,
            "starts_at": w.start,
            "ends_at": w.end,
            "reason": w.reason,
            "approved_by": w.approved_by,
            "applied_at": now,
            "retroactive": w.start < now,
            "signoff_id": signed.get(w.exclusion_id) if w.start < now else None,
        }
        for w in new
    ]
    con.execute("BEGIN TRANSACTION")
    try:
        insert(con, EXCLUSION_WINDOWS, rows)
        queries.retire_exclusions(con, sorted(set(active) - set(configured)), now)
        for key, w in configured.items():
            before = active.get(key)
            if before and (before["reason"], before["approved_by"]) != (w.reason, w.approved_by):
                queries.update_exclusion_notes(con, key, w.reason, w.approved_by)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return [w.exclusion_id for w in new]


def apply_config(
    con: duckdb.DuckDBPyConnection, config: RetouchConfig, source: str, now: datetime
) -> bool:
    """Refuse a config that relaxes an SLO, or excludes events already past, without
    sign-off; record its exclusion windows, and the config when it changed. Returns whether
    a new version was recorded."""
    refuse_relaxations(con, config, source, now)
    record_exclusions(con, config, now)
    previous = last_applied(con)
    if previous is not None and config_hash(previous[1]) == config_hash(config):
        return False
    row = {
        "applied_at": now,
        "config_hash": config_hash(config),
        "config": config.model_dump_json(),
        "source": source,
    }
    insert(con, APPLIED_CONFIG, [row])
    return True


def record_signoff(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    scope: str,
    approver: str,
    release_note: str,
    now: datetime,
    effective_from: datetime | None = None,
) -> str:
    """Append a sign-off (never updated or deleted) and return its id."""
    if kind not in tuple(SignoffKind):
        raise ValueError(f"kind must be one of {', '.join(SignoffKind)}")
    for name, value in (("scope", scope), ("approver", approver), ("release note", release_note)):
        if not value or not value.strip():
            raise ValueError(f"a sign-off needs a non-empty {name}")
    signoff_id = stable_id(now.isoformat(), kind, scope, approver)[:16]
    row = {
        "signoff_id": signoff_id,
        "signed_at": now,
        "kind": SignoffKind(kind),
        "scope": scope.strip(),
        "approver": approver.strip(),
        "release_note": release_note.strip(),
        "effective_from": effective_from or now,
    }
    insert(con, SIGNOFFS, [row])
    return signoff_id


@dataclass(frozen=True)
class Freeze:
    """An SLO freeze in force for a scope: `slo/scope` (scope `overall` or `dimension=value`)."""

    slo: str
    scope: str
    dimension: str | None
    value: str | None
    since: datetime

    @property
    def key(self) -> str:
        return f"{self.slo}/{self.scope}"

    def covers(self, artifact: dict) -> bool:
        return self.dimension is None or artifact.get(self.dimension) == self.value


def active_freezes(con: duckdb.DuckDBPyConnection, at: datetime) -> list[Freeze]:
    """Freezes in force at `at` (a week's start: the previous week's evaluation), less those
    released by a sign-off effective after the freeze began and those of low-traffic scopes."""
    return [
        Freeze(
            b["slo"],
            b["scope"],
            b["dimension"],
            b["scope"].split("=", 1)[1] if b["dimension"] else None,
            b["frozen_since"],
        )
        for b in queries.frozen_budgets(con, at)
    ]


def held_reason(artifact: dict, freezes: list[Freeze], first_seen: FirstSeen) -> str | None:
    """Why an artifact is held by an SLO freeze: its prompt version, or its template and
    retouch version pair, was first seen (`ingest.queries.first_seen`) after a freeze covering
    it began. None when no freeze holds it."""
    for freeze in freezes:
        if not freeze.covers(artifact):
            continue
        prompt_seen = first_seen.get(("prompt", artifact["prompt_version"]))
        pair = f"{artifact['template_id']}@{artifact['retouch_version']}"
        pair_seen = first_seen.get(("template", pair))
        frozen = f"{freeze.key} frozen since {freeze.since:%Y-%m-%d}"
        if prompt_seen is not None and prompt_seen >= freeze.since:
            return f"{frozen}: new prompt version {artifact['prompt_version']}"
        if pair_seen is not None and pair_seen >= freeze.since:
            return f"{frozen}: new template/retouch version {pair}"
    return None
