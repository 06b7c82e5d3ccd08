"""Alerts and incidents against a real local HTTP server: payload shapes, retries, no retry on
4xx, dedup, resolve, nothing lost without routes, secrets never stored or logged; incident
grouping and building; the report; the schedules."""

import json
import logging
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import httpx
import polars as pl
import pytest

from retouch_assets import cli
from retouch_assets.config import AlertRoute, Review
from retouch_assets.migrations import migrate
from retouch_assets.ops.delivery import REDACTED, deliver_pending, redact, secret_values
from retouch_assets.ops.incidents import (
    COOL_DOWN,
    FAILURE_LEAD,
    POSTMORTEM_DUE,
    build_incidents,
    classify_root_cause,
    failure_window,
    fastest_page_window,
    group_incidents,
    timeline_documents,
)
from retouch_assets.ops.outbox import outbox_rows
from retouch_assets.ops.queries import store_outbox
from retouch_assets.ops.tables import ALERT_OUTBOX
from retouch_assets.slo.tables import BURN_ALERTS
from retouch_assets.vocabulary import (
    Gate,
    IncidentEventKind,
    IncidentSeverity,
    IncidentStatus,
    OutboxStatus,
    RootCause,
)
from retouch_assets.warehouse import connect, insert

FIRED = datetime(2026, 10, 21, 10, 5, tzinfo=UTC)
WEEK = FIRED.date() - timedelta(days=FIRED.weekday())
NOW = datetime(2026, 11, 22, tzinfo=UTC)


