"""Delivering outbox rows over HTTP (httpx): PagerDuty Events v2, Slack incoming webhooks,
Jira's create-issue REST call. Timeouts, retries with backoff on 5xx, 429 and connection
errors (still failing: `retrying`, tried again at the next delivery), no retry on other 4xx
(`failed`, final, recorded with the response). At-least-once: a row is marked
delivered only after a 2xx, and the dedup key makes a repeat harmless at PagerDuty."""

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from retouch_assets.config import AlertRoute
from retouch_assets.ops.outbox import DELIVERED, FAILED, NO_ENDPOINT, RETRYING

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class Outcome:
    status: str
    attempts: int
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Endpoint:
    url: str
    headers: dict
    secret_field: str | None = None  # PagerDuty: the routing key goes into the body
    secret: str | None = None


def endpoint_for(route: AlertRoute, env: Mapping[str, str]) -> Endpoint | None:
    """Resolve a route's endpoint and secret from the environment; None if not configured."""
    url = env.get(route.url_env) if route.url_env else None
    secret = env.get(route.secret_env) if route.secret_env else None
    if route.kind == "pagerduty":
        if not secret:
            return None
        return Endpoint(url or PAGERDUTY_EVENTS_URL, {}, "routing_key", secret)
    if route.kind == "slack":
        return Endpoint(url, {}) if url else None
    if route.kind == "jira":
        if not url or not secret:
            return None
        return Endpoint(
            url.rstrip("/") + "/rest/api/2/issue", {"Authorization": f"Bearer {secret}"}
        )
    return None


def send(
    client: httpx.Client,
    endpoint: Endpoint,
    payload: dict,
    retries: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """POST with retries; the outcome says delivered or failed, with the last response."""
    body = dict(payload)
    if endpoint.secret_field:
        body[endpoint.secret_field] = endpoint.secret
    last_code, last_error = None, None
    for attempt in range(1, retries + 2):
        try:
            response = client.post(endpoint.url, json=body, headers=endpoint.headers)
        except httpx.TransportError as exc:  # connection refused, timeouts, resets
            last_code, last_error = None, f"{type(exc).__name__}: {exc}"
        else:
            last_code = response.status_code
            if response.is_success:
                return Outcome(DELIVERED, attempt, last_code)
            last_error = response.text[:500]
            if response.status_code < 500 and response.status_code != 429:
                return Outcome(FAILED, attempt, last_code, last_error)  # retrying will not help
        if attempt <= retries:
            sleep(backoff_s * 2 ** (attempt - 1))
    return Outcome(RETRYING, retries + 1, last_code, last_error)  # tried again next delivery


def deliverable(row: dict, routes: dict[str, AlertRoute], env: Mapping[str, str]):
    route = routes.get(row["route"])
    if route is None:
        return None, Outcome(NO_ENDPOINT, 0, None, f"route {row['route']} is no longer configured")
    endpoint = endpoint_for(route, env)
    if endpoint is None:
        named = ", ".join(v for v in (route.url_env, route.secret_env) if v)
        return None, Outcome(NO_ENDPOINT, 0, None, f"set {named} to deliver to {route.name}")
    return endpoint, None


def payload_of(row: dict) -> dict:
    return json.loads(row["payload"])


def deliver_pending(
    con,
    routes: list[AlertRoute],
    env: Mapping[str, str],
    client: httpx.Client,
    now,
    retries: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Deliver every undelivered outbox row (oldest first) and record each outcome on its row.
    Delivered rows are never sent again; rows without a configured endpoint stay visible."""
    by_name = {r.name: r for r in routes}
    cursor = con.execute(
        "SELECT outbox_id, route, payload FROM ops.alert_outbox "
        "WHERE status IN ('pending', 'retrying', 'no_endpoint') "
        "ORDER BY created_at, action DESC, outbox_id"
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    counts: dict[str, int] = {}
    for row in rows:
        endpoint, outcome = deliverable(row, by_name, env)
        if endpoint is not None:
            outcome = send(client, endpoint, payload_of(row), retries, backoff_s, sleep)
        con.execute(
            "UPDATE ops.alert_outbox SET status = $status, attempts = attempts + $attempts, "
            "last_status_code = $code, last_error = $error, "
            "delivered_at = CASE WHEN $status = 'delivered' THEN $now ELSE delivered_at END "
            "WHERE outbox_id = $id",
            {
                "status": outcome.status,
                "attempts": outcome.attempts,
                "code": outcome.status_code,
                "error": outcome.error,
                "now": now,
                "id": row["outbox_id"],
            },
        )
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def store_outbox(con, rows_table) -> int:
    """Add new outbox rows; rows already there (same id) keep their delivery state."""
    # fetchall, not fetchone: DuckDB 2.0 refuses new work while a result is unfinished.
    before = con.execute("SELECT count(*) FROM ops.alert_outbox").fetchall()[0][0]
    con.register("incoming", rows_table)
    try:
        con.execute(
            "INSERT INTO ops.alert_outbox BY NAME SELECT * FROM incoming "
            "WHERE outbox_id NOT IN (SELECT outbox_id FROM ops.alert_outbox)"
        )
    finally:
        con.unregister("incoming")
    return con.execute("SELECT count(*) FROM ops.alert_outbox").fetchall()[0][0] - before
