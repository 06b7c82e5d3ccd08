"""Input text in every alert payload is escaped for the service that shows it: the exact bytes
a real local HTTP server receives from a delivery hold Slack's `&lt;`/`&gt;`/`&amp;`, Jira's
backslash-escaped wiki markup, and PagerDuty's JSON within its length limits; the incident
timeline's Markdown escapes the same text (the browser test renders it)."""

import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from markdown_it import MarkdownIt

from retouch_assets.config import AlertRoute
from retouch_assets.migrations import migrate
from retouch_assets.ops.delivery import deliver_pending
from retouch_assets.ops.incidents import timeline_markdown
from retouch_assets.ops.markup import (
    PAGERDUTY_DEDUP_KEY_MAX,
    PAGERDUTY_SUMMARY_MAX,
    jira_link_target,
    jira_text,
    markdown_code_block,
    markdown_text,
    slack_code,
    slack_text,
)
from retouch_assets.ops.outbox import DEFAULT_ASSET_URL, outbox_rows, pagerduty_dedup_key
from retouch_assets.ops.queries import store_outbox
from retouch_assets.warehouse import connect

FIRED = datetime(2026, 10, 21, 10, 5, tzinfo=UTC)
WEEK = FIRED.date() - timedelta(days=FIRED.weekday())

# Campaign and template ids ingest accepts (tests/test_hostile_ids.py: printable, <= 200).
HOSTILE = (
    "<!channel> <!here> <@U123> <http://evil.example|click> & &amp; "
    "{code}x{code} {noformat} [t|http://evil.example] !http://evil.example/i.png! [~admin] "
    "*bold* _it_ `tick` | pipe <script>alert(1)</script> \\ back"
)


