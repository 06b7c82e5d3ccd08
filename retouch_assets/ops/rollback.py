"""Rollback plans (the article's "document rollbacks in rollback-plan.md"): for each incident
and each template lock, the last known-good prompt, model and retouch version, the evidence
for each, and the commands that restore them and then release the freeze or lock.

Known-good is read from the data, never assumed: among the artifacts in the incident's scope
(or the locked template) generated in the `LOOKBACK` before the trouble began, a version is
known-good when at least `min_pass_rate` of its artifacts were good (an incident: its SLO's own
indicator, against the SLO's objective; a lock: every blocking gate passed) over at least
`MIN_ARTIFACTS` artifacts, and it is not a suspect (a version most of the incident's failing
artifacts share). The last known-good is the one seen most recently. When no version
qualifies the plan says so, with the best candidate, instead of proposing one.

The pure part builds the plans from plain rows; `rollback_plans` at the bottom reads the
warehouse for the ops step.
"""

import json
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import polars as pl

from retouch_assets.config import ExclusionWindow, RetouchConfig, Slo
from retouch_assets.ops import queries
from retouch_assets.ops.incidents import (
    DOMINANT_SHARE,
    FAILURE_LEAD,
    ROLLBACK_PLAN_FILE,
    timeline_file,
    utc_minute,
)
from retouch_assets.ops.markup import markdown_code_block, markdown_text
from retouch_assets.safe_paths import safe_stem
from retouch_assets.slo.engine import counted_events
from retouch_assets.slo.governance import Freeze, active_freezes
from retouch_assets.slo.queries import load_facts
from retouch_assets.vocabulary import OVERALL

# How far back the evidence reaches: four weeks, about an SLO window.
LOOKBACK = timedelta(days=28)
# Fewer artifacts than this say too little about a version to roll back to it.
MIN_ARTIFACTS = 5
# A template lock is about prompt drift, not an SLO: a version is good for it when this share
# of its artifacts passed every blocking gate (the default SLO objective).
LOCK_MIN_PASS_RATE = 0.95
VERSION_KINDS = ("model_version", "retouch_version", "prompt_version")
# Prompt versions belong to a template: each template rolls back to its own.
PER_TEMPLATE = "prompt_version"
LOCKS_FOLDER = "template-locks"


@dataclass(frozen=True)
class VersionEvidence:
    """How one version's artifacts fared before the trouble began. `template` is set for
    prompt versions, which belong to one template each."""

    kind: str
    template: str | None
    version: str
    artifacts: int
    good: int
    first_seen: datetime
    last_seen: datetime

    @property
    def pass_rate(self) -> float:
        return self.good / self.artifacts


@dataclass(frozen=True)
class Choice:
    """The last known-good version of one kind (and template, for prompts; None: none
    qualifies), and every candidate, most recently seen first."""

    kind: str
    template: str | None
    chosen: VersionEvidence | None
    candidates: tuple[VersionEvidence, ...]
    suspects: frozenset[str]

    @property
    def label(self) -> str:
        name = _KIND_LABEL[self.kind]
        return f"{name} of {markdown_text(self.template)}" if self.template is not None else name


@dataclass(frozen=True)
class Subject:
    """What a plan is for: an incident or a template lock."""

    title: str
    relative_path: str  # the plan's path under the reports folder
    began: datetime  # the evidence ends here
    began_text: str  # when and what began, for the reader
    criterion: str  # what counts as good, in words
    min_pass_rate: float
    release: str  # the state of the freeze or lock, in words
    release_command: str | None  # the sign-off that releases it (None: nothing held)
    suspects: Mapping[str, frozenset[str]] = field(default_factory=dict)


_KIND_LABEL = {
    "model_version": "model version",
    "prompt_version": "prompt version",
    "retouch_version": "retouch version",
}


