"""Delivering outbox rows over HTTP (httpx): PagerDuty Events v2, Slack incoming webhooks,
Jira's create-issue REST call. Timeouts, retries with backoff on 5xx, 429 and connection
errors (still failing: `retrying`, tried again at the next delivery), no retry on other 4xx
(`failed`, final, recorded with the response). At-least-once: a row is marked
delivered only after a 2xx, and the dedup key makes a repeat harmless at PagerDuty.

Secrets stay secret: endpoints and keys come from the environment the caller passes (the
`alert_endpoints` resource), are added to a request only when it is sent, and every text this
module stores or logs (errors, response bodies, httpx's request log) goes through `redact`.
"""

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, quote_plus, urlsplit

import duckdb
import httpx

from retouch_assets import faults
from retouch_assets.config import AlertRoute
from retouch_assets.faults import checkpoint
from retouch_assets.ops.queries import record_delivery, undelivered
from retouch_assets.vocabulary import OutboxStatus, RouteKind

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
REDACTED = "[redacted]"
ERROR_CHARS = 500  # of a refusal's response body, kept on the row
# Parts of an endpoint URL this long are treated as secrets wherever they appear on their own
# (a Slack webhook's path carries its token); shorter ones ("v2", "rest") are not.
SECRET_PART_MIN = 8
# scheme://[userinfo@]host[:port][/path][?query][#fragment] inside any text.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@\"'<>|]*@)?"
    r"(?P<host>[^\s/?#\"'<>|]*)(?P<rest>[/?#][^\s\"'<>|]*)?"
)
# httpx logs every request with its full URL at INFO.
HTTP_LOGGERS = ("httpx",)


@dataclass(frozen=True)
class Outcome:
    status: OutboxStatus
    attempts: int
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """Where a route delivers; `repr` never shows the URL or the secret."""

    url: str = field(repr=False)
    headers: dict = field(repr=False)
    secret_field: str | None = None  # PagerDuty: the routing key goes into the body
    secret: str | None = field(default=None, repr=False)
    configured: tuple[str, ...] = field(default=(), repr=False)  # the raw environment values

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value that must not appear in a stored or logged text."""
        return secret_values(self.url, self.secret, *self.configured)


def secret_values(*values: str | None) -> tuple[str, ...]:
    """The values themselves, and for URLs their path, query and the longer parts of them."""
    found: list[str] = []
    for value in filter(None, values):
        found.append(value)
        parts = urlsplit(value) if "://" in value else None
        if parts is None:
            continue
        found += [p for p in (parts.username, parts.password) if p]
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        if tail.strip("/"):
            found.append(tail)
        pieces = re.split(r"[/?&=#;]", tail)
        found += [p for p in pieces if len(p) >= SECRET_PART_MIN]
    return tuple(dict.fromkeys(found))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (as is, URL-encoded or JSON-escaped) and every URL's userinfo,
    path, query and fragment replaced by `[redacted]`; a URL keeps its scheme, host and port,
    so an error still says which service failed."""
    # URLs first, so a full endpoint URL keeps its host; then the secrets wherever they are.
    text = _URL.sub(_redact_url, text)
    variants = set()
    for s in filter(None, secrets):
        variants |= {s, quote(s, safe=""), quote(s), quote_plus(s), json.dumps(s)[1:-1]}
    if not variants:
        return text
    # One pass, longest first: a replacement is never matched again.
    pattern = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.sub(pattern, REDACTED, text)


def _redact_url(match: re.Match) -> str:
    userinfo = f"{REDACTED}@" if match["userinfo"] else ""
    rest = match["rest"] or ""
    return (
        f"{match['scheme']}{userinfo}{match['host']}{f'/{REDACTED}' if rest.strip('/') else rest}"
    )


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        return True


@contextmanager
def redacted_http_logs(secrets: tuple[str, ...]) -> Iterator[None]:
    """While delivering, httpx's request log lines reach any handler redacted."""
    redacting = _RedactingFilter(secrets)
    loggers = [logging.getLogger(name) for name in HTTP_LOGGERS]
    for logger in loggers:
        logger.addFilter(redacting)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(redacting)