class Receiver:
    """A local HTTP server that records every request and answers scripted status codes (and
    bodies); one per module, reset between tests."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: dict[str, list[int | tuple[int, bytes]]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
                answers = receiver.script.get(self.path, [])
                answer = answers.pop(0) if answers else 202
                code, text = answer if isinstance(answer, tuple) else (answer, None)
                if text is None:
                    text = b'{"status": "ok"}' if code < 400 else b'{"error": "bad request body"}'
                self.send_response(code)
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # A short poll interval: shutdown() waits for it.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def reset(self):
        self.requests.clear()
        self.script.clear()

    def to(self, path):
        return [r for r in self.requests if r["path"] == path]


@pytest.fixture(scope="module")
def _server():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def receiver(_server):
    _server.reset()
    return _server


ROUTES = [
    AlertRoute(
        name="on-call",
        kind="pagerduty",
        severities=["page"],
        url_env="RETOUCH_PD_URL",
        secret_env="RETOUCH_PD_KEY",
    ),
    AlertRoute(
        name="chat", kind="slack", severities=["page", "ticket"], url_env="RETOUCH_SLACK_URL"
    ),
    AlertRoute(
        name="retinc",
        kind="jira",
        severities=["page"],
        url_env="RETOUCH_JIRA_URL",
        secret_env="RETOUCH_JIRA_TOKEN",
    ),
]


def _env(receiver):
    return {
        "RETOUCH_PD_URL": receiver.url + "/pd",
        "RETOUCH_PD_KEY": "routing-key-1",
        "RETOUCH_SLACK_URL": receiver.url + "/slack",
        "RETOUCH_JIRA_URL": receiver.url + "/jira",
        "RETOUCH_JIRA_TOKEN": "t0ken",
    }


def _episode(resolved=True, low_traffic=False):
    return {
        "slo": "colour-fidelity",
        "scope": "overall",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "factor": 14.4,
        "fired_at": FIRED,
        "resolved_at": FIRED + timedelta(hours=1) if resolved else None,
        "peak_burn_long": 20.5,
        "peak_burn_short": 31.0,
        "low_traffic": low_traffic,
    }


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        migrate(con)
        yield con


def _deliver(con, receiver, routes=ROUTES, env=None, client_timeout=5.0, retries=3):
    with httpx.Client(timeout=client_timeout) as client:
        return deliver_pending(
            con,
            routes,
            _env(receiver) if env is None else env,
            client,
            NOW,
            retries=retries,
            backoff_s=0.0,
        )


def _status(con):
    return dict(
        con.execute("SELECT route || ':' || action, status FROM ops.alert_outbox").fetchall()
    )


def _free_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- the outbox and delivery ------------------------------------------------------------


def test_payload_shapes_for_pagerduty_slack_and_jira(con, receiver):
    store_outbox(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES))
    assert _deliver(con, receiver) == {"delivered": 3}
    (pd,) = receiver.to("/pd")
    body = pd["body"]
    assert body["routing_key"] == "routing-key-1" and body["event_action"] == "trigger"
    assert body["dedup_key"].startswith("retouch/colour-fidelity/overall/page/1h/")
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["source"] == "retouch_assets"
    assert "colour-fidelity" in body["payload"]["summary"]
    assert body["payload"]["custom_details"]["factor"] == 14.4
    (slack,) = receiver.to("/slack")
    text = slack["body"]["text"]
    for part in ("colour-fidelity", "overall", "20.5×", "Open in Dagster"):
        assert part in text
    (jira,) = receiver.to("/jira/rest/api/2/issue")
    assert jira["body"]["fields"]["project"]["key"] == "RETINC"
    assert jira["headers"]["Authorization"] == "Bearer t0ken"
    # The stored payload never holds the secret.
    (stored,) = con.execute(
        "SELECT payload FROM ops.alert_outbox WHERE route = 'on-call'"
    ).fetchone()
    assert "routing-key-1" not in stored


def test_outbox_rows_fit_the_table_and_rows_already_there_keep_their_state(con):
    rows = outbox_rows(WEEK, [_episode(resolved=True)], [], ROUTES[:1])
    assert ALERT_OUTBOX.rows(rows).num_rows == 2
    assert store_outbox(con, rows) == 2  # trigger and resolve
    con.execute("UPDATE ops.alert_outbox SET status = $s", {"s": OutboxStatus.DELIVERED})
    assert store_outbox(con, rows) == 0  # a re-run adds nothing and resets nothing
    assert set(_status(con).values()) == {"delivered"}


def test_retries_on_500_then_succeeds(con, receiver):
    receiver.script["/pd"] = [500, 502]
    store_outbox(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    assert _deliver(con, receiver, ROUTES[:1]) == {"delivered": 1}
    assert len(receiver.to("/pd")) == 3
    assert con.execute("SELECT attempts, status FROM ops.alert_outbox").fetchone() == (
        3,
        "delivered",
    )


def test_a_400_is_recorded_as_failed_and_never_retried(con, receiver):
    receiver.script["/pd"] = [400]
    store_outbox(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    assert _deliver(con, receiver, ROUTES[:1]) == {"failed": 1}
    assert _deliver(con, receiver, ROUTES[:1]) == {}
    assert len(receiver.to("/pd")) == 1
    status, code, error = con.execute(
        "SELECT status, last_status_code, last_error FROM ops.alert_outbox"
    ).fetchone()
    assert (status, code) == ("failed", 400) and "bad request body" in error


def test_the_same_alert_twice_is_one_trigger_and_resolve_follows(con, receiver):
    rows = outbox_rows(WEEK, [_episode(resolved=True)], [], ROUTES[:1])
    assert store_outbox(con, rows) == 2  # trigger and resolve
    rerun = outbox_rows(WEEK, [_episode(resolved=True)], [], ROUTES[:1])
    assert store_outbox(con, rerun) == 0
    _deliver(con, receiver, ROUTES[:1])
    _deliver(con, receiver, ROUTES[:1])
    actions = [r["body"]["event_action"] for r in receiver.to("/pd")]
    assert actions == ["trigger", "resolve"]
    keys = {r["body"]["dedup_key"] for r in receiver.to("/pd")}
    assert len(keys) == 1


def test_without_routes_nothing_is_delivered_and_nothing_is_lost(con, receiver):
    store_outbox(con, outbox_rows(WEEK, [_episode(resolved=True)], [], []))
    assert _deliver(con, receiver, routes=[]) == {}
    assert receiver.requests == []
    assert _status(con) == {"outbox:trigger": "no_route", "outbox:resolve": "no_route"}


def test_a_route_without_its_environment_waits_visibly(con, receiver):
    store_outbox(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    assert _deliver(con, receiver, ROUTES[:1], env={}) == {"no_endpoint": 1}
    (error,) = con.execute("SELECT last_error FROM ops.alert_outbox").fetchone()
    assert "RETOUCH_PD_URL" in error and "RETOUCH_PD_KEY" in error
    assert _deliver(con, receiver, ROUTES[:1]) == {"delivered": 1}  # once configured


def test_low_traffic_episodes_never_reach_the_outbox():
    assert outbox_rows(WEEK, [_episode(low_traffic=True)], [], ROUTES) == []


def test_an_unreachable_endpoint_is_retried_then_left_for_the_next_delivery(con):
    store_outbox(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    env = {"RETOUCH_PD_URL": f"http://127.0.0.1:{_free_port()}/pd", "RETOUCH_PD_KEY": "key-1"}
    with httpx.Client(timeout=1.0) as client:
        counts = deliver_pending(con, ROUTES[:1], env, client, NOW, retries=2, backoff_s=0.0)
    assert counts == {"retrying": 1}
    attempts, error = con.execute("SELECT attempts, last_error FROM ops.alert_outbox").fetchone()
    assert attempts == 3 and "ConnectError" in error


# ---- secrets ----------------------------------------------------------------------------

SLACK_TOKEN = "xoxsecretWebhookToken0123456789"
PD_PATH_SECRET = "pdPathSecret9876543210"
PD_KEY = "pd-routing-key-SECRET-42"
JIRA_TOKEN = "jira-api-token-SECRET-77"
SECRETS = (SLACK_TOKEN, PD_PATH_SECRET, PD_KEY, JIRA_TOKEN)


def test_redact_replaces_secrets_and_url_paths_but_keeps_the_host():
    secrets = secret_values(f"https://hooks.example.com/services/T01/B02/{SLACK_TOKEN}", PD_KEY)
    text = (
        f"POST https://hooks.example.com/services/T01/B02/{SLACK_TOKEN} failed; "
        f'body {{"token": "{SLACK_TOKEN}", "key": "{PD_KEY}"}}; '
        f"echoed /services/T01/B02/{SLACK_TOKEN}%20 and https://user:pw@other.example/x?k=1"
    )
    clean = redact(text, secrets)
    for secret in (SLACK_TOKEN, PD_KEY, "T01/B02", "user:pw", "k=1"):
        assert secret not in clean
    assert f"https://hooks.example.com/{REDACTED}" in clean
    assert f"https://{REDACTED}@other.example/{REDACTED}" in clean
    assert redact("ConnectError: [Errno 111] Connection refused", secrets) == (
        "ConnectError: [Errno 111] Connection refused"
    )


def test_redact_catches_encoded_secrets():
    secret = 'a b/c+d"e'
    for encoded in ("a%20b%2Fc%2Bd%22e", "a+b%2Fc%2Bd%22e", 'a b/c+d\\"e'):
        assert secret not in redact(f"echo {encoded}", [secret])
        assert encoded not in redact(f"echo {encoded}", [secret])


def _secret_routes_config(tmp_path):
    config = tmp_path / "retouch-slo.yaml"
    routes = [r.model_dump(exclude_none=True) | {"severities": ["page"]} for r in ROUTES]
    config.write_text(json.dumps({"alerting": {"routes": routes}}))  # JSON is YAML
    return config


def test_secrets_never_reach_the_outbox_logs_or_metadata(
    tmp_path, receiver, resources, monkeypatch, caplog, capsys
):
    from retouch_assets.defs.ops.assets import deliver_alerts_job

    slack_path = f"/services/T0AAA/B0BBB/{SLACK_TOKEN}"
    monkeypatch.setenv("RETOUCH_SLACK_URL", receiver.url + slack_path)
    monkeypatch.setenv("RETOUCH_PD_URL", f"http://127.0.0.1:{_free_port()}/pd/{PD_PATH_SECRET}")
    monkeypatch.setenv("RETOUCH_PD_KEY", PD_KEY)
    monkeypatch.setenv("RETOUCH_JIRA_URL", receiver.url + "/jira")
    monkeypatch.setenv("RETOUCH_JIRA_TOKEN", JIRA_TOKEN)
    # Slack fails with a body echoing its token; Jira refuses, echoing the bearer token.
    receiver.script[slack_path] = [(500, f"no such hook {slack_path} ({SLACK_TOKEN})".encode())]
    receiver.script["/jira/rest/api/2/issue"] = [(401, f"bad token Bearer {JIRA_TOKEN}".encode())]
    config = _secret_routes_config(tmp_path)
    res = resources(tmp_path / "landing", config=config)
    with connect(res["warehouse"].path) as con:
        migrate(con)
        config_routes = res["retouch_config"].load().alerting.routes
        store_outbox(con, outbox_rows(WEEK, [_episode(resolved=False)], [], config_routes))
    caplog.set_level(logging.DEBUG)
    result = deliver_alerts_job.execute_in_process(
        resources=res,
        run_config={"ops": {"deliver_alerts": {"config": {"retries": 0, "backoff_s": 0.0}}}},
    )
    assert result.success
    assert result.output_for_node("deliver_alerts") == {"retrying": 2, "failed": 1}
    assert {r["path"] for r in receiver.requests} == {slack_path, "/jira/rest/api/2/issue"}
    with connect(res["warehouse"].path, read_only=True) as con:
        stored = con.execute("SELECT * FROM ops.alert_outbox").fetchall()
    stored_text = repr(stored)
    logged = [repr(e) for e in result.all_events] + [r.getMessage() for r in caplog.records]
    for secret in SECRETS:
        assert secret not in stored_text
        assert not [line for line in logged if secret in line]
    # `retouch alerts` lists the outbox with each row's last error.
    assert cli.main(["alerts", "--db", res["warehouse"].path, "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert "retrying" in listed and REDACTED in listed
    for secret in SECRETS:
        assert secret not in listed
    names = ALERT_OUTBOX.column_names
    errors = {row[names.index("route")]: row[names.index("last_error")] for row in stored}
    assert errors["on-call"].startswith("ConnectError")
    assert errors["chat"] == f"no such hook {REDACTED} ({REDACTED})"
    assert errors["retinc"] == f"bad token Bearer {REDACTED}"


# ---- incidents --------------------------------------------------------------------------


def _page(at, hours: int | None = 1, slo="colour-fidelity", scope="overall", long_window="1h"):
    return {
        "slo": slo,
        "scope": scope,
        "fired_at": at,
        "resolved_at": at + timedelta(hours=hours) if hours is not None else None,
        "long_window": long_window,
        "short_window": "5m",
        "factor": 14.4,
        "peak_burn_long": 20.0,
    }


def test_pages_attach_within_the_cool_down_and_open_anew_after_it():
    first = _page(FIRED)
    attached = _page(FIRED + timedelta(hours=5))
    later = _page(FIRED + timedelta(hours=2) + COOL_DOWN + timedelta(hours=5))
    other_scope = _page(FIRED, scope="template_id=t1")
    incidents = group_incidents(
        [later, attached, first, other_scope], as_of=FIRED + timedelta(days=10)
    )
    assert [(i.scope, len(i.alerts)) for i in incidents] == [
        ("overall", 2),
        ("template_id=t1", 1),
        ("overall", 1),
    ]
    assert incidents[0].resolved_at == attached["resolved_at"] + COOL_DOWN
    still_open = group_incidents([_page(FIRED)], as_of=FIRED + timedelta(hours=3))
    assert still_open[0].resolved_at is None


def test_the_failure_window_covers_the_incident_in_its_scope_and_gate():
    (draft,) = group_incidents([_page(FIRED, scope="template_id=t1")], as_of=FIRED + COOL_DOWN * 3)
    window = failure_window(draft, as_of=FIRED + COOL_DOWN * 3)
    assert (window.gate, window.dimension, window.value) == (
        Gate.COLOUR_FIDELITY,
        "template_id",
        "t1",
    )
    assert window.start == FIRED - FAILURE_LEAD and window.end == draft.resolved_at
    (open_draft,) = group_incidents([_page(FIRED, hours=None)], as_of=FIRED + timedelta(hours=2))
    window = failure_window(open_draft, as_of=FIRED + timedelta(hours=2))
    assert (window.dimension, window.value, window.end) == (None, None, FIRED + timedelta(hours=2))


def _failed_artifact(i: int, at: datetime, channel: str, gate: str) -> tuple[dict, dict]:
    """A generation and its gate decision, failing `gate`."""
    where = {
        "campaign_id": "c1",
        "template_id": "tpl-a",
        "channel": channel,
        "generated_at": at,
        "week": date(2026, 10, 19),
    }
    generation = where | {
        "artifact_id": f"a{i}",
        "attempt": 1,
        "retouch_version": "r1",
        "model_version": f"m-{i}",
        "prompt": "p",
        "prompt_version": "p-1",
        "prompt_hash": "h",
        "seed": 1,
        "steps": 20,
        "cfg_scale": 7.0,
        "processing_ms": 1,
        "image": "i.png",
        "master": "m.png",
        "batch_id": "b",
        "line_no": i,
    }
    decision = where | {
        "artifact_id": f"a{i}",
        "attempt": 1,
        "status": "rejected",
        "failed_gates": [gate],
        "unresolved_gates": [gate],
        "heal_actions": "[]",
        "proposals": "[]",
        "review_reasons": [],
        "delivery_breach": False,
    }
    return generation, decision


def test_failing_artifacts_inside_an_exclusion_window_of_the_slo_are_left_out(con):
    """As in the SLO's budget, a failure inside an applied exclusion window of the incident's
    SLO (and scope) does not explain the incident; one of another SLO's window still does."""
    from retouch_assets.config import ExclusionWindow, RetouchConfig
    from retouch_assets.gates.tables import GATE_DECISIONS
    from retouch_assets.ingest.tables import GENERATIONS
    from retouch_assets.ops.queries import failing_artifacts
    from retouch_assets.slo.governance import record_exclusions

    (draft,) = group_incidents([_page(FIRED)], as_of=FIRED + COOL_DOWN * 3)
    window = failure_window(draft, as_of=FIRED + COOL_DOWN * 3)
    rows = [
        _failed_artifact(i, FIRED - timedelta(hours=5 - i), channel, Gate.COLOUR_FIDELITY)
        for i, channel in enumerate(("web", "email", "web", "email"))
    ]
    insert(con, GENERATIONS, [g for g, _ in rows])
    insert(con, GATE_DECISIONS, [d for _, d in rows])
    everyone = [r["model_version"] for r in failing_artifacts(con, window)]
    assert everyone == ["m-0", "m-1", "m-2", "m-3"]

    def excluded(start_hours: int, end_hours: int, scope: str) -> ExclusionWindow:
        return ExclusionWindow(
            start=FIRED - timedelta(hours=start_hours),
            end=FIRED - timedelta(hours=end_hours),
            scope=scope,
            reason="CDN migration",
            approved_by="ana",
        )

    config = RetouchConfig(
        exclusions=[
            excluded(5, 4, "colour-fidelity/overall"),  # a0 (a1 at its end is counted)
            excluded(4, 1, "channel=web"),  # a2, every SLO
            excluded(3, 1, "accessibility/overall"),  # another SLO's: nothing
        ]
    )
    record_exclusions(con, config, FIRED - timedelta(days=7))
    left = [r["model_version"] for r in failing_artifacts(con, window)]
    assert left == ["m-1", "m-3"]