def evidence(rows: pl.DataFrame, good: np.ndarray) -> list[VersionEvidence]:
    """Per version (prompt versions per template): artifacts, good ones, first and last seen.
    `rows` are the eligible artifacts (generated_at, template_id and the VERSION_KINDS
    columns), `good` their outcome."""
    if rows.is_empty():
        return []
    frame = rows.select("generated_at", "template_id", *VERSION_KINDS).with_columns(
        good=pl.Series(good, dtype=pl.Boolean)
    )
    found = []
    for kind in VERSION_KINDS:
        keys = ["template_id", kind] if kind == PER_TEMPLATE else [kind]
        grouped = frame.group_by(keys).agg(
            pl.len().alias("artifacts"),
            pl.col("good").sum().alias("good"),
            pl.col("generated_at").min().alias("first_seen"),
            pl.col("generated_at").max().alias("last_seen"),
        )
        found += [
            VersionEvidence(
                kind,
                r["template_id"] if kind == PER_TEMPLATE else None,
                r[kind],
                r["artifacts"],
                r["good"],
                r["first_seen"],
                r["last_seen"],
            )
            for r in grouped.iter_rows(named=True)
        ]
    return found


def choose(
    found: Sequence[VersionEvidence],
    min_pass_rate: float,
    suspects: Mapping[str, frozenset[str]] | None = None,
    min_artifacts: int = MIN_ARTIFACTS,
) -> list[Choice]:
    """For each version kind (and template, for prompts): the most recently seen version with
    enough good artifacts that is not a suspect (ties: the one first seen later, then the
    name). Kinds come in VERSION_KINDS order, templates by name."""
    suspects = suspects or {}
    groups: dict[tuple[str, str | None], list[VersionEvidence]] = {}
    for e in found:
        groups.setdefault((e.kind, e.template), []).append(e)
    choices = []
    order = sorted(groups, key=lambda g: (VERSION_KINDS.index(g[0]), g[1] or ""))
    for kind, template in order:
        candidates = sorted(
            groups[(kind, template)],
            key=lambda e: (e.last_seen, e.first_seen, e.version),
            reverse=True,
        )
        excluded = suspects.get(kind, frozenset())
        chosen = next(
            (
                e
                for e in candidates
                if e.version not in excluded
                and e.artifacts >= min_artifacts
                and e.pass_rate >= min_pass_rate
            ),
            None,
        )
        choices.append(Choice(kind, template, chosen, tuple(candidates), excluded))
    return choices


