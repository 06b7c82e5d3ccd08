"""The weekly reliability sync's Markdown report, from already-computed facts."""

from datetime import date, datetime


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def reliability_markdown(week: date, end: datetime, facts: dict) -> str:
    budgets = facts["budgets"]
    overall = [b for b in budgets if b["scope"] == "overall"]
    frozen = [
        b
        for b in budgets
        if b["policy_state"] in ("slo_freeze", "exhausted") and not b["low_traffic"]
    ]
    new_work = [
        b for b in budgets if b["policy_state"] == "freeze_new_work" and not b["low_traffic"]
    ]
    lines = [
        f"# Reliability sync — week of {week:%Y-%m-%d}",
        "",
        f"Evaluated at {end:%Y-%m-%d %H:%M} UTC (event time), over each SLO's rolling window.",
        "",
        "## SLO status",
        "",
        "| SLO | SLI | objective | good / total | budget consumed | policy |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for b in overall:
        sli = "n/a" if b["sli"] is None else f"{b['sli']:.4f}"
        lines.append(
            f"| {b['slo']} | {sli} | {b['objective']} | {b['good']} / {b['total']} | "
            f"{_pct(b['budget_consumed'])} | {b['policy_state']} |"
        )
    lines += ["", "## Freezes", ""]
    if frozen:
        lines.append("SLO freeze in force (new prompt versions and template changes held):")
        lines += [
            f"- {b['slo']} / {b['scope']}: {_pct(b['budget_consumed'])} consumed "
            f"({b['policy_state']})"
            for b in frozen
        ]
        lines.append(
            f"\nArtifacts held from publication this week: {facts['held']}. "
            "Release with `retouch signoff --scope <slo>/<scope> ...` once understood."
        )
    else:
        lines.append("No SLO freeze in force.")
    if new_work:
        lines.append(
            "\nNew creative work frozen (≥ 60 % consumed): "
            + ", ".join(f"{b['slo']}/{b['scope']}" for b in new_work)
        )
    lines += ["", "## Alerts", ""]
    if facts["alerts"]:
        for a in facts["alerts"]:
            kind = "low-traffic, flagged not paged" if a["low_traffic"] else "fired"
            lines.append(f"- {a['severity']}: {a['n']} episodes ({kind})")
    else:
        lines.append("No burn-rate alert fired.")
    outbox = {o["status"]: o["n"] for o in facts["outbox"]}
    if outbox:
        lines.append("\nOutbox: " + ", ".join(f"{k} {v}" for k, v in sorted(outbox.items())))
        waiting = sum(v for k, v in outbox.items() if k != "delivered")
        if waiting:
            lines.append(f"**{waiting} alert notifications not delivered** — see `retouch alerts`.")
    lines += ["", "## Incidents", ""]
    if facts["incidents"]:
        lines += [
            "| id | SLO / scope | status | opened | root cause | postmortem due |",
            "|---|---|---|---|---|---|",
        ]
        for i in facts["incidents"]:
            lines.append(
                f"| {i['incident_id']} | {i['slo']} / {i['scope']} | {i['status']} | "
                f"{i['opened_at']:%Y-%m-%d %H:%M} | {i['root_cause']} | "
                f"{i['postmortem_due']:%Y-%m-%d %H:%M} |"
            )
    else:
        lines.append("No incident open this week.")
    lines += ["", "## Human review queue", ""]
    review = facts["review"]
    if review:
        lines.append(
            f"{len(review)} artifacts wait for review "
            f"({sum(1 for r in review if r['priority'] == 'high')} high priority):"
        )
        lines += [f"- {r['template_id']} ({r['priority']}): {r['reasons']}" for r in review[:15]]
    else:
        lines.append("The queue is empty.")
    if facts["regressions"]:
        lines += ["", "## Regression guardrail", ""]
        lines += [f"- {r['kind']} {r['version']}: {r['note']}" for r in facts["regressions"]]
    return "\n".join(lines) + "\n"