def _failure(model="m-2", prompt="p-1", template="tpl-a"):
    return {"model_version": model, "prompt_version": prompt, "template_id": template}


def test_root_cause_prefers_a_new_dominant_version_then_a_template():
    mostly_m2 = [_failure() for _ in range(4)] + [_failure(model="m-1", template="tpl-b")]
    category, text = classify_root_cause("colour-fidelity", mostly_m2, {"m-2"})
    assert category == RootCause.MODEL_VERSION and text.startswith("new model version m-2")
    assert classify_root_cause("colour-fidelity", mostly_m2, set())[0] == RootCause.TEMPLATE
    mixed = [_failure(template=t, model=t) for t in ("a", "b", "c")]
    assert classify_root_cause("delivery", mixed, {"a"})[0] == RootCause.MIXED
    assert classify_root_cause("delivery", [], set())[0] == RootCause.UNKNOWN
    # A polars frame gives the same answer as its rows.
    assert classify_root_cause("colour-fidelity", pl.DataFrame(mostly_m2), {"m-2"}) == (
        category,
        text,
    )


def test_build_incidents_keeps_known_numbers_and_numbers_new_ones_after_them():
    as_of = FIRED + timedelta(days=5)
    drafts = group_incidents(
        [
            _page(FIRED),
            _page(FIRED + timedelta(hours=2), hours=None, scope="channel=web", long_window="6h"),
        ],
        as_of=as_of,
    )
    known = {drafts[0].key: 7, "some/older/incident": 9}
    seen = {("model", "m-2"): FIRED - timedelta(days=2), ("model", "m-1"): FIRED.replace(year=2025)}
    failures = {drafts[0].key: [_failure() for _ in range(3)]}
    incidents, events = build_incidents(drafts, known, failures, seen, fastest_window="1h")
    assert [(i["incident_id"], i["number"]) for i in incidents] == [
        ("RETINC-7", 7),
        ("RETINC-10", 10),
    ]
    first, second = incidents
    assert first["severity"] == IncidentSeverity.SEV1  # paged from the fastest window
    assert second["severity"] == IncidentSeverity.SEV2
    assert first["status"] == IncidentStatus.RESOLVED and second["status"] == IncidentStatus.OPEN
    assert first["root_cause_category"] == RootCause.MODEL_VERSION
    assert second["root_cause_category"] == RootCause.UNKNOWN
    assert first["postmortem_due"] == FIRED + POSTMORTEM_DUE
    assert [e["kind"] for e in events if e["incident_id"] == "RETINC-7"] == [
        IncidentEventKind.OPENED,
        IncidentEventKind.ALERT_RESOLVED,
        IncidentEventKind.POSTMORTEM_DUE,
        IncidentEventKind.RESOLVED,
    ]
    assert [e["kind"] for e in events if e["incident_id"] == "RETINC-10"] == [
        IncidentEventKind.OPENED,
        IncidentEventKind.POSTMORTEM_DUE,
    ]
    assert json.loads(events[0]["details"]) == {"text": "1h/5m page, burn 20.0x"}
    # Rebuilding from the numbers now known gives the same ids.
    now_known = {i["incident_key"]: i["number"] for i in incidents}
    again, _ = build_incidents(drafts, now_known, failures, seen, fastest_window="1h")
    assert [i["incident_id"] for i in again] == ["RETINC-7", "RETINC-10"]


