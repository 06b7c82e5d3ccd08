"""The weekly reliability sync's Markdown report, from already-computed facts
(`ops.queries.report_facts`): one function per section."""

from datetime import date, datetime

from retouch_assets.vocabulary import (
    FROZEN_STATES,
    OVERALL,
    OutboxStatus,
    PolicyState,
    ReviewPriority,
)

REVIEW_LISTED = 15  # the queue's first entries, by priority; the rest are counted


def report_file(week: date) -> str:
    """The report's path under the reports folder: named by the week's ISO date only."""
    return f"{week.isoformat()}/reliability_sync.md"


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _slo_status(budgets: list[dict]) -> list[str]:
    lines = [
        "## SLO status",
        "",
        "| SLO | SLI | objective | good / total | budget consumed | policy |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for b in budgets:
        if b["scope"] != OVERALL:
            continue
        sli = "n/a" if b["sli"] is None else f"{b['sli']:.4f}"
        lines.append(
            f"| {b['slo']} | {sli} | {b['objective']} | {b['good']} / {b['total']} | "
            f"{_pct(b['budget_consumed'])} | {b['policy_state']} |"
        )
    return lines


def _freezes(budgets: list[dict], held: int) -> list[str]:
    counted = [b for b in budgets if not b["low_traffic"]]
    frozen = [b for b in counted if b["policy_state"] in FROZEN_STATES]
    new_work = [b for b in counted if b["policy_state"] == PolicyState.FREEZE_NEW_WORK]
    lines = ["## Freezes", ""]
    if frozen:
        lines.append("SLO freeze in force (new prompt versions and template changes held):")
        lines += [
            f"- {b['slo']} / {b['scope']}: {_pct(b['budget_consumed'])} consumed "
            f"({b['policy_state']})"
            for b in frozen
        ]
        lines.append(
            f"\nArtifacts held from publication this week: {held}. "
            "Release with `retouch signoff --scope <slo>/<scope> ...` once understood."
        )
    else:
        lines.append("No SLO freeze in force.")
    if new_work:
        lines.append(
            "\nNew creative work frozen (≥ 60 % consumed): "
            + ", ".join(f"{b['slo']}/{b['scope']}" for b in new_work)
        )
    return lines


def _alerts(alerts: list[dict], outbox: dict[str, int]) -> list[str]:
    lines = ["## Alerts", ""]
    if alerts:
        for a in alerts:
            kind = "low-traffic, flagged not paged" if a["low_traffic"] else "fired"
            lines.append(f"- {a['severity']}: {a['n']} episodes ({kind})")
    else:
        lines.append("No burn-rate alert fired.")
    if outbox:
        lines.append("\nOutbox: " + ", ".join(f"{k} {v}" for k, v in sorted(outbox.items())))
        waiting = sum(v for k, v in outbox.items() if k != OutboxStatus.DELIVERED)
        if waiting:
            lines.append(f"**{waiting} alert notifications not delivered** — see `retouch alerts`.")
    return lines


def _incidents(incidents: list[dict]) -> list[str]:
    if not incidents:
        return ["## Incidents", "", "No incident open this week."]
    lines = [
        "## Incidents",
        "",
        "| id | SLO / scope | status | opened | root cause | postmortem due |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {i['incident_id']} | {i['slo']} / {i['scope']} | {i['status']} | "
        f"{i['opened_at']:%Y-%m-%d %H:%M} | {i['root_cause']} | "
        f"{i['postmortem_due']:%Y-%m-%d %H:%M} |"
        for i in incidents
    ]
    return lines


def _review_queue(review: list[dict]) -> list[str]:
    if not review:
        return ["## Human review queue", "", "The queue is empty."]
    high = sum(1 for r in review if r["priority"] == ReviewPriority.HIGH)
    return [
        "## Human review queue",
        "",
        f"{len(review)} artifacts wait for review ({high} high priority):",
        *(
            f"- {r['template_id']} ({r['priority']}): {r['reasons']}"
            for r in review[:REVIEW_LISTED]
        ),
    ]


def _template_locks(locks: list[dict], held: int) -> list[str]:
    if not locks:
        return []
    lines = [
        "## Template locks (prompt drift)",
        "",
        "| template | locked since | cause | drift | fallback | state |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {lock['template_id']} | {lock['locked_at']:%Y-%m-%d %H:%M} | "
        f"{lock['cause_artifact_id']} ({lock['prompt_version']}) | "
        f"{lock['prompt_drift']:.3f} > {lock['threshold']} | {lock['fallback_prompt_version']} | "
        + (f"unlocked {lock['unlocked_at']:%Y-%m-%d}" if lock["unlocked_at"] else "locked")
        + " |"
        for lock in locks
    ]
    lines.append(
        f"\nArtifacts held by template locks this week: {held}. Unlock with "
        "`retouch signoff --template <id> --by <name> --note <text>`."
    )
    return lines


def _regressions(regressions: list[dict]) -> list[str]:
    if not regressions:
        return []
    return [
        "## Regression guardrail",
        "",
        *(f"- {r['kind']} {r['version']}: {r['note']}" for r in regressions),
    ]


def reliability_markdown(week: date, end: datetime, facts: dict) -> str:
    """The report: SLO status, freezes, alerts and the outbox, incidents, the review queue and
    the regression guardrail (only when a version regressed)."""
    sections = [
        [
            f"# Reliability sync — week of {week:%Y-%m-%d}",
            "",
            f"Evaluated at {end:%Y-%m-%d %H:%M} UTC (event time), over each SLO's rolling window.",
        ],
        _slo_status(facts["budgets"]),
        _freezes(facts["budgets"], facts["held"]),
        _alerts(facts["alerts"], facts["outbox"]),
        _incidents(facts["incidents"]),
        _review_queue(facts["review"]),
        _template_locks(facts["locks"], facts["held_by_lock"]),
        _regressions(facts["regressions"]),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
