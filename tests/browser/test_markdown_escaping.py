"""The incident timeline and the rollback plan, with hostile ids and versions, rendered to HTML by
a standard CommonMark renderer (markdown-it-py, raw HTML allowed, tables on) and opened in
headless Chromium: every `<script>`, handler, `javascript:` link and chat mention shows as text,
nothing runs, no dialog opens, no console or page error."""

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from markdown_it import MarkdownIt

from retouch_assets.ops.incidents import timeline_markdown
from retouch_assets.ops.rollback import (
    Subject,
    VersionEvidence,
    choose,
    plan_markdown,
    signoff_command,
)

OPENED = datetime(2026, 10, 21, 10, 5, tzinfo=UTC)
# Each tries to run `window.__pwned.push(…)`, or to look like markup or a chat ping.
SCRIPT = "<script>window.__pwned.push('script')</script>"
IMAGE = "<img src=x onerror=\"window.__pwned.push('img')\">"
LINK = "[open](javascript:window.__pwned.push('link'))"
HOSTILE = [
    SCRIPT,
    IMAGE,
    LINK,
    "<!channel> <@U123> <http://evil.example|click>",
    "| extra | cells |",
    "`code` ``` fence",
    "# heading",
    "**bold** _it_ ~~gone~~",
    "<iframe src=javascript:window.__pwned.push('iframe')></iframe>",
]
ENV_SCREENSHOTS = "RETOUCH_SCREENSHOTS_DIR"


def _documents() -> str:
    text = " ".join(HOSTILE)
    incident = {
        "incident_id": "RETINC-4",
        "slo": "colour-fidelity",
        "scope": f"template_id={text}",
        "severity": "SEV1",
        "status": "open",
        "opened_at": OPENED,
        "resolved_at": None,
        "root_cause_category": "prompt_version",
        "root_cause": f"new prompt version {SCRIPT}: {IMAGE} {LINK}",
        "postmortem_due": OPENED + timedelta(hours=48),
    }
    events = [
        {
            "incident_id": "RETINC-4",
            "event_at": OPENED + timedelta(minutes=i),
            "kind": "opened",
            "details": json.dumps({"text": value}),
        }
        for i, value in enumerate(HOSTILE)
    ]
    found = [
        VersionEvidence("prompt_version", text, SCRIPT, 20, 20, OPENED, OPENED),
        VersionEvidence("model_version", None, IMAGE, 20, 20, OPENED, OPENED),
        VersionEvidence("retouch_version", None, LINK, 20, 10, OPENED, OPENED),
    ]
    subject = Subject(
        title=f"template lock of {text}",
        relative_path="x/rollback-plan.md",
        began=OPENED + timedelta(days=1),
        began_text=text,
        criterion="passed every blocking gate",
        min_pass_rate=0.95,
        release=f"template {text} is locked",
        release_command=signoff_command("/w.duckdb", f"rolled back {text}", template=text),
    )
    plan = plan_markdown(subject, choose(found, 0.95), "/w.duckdb", "/landing")
    return timeline_markdown(incident, events) + "\n\n" + plan


def test_hostile_text_in_the_timeline_and_plan_shows_as_text_and_runs_nothing(probe, tmp_path):
    renderer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    body = renderer.render(_documents())
    page = probe.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>timeline</title>"
        "<script>window.__pwned = [];</script></head>"
        f"<body><main>{body}</main></body></html>"
    )
    page.set_content(html, wait_until="load")
    page.wait_for_timeout(300)  # an onerror handler fires after the image fails

    assert page.evaluate("window.__pwned") == []
    assert dialogs == []
    counts = page.evaluate(
        """() => ({
            scripts: document.querySelectorAll('main script').length,
            images: document.querySelectorAll('main img, main iframe').length,
            handlers: document.querySelectorAll('main [onerror], main [onclick]').length,
            links: [...document.querySelectorAll('main a')].map(a => a.getAttribute('href')),
            headings: document.querySelectorAll('main h1').length,
        })"""
    )
    assert counts == {
        "scripts": 0,
        "images": 0,
        "handlers": 0,
        "links": ["rollback-plan.md"],  # the timeline's own link, nothing from the input
        "headings": 2,  # the timeline's title and the plan's, none from a `# heading` value
    }
    # Every timeline row keeps its three cells, whatever `|` the details hold.
    cells = page.evaluate(
        "[...document.querySelectorAll('main table')[0].querySelectorAll('tbody tr')]"
        ".map(r => r.cells.length)"
    )
    assert cells == [3] * len(HOSTILE)
    shown = page.inner_text("main")
    for value in (SCRIPT, IMAGE, "<!channel> <@U123>", "| extra | cells |", "# heading"):
        assert value in shown
    # The sign-off command shows exactly as a shell needs it, in one code block.
    code = page.locator("main pre code").all_inner_texts()
    assert any(c.startswith("retouch signoff --template '") for c in code)
    page.screenshot(path=str(tmp_path / "hostile-timeline.png"), full_page=True)
    folder = os.environ.get(ENV_SCREENSHOTS)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / "hostile-timeline.png"), full_page=True)
    assert probe.problems() == []