def test_attached_alerts_are_on_the_timeline_and_in_its_document():
    drafts = group_incidents(
        [_page(FIRED), _page(FIRED + timedelta(hours=3))], as_of=FIRED + timedelta(days=3)
    )
    incidents, events = build_incidents(drafts, {}, {}, {}, fastest_window=None)
    kinds = [e["kind"] for e in events]
    assert kinds.count(IncidentEventKind.ALERT_ATTACHED) == 1
    assert kinds.count(IncidentEventKind.ALERT_RESOLVED) == 2
    assert incidents[0]["severity"] == IncidentSeverity.SEV2  # no page window configured
    ((path, text),) = timeline_documents(incidents, events).items()
    assert path == "incidents/RETINC-1/incident_timeline.md"
    assert text.startswith("# RETINC-1: colour-fidelity burning its budget (overall)")
    assert "| alert_attached | 1h/5m page, burn 20.0x |" in text
    assert "no page for the 24 h cool-down" in text
    assert "## Postmortem (due 48 hours after opening)" in text


def test_the_fastest_page_window_is_the_shortest_long_window_of_a_page():
    from retouch_assets.config import Alerting

    assert fastest_page_window(Alerting().windows) == "1h"
    assert fastest_page_window([w for w in Alerting().windows if w.severity == "ticket"]) is None