def suspects_of(failures: Sequence[Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """The versions most (DOMINANT_SHARE) of an incident's failing artifacts share: never
    proposed as known-good, whatever their earlier record."""
    found: dict[str, frozenset[str]] = {}
    for kind in VERSION_KINDS:
        values = [f[kind] for f in failures if f.get(kind) is not None]
        if values:
            version, count = Counter(values).most_common(1)[0]
            if count / len(values) >= DOMINANT_SHARE:
                found[kind] = frozenset({version})
    return found


def _rate(e: VersionEvidence) -> str:
    return f"{e.pass_rate:.1%} ({e.good} of {e.artifacts})"


def best_candidate(choice: Choice) -> VersionEvidence | None:
    """The best record among the versions that are not suspects (enough artifacts first, then
    most good, then most artifacts): named when none is known-good, never pinned."""
    eligible = [e for e in choice.candidates if e.version not in choice.suspects]
    return max(
        eligible,
        key=lambda e: (e.artifacts >= MIN_ARTIFACTS, e.pass_rate, e.artifacts),
        default=None,
    )


def _why_none(choice: Choice, min_pass_rate: float) -> str:
    label = choice.label
    best = best_candidate(choice)
    if best is None:
        return f"no known-good {label}: every one seen before it began is a suspect"
    return (
        f"no known-good {label}: none reached {min_pass_rate:.0%} good over at least "
        f"{MIN_ARTIFACTS} artifacts (the best: {markdown_text(best.version)}, {_rate(best)})"
    )


def _pinned_yaml(choices: Sequence[Choice]) -> str:
    """The versions to pin, as YAML (values JSON-quoted: valid YAML whatever they hold); a kind
    with no known-good version is a comment naming the best candidate, for a person to judge."""
    lines = []
    for c in choices:
        key = c.kind if c.template is None else f"  {json.dumps(c.template)}"
        if c.template is not None and not any(line.startswith("prompt_version:") for line in lines):
            lines.append("prompt_version:  # per template")
        if c.chosen is not None:
            lines.append(f"{key}: {json.dumps(c.chosen.version)}")
            continue
        best = best_candidate(c)
        if best is not None:
            indent = "  " if c.template is not None else ""
            lines.append(
                f"{indent}# {key.strip()}: no known-good version; the best before it began was "
                f"{json.dumps(best.version)} ({best.pass_rate:.1%} good of {best.artifacts})"
            )
    return "\n".join(lines)


def restore_argv(db: str, landing: str) -> tuple[str, ...]:
    """Re-run the pipeline over the landing folder once the rolled-back batches are there."""
    return ("retouch", "run", "--landing", landing, "--db", db)


def plan_markdown(subject: Subject, choices: Sequence[Choice], db: str, landing: str) -> str:
    """rollback-plan.md: the last known-good versions with their evidence, then the steps and
    commands that restore them and release the freeze or lock. Every value from the data is
    escaped; commands are shell-quoted inside code blocks."""
    text = markdown_text
    window_start = subject.began - LOOKBACK
    lines = [
        f"# Rollback plan: {text(subject.title)}",
        "",
        f"- began: {text(subject.began_text)}",
        f"- evidence: every artifact in scope generated from {utc_minute(window_start)} UTC to "
        f"{utc_minute(subject.began)} UTC (the {LOOKBACK.days} days before it began)",
        f"- known-good: {text(subject.criterion)}, at least {subject.min_pass_rate:.0%} good "
        f"over at least {MIN_ARTIFACTS} artifacts; the most recently seen one is chosen",
    ]
    suspected = [
        f"{_KIND_LABEL[kind]} {text(v)}"
        for kind in VERSION_KINDS
        for v in sorted(subject.suspects.get(kind, ()))
    ]
    if suspected:
        lines.append(
            "- suspects (shared by most failing artifacts, never proposed): " + ", ".join(suspected)
        )
    lines += [
        "",
        "## Last known-good versions",
        "",
        "| version of | last known-good | good | last seen |",
        "|---|---|---|---|",
    ]
    for c in choices:
        if c.chosen is None:
            lines.append(f"| {c.label} | none | – | – |")
        else:
            e = c.chosen
            lines.append(
                f"| {c.label} | {text(e.version)} | {_rate(e)} | {utc_minute(e.last_seen)} UTC |"
            )
    if not choices:
        lines += [
            "",
            f"- no artifact in scope was generated in the {LOOKBACK.days} days before it began: "
            "there is nothing to compare",
        ]
    missing = [c for c in choices if c.chosen is None]
    if missing:
        lines += [""] + [f"- {_why_none(c, subject.min_pass_rate)}" for c in missing]
    lines += ["", "## Every version seen before it began", ""]
    lines += ["| version of | version | good | first seen | last seen |", "|---|---|---|---|---|"]
    for c in choices:
        for e in c.candidates:
            mark = " (suspect)" if e.version in c.suspects else ""
            lines.append(
                f"| {c.label} | {text(e.version)}{mark} | {_rate(e)} | "
                f"{utc_minute(e.first_seen)} UTC | {utc_minute(e.last_seen)} UTC |"
            )
    lines += ["", "## Restore", ""]
    pinned = [c.chosen for c in choices if c.chosen is not None]
    if pinned:
        lines += [
            "1. Pin the generator that writes the manifests (this project measures and gates "
            "images; it does not generate them) to the last known-good versions:",
            "",
            markdown_code_block(_pinned_yaml(choices), "yaml"),
            "",
            "2. Once its new batches are in the landing folder, run the pipeline and check that "
            "they pass the gates again (the run prints the gate status and the budgets):",
            "",
            markdown_code_block(shlex.join(restore_argv(db, landing)), "sh"),
            "",
        ]
    else:
        lines += [
            "There is no known-good version to roll back to: fix forward (template, prompt or "
            "heal preset), and keep the freeze or lock until the fix is confirmed.",
            "",
        ]
    step = 3 if pinned else 1
    lines += [f"{step}. Release: {text(subject.release)}", ""]
    if subject.release_command is not None:
        lines += [
            "Once the rolled-back artifacts pass the gates again, sign off (this releases new "
            "work, such as new prompt versions, as well), then run the pipeline again to "
            "publish what was held:",
            "",
            markdown_code_block(subject.release_command, "sh"),
            "",
        ]
    return "\n".join(lines)


def signoff_command(
    db: str, note: str, *, scope: str | None = None, template: str | None = None
) -> str:
    """The `retouch signoff` that releases a freeze (`scope`) or a template lock: every value
    shell-quoted, the approver left to the shell (`"$USER"`: replace it with a name)."""
    target = ("--template", template) if template is not None else ("--scope", scope or "")
    return (
        shlex.join(("retouch", "signoff", *target))
        + ' --by "$USER" '
        + shlex.join(("--note", note, "--db", db))
    )


# ---- subjects from the warehouse's rows (pure) ------------------------------------------


def incident_subject(
    incident: Mapping[str, Any],
    freeze: Freeze | None,
    suspects: Mapping[str, frozenset[str]],
    objective: float | None,
    indicator: str,
    db: str,
) -> Subject:
    """An incident's plan: evidence until its failure window began (FAILURE_LEAD before it
    opened); the release is the freeze of its SLO scope, if one is in force (`freeze`)."""
    scope_key = f"{incident['slo']}/{incident['scope']}"
    note = f"rolled back after {incident['incident_id']}"
    if freeze is not None:
        release = (
            f"{scope_key} is frozen since {utc_minute(freeze.since)} UTC (SLO freeze in force)"
        )
        command = signoff_command(db, note, scope=scope_key)
    else:
        release = f"{scope_key} is not frozen: no sign-off is needed"
        command = None
    return Subject(
        title=f"{incident['incident_id']} ({incident['slo']}, {incident['scope']})",
        relative_path=incident_plan_file(incident["incident_id"]),
        began=incident["opened_at"] - FAILURE_LEAD,
        began_text=f"{incident['incident_id']} opened {utc_minute(incident['opened_at'])} UTC; its "
        f"failure window starts {int(FAILURE_LEAD.total_seconds() // 3600)} h earlier",
        criterion=f"good by the {incident['slo']} SLO's own indicator ({indicator})",
        min_pass_rate=objective if objective is not None else LOCK_MIN_PASS_RATE,
        release=release,
        release_command=command,
        suspects=suspects,
    )


def lock_episodes(locks: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Template lock rows grouped into episodes: rows of one template released by the same
    sign-off (or by none yet) are one lock; it began at the earliest of them."""
    episodes: dict[tuple, dict] = {}
    for row in sorted(locks, key=lambda r: (r["template_id"], r["locked_at"])):
        key = (row["template_id"], row["unlocked_at"])
        episodes.setdefault(key, dict(row))
    return list(episodes.values())


def lock_subject(lock: Mapping[str, Any], db: str) -> Subject:
    template = lock["template_id"]
    note = f"template {template} rolled back to a known-good prompt"
    if lock["unlocked_at"] is not None:
        release = f"the lock was released by a sign-off at {utc_minute(lock['unlocked_at'])} UTC"
        command = None
    else:
        release = f"template {template} is locked since {utc_minute(lock['locked_at'])} UTC"
        command = signoff_command(db, note, template=template)
    return Subject(
        title=f"template lock of {template} ({utc_minute(lock['locked_at'])} UTC)",
        relative_path=lock_plan_file(template, lock["locked_at"]),
        began=lock["locked_at"],
        began_text=f"prompt drift {lock['prompt_drift']:.3f} of artifact "
        f"{lock['cause_artifact_id']} (prompt version {lock['prompt_version']}); the "
        f"configured fallback prompt version is {lock['fallback_prompt_version']}",
        criterion="passed every blocking gate",
        min_pass_rate=LOCK_MIN_PASS_RATE,
        release=release,
        release_command=command,
        suspects={"prompt_version": frozenset({lock["prompt_version"]})},
    )


def incident_plan_file(incident_id: str) -> str:
    """Next to the incident's timeline; `incident_id` is a generated RETINC-<n>."""
    return timeline_file(incident_id).rsplit("/", 1)[0] + f"/{ROLLBACK_PLAN_FILE}"


def lock_plan_file(template_id: str, locked_at: datetime) -> str:
    """A folder per lock: the template id as a safe stem (never a path), and when it began."""
    return f"{LOCKS_FOLDER}/{safe_stem(template_id)}/{locked_at:%Y%m%dT%H%M%S}/{ROLLBACK_PLAN_FILE}"


def scope_filter(frame: pl.DataFrame, scope: str) -> pl.DataFrame:
    """The rows of an SLO scope (`overall` or `dimension=value`)."""
    if scope == OVERALL:
        return frame
    dimension, _, value = scope.partition("=")
    return frame.filter(pl.col(dimension) == value) if dimension in frame.columns else frame[:0]


def subject_choices(
    subject: Subject,
    frame: pl.DataFrame,
    slo: Slo | None = None,
    exclusions: Sequence[ExclusionWindow] = (),
) -> list[Choice]:
    """The choice of each version kind for `subject` from `frame` (already cut to its scope):
    rows in its evidence window, good by `slo`'s indicator less the events its exclusion
    windows leave out (they count neither for nor against a version, as in its budget); with
    no SLO (a lock), every row counts and is good when it passed every gate."""
    # The facts' times are in polars' "UTC"; DuckDB's rows carry "Etc/UTC": compare in one.
    began = subject.began.astimezone(UTC)
    rows = frame.filter(
        (pl.col("generated_at") >= began - LOOKBACK) & (pl.col("generated_at") < began)
    )
    if slo is None:
        eligible = np.ones(len(rows), dtype=bool)
        good = rows["passed_gates"].fill_null(False).to_numpy().astype(bool)
    else:
        eligible, good = counted_events(rows, slo, exclusions)
    found = evidence(rows.filter(pl.Series(eligible)), good[eligible])
    return choose(found, subject.min_pass_rate, subject.suspects)


# ---- the warehouse side, for the ops step ------------------------------------------------


def _artifacts(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pl.DataFrame:
    """Every artifact's SLI facts and versions, start <= generated_at < end."""
    facts = load_facts(con, start, end)
    return facts.join(queries.versions(con, start, end), on=["artifact_id", "attempt"], how="inner")


def rollback_plans(
    con: duckdb.DuckDBPyConnection,
    end: datetime,
    incidents: Sequence[Mapping[str, Any]],
    failures: Mapping[str, Sequence[Mapping[str, Any]]],
    config: RetouchConfig,
    db: str,
    landing: str,
) -> dict[str, str]:
    """rollback-plan.md of every incident and every template lock begun before `end`, by path
    under the reports folder. `failures` holds each incident's failing artifacts by its key."""
    locks = lock_episodes(queries.template_locks(con, end))
    subjects: list[tuple[Subject, Any]] = []
    slos = {s.name: s for s in config.slos}
    freezes = {f.key: f for f in active_freezes(con, end)}
    for incident in incidents:
        slo = slos.get(incident["slo"])
        indicator = (
            f"{slo.indicator.metric} {slo.indicator.op} {slo.indicator.threshold}"
            if slo
            else "every blocking gate passed"
        )
        subject = incident_subject(
            incident,
            freezes.get(f"{incident['slo']}/{incident['scope']}"),
            suspects_of(failures.get(incident["incident_key"], [])),
            slo.objective if slo else None,
            indicator,
            db,
        )
        subjects.append((subject, (incident["scope"], slo)))
    for lock in locks:
        subjects.append((lock_subject(lock, db), (f"template_id={lock['template_id']}", None)))
    if not subjects:
        return {}
    start = min(s.began for s, _ in subjects) - LOOKBACK
    frame = _artifacts(con, start, max(s.began for s, _ in subjects))
    plans = {}
    for subject, (scope, slo) in subjects:
        rows = scope_filter(frame, scope)
        choices = subject_choices(subject, rows, slo, config.exclusions)
        plans[subject.relative_path] = plan_markdown(subject, choices, db, landing)
    return plans