class RawReceiver:
    """A local HTTP server that keeps every request's exact body bytes."""

    def __init__(self):
        self.bodies: dict[str, list[bytes]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.setdefault(self.path, []).append(body)
                self.send_response(202)
                self.end_headers()
                self.wfile.write(b'{"status": "ok"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()


@pytest.fixture
def receiver() -> Iterator[RawReceiver]:
    server = RawReceiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


ROUTES = [
    AlertRoute(
        name="pd",
        kind="pagerduty",
        severities=["page"],
        secret_env="RETOUCH_PD_KEY",
        url_env="RETOUCH_PD",
    ),
    AlertRoute(name="chat", kind="slack", severities=["page", "ticket"], url_env="RETOUCH_SLACK"),
    AlertRoute(
        name="jira",
        kind="jira",
        severities=["page", "ticket"],
        url_env="RETOUCH_JIRA",
        secret_env="RETOUCH_T",
    ),
]


def _episode(scope: str) -> dict:
    return {
        "slo": "colour-fidelity",
        "scope": scope,
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "factor": 14.4,
        "fired_at": FIRED,
        "resolved_at": None,
        "peak_burn_long": 20.5,
        "peak_burn_short": 31.0,
        "low_traffic": False,
    }


def _policy_event(scope: str) -> dict:
    details = {
        "slo": "accessibility",
        "scope": scope,
        "from": "ok",
        "to": "slo_freeze",
        "budget_consumed": 0.93,
    }
    return {"event_time": FIRED, "details": json.dumps(details)}


def _deliver(tmp_path, receiver, scope: str) -> dict[str, list[bytes]]:
    env = {
        "RETOUCH_PD": receiver.url + "/pd",
        "RETOUCH_PD_KEY": "k",
        "RETOUCH_SLACK": receiver.url + "/slack",
        "RETOUCH_JIRA": receiver.url + "/jira",
        "RETOUCH_T": "t",
    }
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        store_outbox(con, outbox_rows(WEEK, [_episode(scope)], [_policy_event(scope)], ROUTES))
        with httpx.Client(timeout=5.0) as client:
            counts = deliver_pending(con, ROUTES, env, client, FIRED, retries=0, backoff_s=0)
    assert counts == {"delivered": 5}  # alert: pd, slack, jira; policy: slack, jira
    return receiver.bodies


def test_slack_payloads_escape_mentions_links_and_ampersands(tmp_path, receiver):
    scope = f"template_id={HOSTILE}"
    for raw in _deliver(tmp_path, receiver, scope)["/slack"]:
        # The exact bytes on the wire: the JSON string holds the escaped forms.
        for escaped in ("&lt;!channel&gt;", "&lt;!here&gt;", "&lt;@U123&gt;"):
            assert escaped.encode() in raw
        assert b"&lt;http://evil.example|click&gt;" in raw
        assert b"&amp;amp;" in raw  # a literal "&amp;" in the input stays literal
        for live in (b"<!channel>", b"<!here>", b"<@U123>", b"<http://evil", b"<script>"):
            assert live not in raw
        text = json.loads(raw)["text"]
        # The only control sequence left is the link this project adds.
        assert re.findall(r"<[^>]*>", text) == [f"<{DEFAULT_ASSET_URL}|Open in Dagster>"]
        # In a code span the scope cannot close the span early.
        assert slack_code(scope) in text and slack_code(scope).count("`") == 2


def test_jira_payloads_escape_wiki_markup(tmp_path, receiver):
    scope = f"campaign_id={HOSTILE}"
    bodies = _deliver(tmp_path, receiver, scope)["/jira/rest/api/2/issue"]
    assert len(bodies) == 2
    for raw in bodies:
        fields = json.loads(raw)["fields"]
        description = fields["description"]
        assert jira_text(scope) in description
        for escaped in (
            r"\{code\}x\{code\}",
            r"\{noformat\}",
            r"\[t\|http://evil.example\]",
            r"\!http://evil.example/i.png\!",
            r"\[\~admin\]",
            r"\*bold\*",
            r"\_it\_",
            "&#92; back",
            "&lt;script&gt;",
        ):
            assert escaped in description
        # Unescaped, every macro, link, image or mention would act.
        for live in ("{code}", "{noformat}", "[t|", "!http", "[~admin]"):
            assert live not in description.replace("\\" + live[0], "")
        assert len(fields["summary"]) <= 255 and "\n" not in fields["summary"]
        # Only this project's own link is wiki markup.
        assert description.endswith(f"[Open in Dagster|{DEFAULT_ASSET_URL}]")
        assert "\\" not in DEFAULT_ASSET_URL  # a working address: no backslash escapes


def test_jira_link_target_keeps_the_address_and_cannot_end_the_link():
    url = "http://localhost:3000/assets/slo/error_budget?x=(1)#top"
    assert jira_link_target(url) == url
    assert jira_link_target("http://h/a|b]c d[e") == "http://h/a%7Cb%5Dc%20d%5Be"


def test_pagerduty_payloads_keep_to_the_events_api_limits(tmp_path, receiver):
    long_id = "x" * 190 + HOSTILE  # far beyond the 255 characters of a dedup key
    scope = f"template_id={long_id}"
    (raw,) = _deliver(tmp_path, receiver, scope)["/pd"]
    body = json.loads(raw)
    assert len(body["dedup_key"]) <= PAGERDUTY_DEDUP_KEY_MAX
    assert len(body["payload"]["summary"]) <= PAGERDUTY_SUMMARY_MAX
    assert body["payload"]["custom_details"]["scope"] == scope  # data stays exact in JSON
    # The shortened key is stable: the resolve of the same episode shares it.
    full = json.loads(raw)["dedup_key"]
    assert pagerduty_dedup_key(f"retouch/colour-fidelity/{scope}/page/1h/20261021T1005") == full
    assert pagerduty_dedup_key("short") == "short"


def test_a_long_summary_is_cut_for_pagerduty():
    from retouch_assets.ops.outbox import render_payload

    fact = {
        "summary": "s" * 5000,
        "severity": "page",
        "dedup_key": "k",
        "details": {"slo": "x"},
    }
    payload = render_payload("pagerduty", "trigger", fact, DEFAULT_ASSET_URL)
    assert len(payload["payload"]["summary"]) == PAGERDUTY_SUMMARY_MAX
    assert payload["payload"]["summary"].endswith("…")


def _render(markdown: str) -> str:
    # html=True: raw HTML would pass through, so only the escaping keeps it out.
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_markdown_text_reads_as_text_under_commonmark_and_gfm_tables():
    for value in (
        HOSTILE,
        "# heading",
        "1. list",
        "- item",
        "> quote",
        "=== ",
        "[x](javascript:alert(1))",
        "<img src=x onerror=alert(1)>",
        "www.evil.example http://evil.example",
    ):
        html = _render(f"| a | b |\n|---|---|\n| {markdown_text(value)} | z |")
        cells = re.findall(r"<td>(.*?)</td>", html)
        assert len(cells) == 2 and cells[1] == "z", value
        assert "<script" not in html and "<img" not in html and "<a " not in html, value
        paragraph = _render(markdown_text(value))
        assert paragraph.startswith("<p>") and "<a " not in paragraph, value


def test_a_code_block_holds_any_text_verbatim():
    text = "```\n<script>x</script>\n````"
    html = _render(markdown_code_block(text, "sh"))
    assert html.count("<pre>") == 1 and "&lt;script&gt;" in html


def test_slack_text_escapes_exactly_the_three_characters():
    assert slack_text("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert slack_text("line\nbreak") == "line break"


def test_the_timeline_escapes_scope_root_cause_and_details():
    incident = {
        "incident_id": "RETINC-9",
        "slo": "colour-fidelity",
        "scope": f"template_id={HOSTILE}",
        "severity": "SEV1",
        "status": "open",
        "opened_at": FIRED,
        "resolved_at": None,
        "root_cause_category": "prompt_version",
        "root_cause": f"new prompt version {HOSTILE}",
        "postmortem_due": FIRED + timedelta(hours=48),
    }
    event = {
        "incident_id": "RETINC-9",
        "event_at": FIRED,
        "kind": "opened",
        "details": json.dumps({"text": f"| {HOSTILE} |"}),
    }
    html = _render(timeline_markdown(incident, [event]))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert re.findall(r"<a href=\"([^\"]*)\"", html) == ["rollback-plan.md"]
    row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", html, re.S)
    assert row is not None and len(re.findall(r"<td>", row.group(1))) == 3


def test_dagster_metadata_tables_show_input_text_as_text():
    """Every cell of a metadata table is escaped: a pipe cannot add a column, a link or an
    image links nothing, and numbers still read as numbers."""
    from markdown_it import MarkdownIt

    from retouch_assets.defs.shared import markdown_table

    table = markdown_table(
        ("artifact", "ΔE"), [("a|b [x](http://evil) ![i](http://evil/i.png) <b>", -0.5)]
    )
    html = MarkdownIt("commonmark").enable("table").render(table)
    assert html.count("<td>") == 2
    assert "<a " not in html and "<img" not in html and "<b>" not in html
    assert "-0.5" in html