def test_incidents_keep_their_ids_across_reruns(tmp_path, resources):
    from retouch_assets.defs.ops.assets import track_incidents

    res = resources(tmp_path / "landing")
    with connect(res["warehouse"].path) as con:
        migrate(con)
        # The second page resolves too late in the week for its cool-down to end: still open.
        pages = [
            _page(at) | {"week": WEEK, "severity": "page", "peak_burn_short": 25.0}
            for at in (FIRED, FIRED + timedelta(days=4, hours=12))
        ]
        insert(con, BURN_ALERTS, [p | {"low_traffic": False} for p in pages])
    key = WEEK.isoformat()
    for _ in range(2):
        result = dg.materialize([track_incidents], resources=res, partition_key=key)
        assert result.success
    with connect(res["warehouse"].path, read_only=True) as con:
        rows = con.execute(
            "SELECT incident_id, status, alerts FROM ops.incidents ORDER BY number"
        ).fetchall()
        kinds = [
            k
            for (k,) in con.execute(
                "SELECT kind FROM ops.incident_events WHERE incident_id = 'RETINC-1' "
                "ORDER BY event_at"
            ).fetchall()
        ]
        (path,) = con.execute(
            "SELECT timeline_path FROM ops.incidents WHERE incident_id = 'RETINC-1'"
        ).fetchone()
    assert rows == [("RETINC-1", "resolved", 1), ("RETINC-2", "open", 1)]
    assert kinds[0] == "opened" and "postmortem_due" in kinds
    timeline = res["reports"].root / "incidents" / "RETINC-1" / "incident_timeline.md"
    assert path == str(timeline)
    text = timeline.read_text()
    assert "RETINC-1" in text and "Postmortem (due 48 hours after opening)" in text