def endpoint_for(route: AlertRoute, env: Mapping[str, str]) -> Endpoint | None:
    """Resolve a route's endpoint and secret from the environment; None if not configured."""
    url = env.get(route.url_env) if route.url_env else None
    secret = env.get(route.secret_env) if route.secret_env else None
    configured = tuple(v for v in (url, secret) if v)
    if route.kind == RouteKind.PAGERDUTY:
        if not secret:
            return None
        return Endpoint(url or PAGERDUTY_EVENTS_URL, {}, "routing_key", secret, configured)
    if route.kind == RouteKind.SLACK:
        return Endpoint(url, {}, configured=configured) if url else None
    if route.kind == RouteKind.JIRA:
        if not url or not secret:
            return None
        return Endpoint(
            url.rstrip("/") + "/rest/api/2/issue",
            {"Authorization": f"Bearer {secret}"},
            secret=secret,
            configured=configured,
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
    """POST with retries; the outcome says delivered, failed or retrying, with the last
    response code and a redacted error."""
    body = dict(payload)
    if endpoint.secret_field:
        body[endpoint.secret_field] = endpoint.secret
    last_code, last_error = None, None
    for attempt in range(1, retries + 2):
        try:
            response = client.post(endpoint.url, json=body, headers=endpoint.headers)
        except httpx.TransportError as exc:  # connection refused, timeouts, resets
            last_code, last_error = None, f"{type(exc).__name__}: {exc}"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a malformed URL: fix, then retry
            error = redact(f"{type(exc).__name__}: {exc}", endpoint.secrets)
            return Outcome(OutboxStatus.RETRYING, attempt, None, error)
        else:
            last_code = response.status_code
            if response.is_success:
                return Outcome(OutboxStatus.DELIVERED, attempt, last_code)
            # Redact before cutting: a secret cut in half would no longer match.
            last_error = redact(response.text, endpoint.secrets)[:ERROR_CHARS]
            if response.status_code < 500 and response.status_code != 429:
                return Outcome(OutboxStatus.FAILED, attempt, last_code, last_error)  # final
        if attempt <= retries:
            sleep(backoff_s * 2 ** (attempt - 1))
    error = redact(last_error, endpoint.secrets) if last_error else None
    return Outcome(OutboxStatus.RETRYING, retries + 1, last_code, error)  # tried next delivery


def _send_row(client, endpoint: Endpoint, row: dict, retries, backoff_s, sleep) -> Outcome:
    """Send one outbox row; anything unexpected (a secret httpx cannot encode, a payload that
    no longer parses) is recorded on that row as `retrying`, never stops the other rows."""
    try:
        return send(client, endpoint, json.loads(row["payload"]), retries, backoff_s, sleep)
    except Exception as exc:  # noqa: BLE001 (one row's problem, recorded and redacted)
        error = redact(f"{type(exc).__name__}: {exc}", endpoint.secrets)
        return Outcome(OutboxStatus.RETRYING, 1, None, error)


def _unsendable(route_name: str, route: AlertRoute | None) -> Outcome:
    """Why a row has no endpoint: it waits, visibly, naming the variables to set."""
    if route is None:
        reason = f"route {route_name} is no longer configured"
    else:
        named = ", ".join(v for v in (route.url_env, route.secret_env) if v)
        reason = f"set {named} to deliver to {route.name}"
    return Outcome(OutboxStatus.NO_ENDPOINT, 0, None, reason)


def deliver_pending(
    con: duckdb.DuckDBPyConnection,
    routes: list[AlertRoute],
    env: Mapping[str, str],
    client: httpx.Client,
    now: datetime,
    retries: int = 3,
    backoff_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Deliver every undelivered outbox row (oldest first) and record each outcome on its row.
    Delivered rows are never sent again; rows without a configured endpoint stay visible.
    `env` holds the variables routes name (the `alert_endpoints` resource's environment)."""
    by_name = {r.name: r for r in routes}
    endpoints = {r.name: endpoint_for(r, env) for r in routes}
    # Any route's secret is redacted from every text: a service may echo another's URL.
    secrets = tuple(s for e in endpoints.values() if e is not None for s in e.secrets)
    counts: dict[str, int] = {}
    with redacted_http_logs(secrets):
        for row in undelivered(con):
            endpoint = endpoints.get(row["route"])
            if endpoint is None:
                outcome = _unsendable(row["route"], by_name.get(row["route"]))
            else:
                outcome = _send_row(client, endpoint, row, retries, backoff_s, sleep)
            checkpoint(faults.DELIVERY_SENT)
            error = redact(outcome.error, secrets) if outcome.error else None
            record_delivery(
                con,
                row["outbox_id"],
                status=outcome.status,
                attempts=outcome.attempts,
                status_code=outcome.status_code,
                error=error,
                now=now,
            )
            counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
    return counts
