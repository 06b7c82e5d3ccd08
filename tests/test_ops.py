"""Alerts and incidents against a real local HTTP server: payload shapes, retries, no retry on
4xx, dedup, resolve, nothing lost without routes; incident grouping; the schedules."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import httpx
import pyarrow as pa
import pytest

from retouch_assets.config import AlertRoute, Review
from retouch_assets.ops.delivery import deliver_pending, store_outbox
from retouch_assets.ops.incidents import COOL_DOWN, group_incidents
from retouch_assets.ops.outbox import outbox_rows
from retouch_assets.warehouse import OUTBOX_SCHEMA, connect, ensure_schema

FIRED = datetime(2026, 10, 21, 10, 5, tzinfo=UTC)
WEEK = FIRED.date() - timedelta(days=FIRED.weekday())


class Receiver:
    """A local HTTP server that records every request and answers scripted status codes."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append(
                    {"path": self.path, "body": body, "headers": dict(self.headers)}
                )
                codes = receiver.script.get(self.path, [])
                code = codes.pop(0) if codes else 202
                self.send_response(code)
                self.end_headers()
                self.wfile.write(
                    b'{"status": "ok"}' if code < 400 else b'{"error": "bad request body"}'
                )

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, path):
        return [r for r in self.requests if r["path"] == path]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()


ROUTES = [
    AlertRoute(
        name="on-call", kind="pagerduty", severities=["page"], url_env="PD_URL", secret_env="PD_KEY"
    ),
    AlertRoute(name="chat", kind="slack", severities=["page", "ticket"], url_env="SLACK_URL"),
    AlertRoute(
        name="retinc", kind="jira", severities=["page"], url_env="JIRA_URL", secret_env="JIRA_TOKEN"
    ),
]


def _env(receiver):
    return {
        "PD_URL": receiver.url + "/pd",
        "PD_KEY": "routing-key-1",
        "SLACK_URL": receiver.url + "/slack",
        "JIRA_URL": receiver.url + "/jira",
        "JIRA_TOKEN": "t0ken",
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
        ensure_schema(con)
        yield con


def _store(con, rows):
    return store_outbox(con, pa.Table.from_pylist(rows, schema=OUTBOX_SCHEMA))


def _deliver(con, receiver, routes=ROUTES, env=None):
    with httpx.Client(timeout=5.0) as client:
        return deliver_pending(
            con,
            routes,
            _env(receiver) if env is None else env,
            client,
            datetime(2026, 11, 22, tzinfo=UTC),
            retries=3,
            backoff_s=0.0,
        )


def _status(con):
    return dict(
        con.execute("SELECT route || ':' || action, status FROM ops.alert_outbox").fetchall()
    )


def test_payload_shapes_for_pagerduty_slack_and_jira(con, receiver):
    _store(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES))
    assert _deliver(con, receiver) == {"delivered": 3}
    (pd,) = receiver.to("/pd")
    body = pd["body"]
    assert body["routing_key"] == "routing-key-1" and body["event_action"] == "trigger"
    assert body["dedup_key"].startswith("retouch/colour-fidelity/overall/page/1h/")
    assert (
        body["payload"]["severity"] == "critical" and body["payload"]["source"] == "retouch_assets"
    )
    assert (
        "colour-fidelity" in body["payload"]["summary"]
        and body["payload"]["custom_details"]["factor"] == 14.4
    )
    (slack,) = receiver.to("/slack")
    text = slack["body"]["text"]
    assert (
        "colour-fidelity" in text
        and "overall" in text
        and "20.5×" in text
        and "Open in Dagster" in text
    )
    (jira,) = receiver.to("/jira/rest/api/2/issue")
    assert jira["body"]["fields"]["project"]["key"] == "RETINC"
    assert jira["headers"]["Authorization"] == "Bearer t0ken"
    # The stored payload never holds the secret.
    stored = con.execute("SELECT payload FROM ops.alert_outbox WHERE route = 'on-call'").fetchone()[
        0
    ]
    assert "routing-key-1" not in stored