# ---- schedules --------------------------------------------------------------------------


def test_weekly_sync_runs_the_last_complete_week_monday_morning_in_its_timezone():
    from retouch_assets.defs.ops.schedules import weekly_sync_schedule

    schedule = weekly_sync_schedule(
        Review(timezone="Europe/Berlin", time="09:00", weekday="monday")
    )
    assert schedule.cron_schedule == "0 9 * * 1" and schedule.execution_timezone == "Europe/Berlin"
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC) - timedelta(hours=1)  # 09:00 in Berlin (CET)
    context = dg.build_schedule_context(scheduled_execution_time=at)
    request = schedule(context)
    assert request.partition_key == "2026-10-26"


def test_daily_pipeline_refreshes_yesterdays_week():
    from retouch_assets.defs.ops.schedules import daily_pipeline

    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 2, 6, tzinfo=UTC)
    )
    request = daily_pipeline(context)
    assert request.partition_key == "2026-10-26"  # Sunday's week


def test_the_report_facts_are_what_the_weekly_report_reads(con):
    """Each key is read by `reports.weekly` (the review queue comes from the reports' own
    query); every query runs on an empty warehouse."""
    from retouch_assets.ops.queries import report_facts

    facts = report_facts(con, date(2026, 10, 19), datetime(2026, 10, 26, tzinfo=UTC))
    assert facts == {
        "budgets": [],
        "alerts": [],
        "incidents": [],
        "outbox": {},
        "held": 0,
        "regressions": [],
        "locks": [],
        "held_by_lock": 0,
    }
