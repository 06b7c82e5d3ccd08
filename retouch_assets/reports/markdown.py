"""The weekly sync for chat, in Markdown: the key facts of the HTML report, compactly. Every
string from input is escaped (`md`), so a prompt or template name holding `*`, `|`, `<!channel>`
or `<script>` shows as text in GitHub, Slack or Teams and mentions nobody."""

from retouch_assets.ops.markup import markdown_text
from retouch_assets.reports.weekly import plural

REVIEW_IN_CHAT = 5
# Slack's own escaping: `&`, `<`, `>` as entities, so `<!channel>` and `<@U123>` never notify
# (Markdown renderers show the entities as the characters).
_ENTITIES = {"\\&": "&amp;", "\\<": "&lt;", "\\>": "&gt;"}


def md(value: object) -> str:
    """Input text as inert Markdown for chat: `ops.markup.markdown_text` (inline and block
    markup, table pipes and autolinks escaped, line breaks flattened), with `&`, `<` and `>`
    as entities instead of backslash-escaped (a backslash does not stop a Slack mention)."""
    text = markdown_text(" ".join(str(value).split()))
    # markdown_text escapes every `&`, `<` and `>` with a backslash of its own, so each pair
    # below is one escaped character (never half of an escaped backslash).
    for escaped, entity in _ENTITIES.items():
        text = text.replace(escaped, entity)
    return text


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def weekly_markdown(view: dict, html_name: str) -> str:
    """The chat version of the weekly view (`reports.weekly.weekly_view`)."""
    week = view["week"]
    out = [
        f"# Reliability sync — week of {week:%Y-%m-%d}",
        "",
        f"Evaluated at {view['end']:%Y-%m-%d %H:%M} UTC. Charts and details: `{html_name}`.",
        "",
        "## SLO status",
        "",
        *_table(
            ("SLO", "SLI / objective", "budget left", "state"),
            [
                (md(b["slo"]), f"{b['sli']} / {b['objective']}", b["left"], b["state"])
                for b in view["headline"]
            ],
        ),
        "",
    ]
    if view["actions"]:
        out += ["## Needs action", "", *(f"- {a['text']}" for a in view["actions"]), ""]
    else:
        out += ["Nothing needs action this week.", ""]
    # The same sections every week (a reader and a chat search find them), each a few lines.
    out += ["## Freezes", ""]
    for f in view["freezes"]:
        worst = ", ".join(f"{md(scope)} ({used})" for scope, used in f["worst"])
        more = f" and {f['more']} more" if f["more"] else ""
        out.append(
            f"- **{md(f['slo'])}**: {plural(f['frozen'], 'scope')} in SLO freeze, "
            f"{f['new_work']} with new work frozen; worst: {worst}{more}. "
            f"Release: `{f['release']}`"
        )
    if view["freezes"]:
        out.append(f"\nHeld from publication by SLO freezes: {view['held']}.")
    else:
        out.append("No SLO freeze in force.")
    locked = [lock for lock in view["locks"] if lock["unlocked_at"] is None]
    if locked:
        out.append(
            "\nTemplate locks: "
            + ", ".join(
                f"{md(lock['template_id'])} ({md(lock['prompt_version'])})" for lock in locked
            )
            + f"; {view['held_by_lock']} artifacts held. Unlock: "
            "`retouch signoff --template <id> --by <name> --note <why>`"
        )
    out += ["", "## Alerts", ""]
    episodes = [
        f"{a['severity']} {a['n']}" + (" (low traffic, not paged)" if a["low_traffic"] else "")
        for a in view["alert_counts"]
    ]
    out.append("Episodes: " + ", ".join(episodes) if episodes else "No burn-rate alert fired.")
    if view["outbox"]:
        out.append(
            "Outbox: "
            + ", ".join(f"{md(s)} {n}" for s, n in view["outbox"])
            + (f" — **{view['undelivered']} not delivered**" if view["undelivered"] else "")
        )
    out += ["", "## Incidents", ""]
    out += [
        f"- {md(i['incident_id'])} {i['status']}: {md(i['slo'])} / {md(i['scope'])}, "
        f"root cause: {md(i['root_cause'])}"
        for i in view["incidents"]
    ] or ["No incident open this week."]
    out += ["", "## Human review queue", ""]
    if view["review"]:
        out.append(f"{plural(view['review_total'], 'artifact')} waiting:")
        out += [
            f"- {md(r['artifact_id'])} ({md(r['template_id'])}, {r['priority']}): "
            f"{md('; '.join(r['reasons']))}"
            for r in view["review"][:REVIEW_IN_CHAT]
        ]
        if view["review_total"] > REVIEW_IN_CHAT:
            out.append(f"- … {view['review_total'] - REVIEW_IN_CHAT} more in the HTML report")
    else:
        out.append("The queue is empty.")
    out.append("")
    qa = view["qa"]
    this_week = next((w for w in qa["weeks"] if w.week == week), None)
    if this_week and this_week.seconds:
        out += [
            f"QA reviews: {len(this_week.seconds)}, P50 {this_week.p50:.0f} s, P95 "
            f"{this_week.p95:.0f} s; {this_week.slow} over {view['slow_seconds']:g} s went to "
            "the template backlog.",
            "",
        ]
    out += ["## KPI before / after", ""]
    out += _table(
        ("KPI", "before", "after", "change"),
        [(k.name, k.before, k.after, k.change) for k in view["kpis"]],
    )
    out.append(f"\nBefore: {view['kpi_periods'][0]}; after: {view['kpi_periods'][1]}.")
    return "\n".join(out).rstrip() + "\n"