def test_retries_on_500_then_succeeds(con, receiver):
    receiver.script["/pd"] = [500, 502]
    _store(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    assert _deliver(con, receiver, ROUTES[:1]) == {"delivered": 1}
    assert len(receiver.to("/pd")) == 3
    assert con.execute("SELECT attempts, status FROM ops.alert_outbox").fetchone() == (
        3,
        "delivered",
    )


def test_a_400_is_recorded_as_failed_and_never_retried(con, receiver):
    receiver.script["/pd"] = [400]
    _store(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    assert _deliver(con, receiver, ROUTES[:1]) == {"failed": 1}
    assert _deliver(con, receiver, ROUTES[:1]) == {}
    assert len(receiver.to("/pd")) == 1
    status, code, error = con.execute(
        "SELECT status, last_status_code, last_error FROM ops.alert_outbox"
    ).fetchone()
    assert (status, code) == ("failed", 400) and "bad request body" in error


def test_the_same_alert_twice_is_one_trigger_and_resolve_follows(con, receiver):
    rows = outbox_rows(WEEK, [_episode(resolved=True)], [], ROUTES[:1])
    assert _store(con, rows) == 2  # trigger and resolve
    assert _store(con, outbox_rows(WEEK, [_episode(resolved=True)], [], ROUTES[:1])) == 0  # re-run
    _deliver(con, receiver, ROUTES[:1])
    _deliver(con, receiver, ROUTES[:1])
    actions = [r["body"]["event_action"] for r in receiver.to("/pd")]
    assert actions == ["trigger", "resolve"]
    keys = {r["body"]["dedup_key"] for r in receiver.to("/pd")}
    assert len(keys) == 1


def test_without_routes_nothing_is_delivered_and_nothing_is_lost(con, receiver):
    _store(con, outbox_rows(WEEK, [_episode(resolved=True)], [], []))
    assert _deliver(con, receiver, routes=[]) == {}
    assert receiver.requests == []
    assert _status(con) == {"outbox:trigger": "no_route", "outbox:resolve": "no_route"}


def test_a_route_without_its_environment_waits_visibly(con, receiver):
    _store(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    assert _deliver(con, receiver, ROUTES[:1], env={}) == {"no_endpoint": 1}
    error = con.execute("SELECT last_error FROM ops.alert_outbox").fetchone()[0]
    assert "PD_URL" in error and "PD_KEY" in error
    assert _deliver(con, receiver, ROUTES[:1]) == {"delivered": 1}  # once configured


def test_low_traffic_episodes_never_reach_the_outbox():
    assert outbox_rows(WEEK, [_episode(low_traffic=True)], [], ROUTES) == []


def _page(at, hours=1, slo="colour-fidelity", scope="overall"):
    return {
        "slo": slo,
        "scope": scope,
        "fired_at": at,
        "resolved_at": at + timedelta(hours=hours),
        "long_window": "1h",
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


def test_incidents_keep_their_ids_across_reruns(tmp_path, resources):
    from retouch_assets.defs.ops.assets import track_incidents

    res = resources(tmp_path / "landing")
    with connect(res["warehouse"].path) as con:
        ensure_schema(con)
        # The second page resolves too late in the week for its cool-down to end: still open.
        for at in (FIRED, FIRED + timedelta(days=4, hours=12)):
            con.execute(
                "INSERT INTO slo.burn_alerts VALUES ($week, 'colour-fidelity', 'overall', 'page', '1h', "
                "'5m', 14.4, $at, $resolved, 20.0, 25.0, false)",
                {"week": WEEK, "at": at, "resolved": at + timedelta(hours=1)},
            )
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
                "SELECT kind FROM ops.incident_events WHERE incident_id = 'RETINC-1' ORDER BY event_at"
            ).fetchall()
        ]
    assert rows == [("RETINC-1", "resolved", 1), ("RETINC-2", "open", 1)]
    assert kinds[0] == "opened" and "postmortem_due" in kinds
    timeline = (res["reports"].root / "incidents" / "RETINC-1" / "incident_timeline.md").read_text()
    assert "RETINC-1" in timeline and "Postmortem (due 48 hours after opening)" in timeline


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


def test_an_unreachable_endpoint_is_retried_then_left_for_the_next_delivery(con):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _store(con, outbox_rows(WEEK, [_episode(resolved=False)], [], ROUTES[:1]))
    env = {"PD_URL": f"http://127.0.0.1:{port}/pd", "PD_KEY": "k"}
    with httpx.Client(timeout=1.0) as client:
        counts = deliver_pending(
            con,
            ROUTES[:1],
            env,
            client,
            datetime(2026, 11, 22, tzinfo=UTC),
            retries=2,
            backoff_s=0.0,
        )
    assert counts == {"retrying": 1}
    attempts, error = con.execute("SELECT attempts, last_error FROM ops.alert_outbox").fetchone()
    assert attempts == 3 and "ConnectError" in error
