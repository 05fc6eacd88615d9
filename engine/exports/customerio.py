"""The Customer.io Track API client (docs/exports.md), on httpx.

It turns outbox items into requests — v2 `POST /api/v2/batch` by default, or v1 `PUT`/`DELETE
/api/v1/customers/{id}` (and its `events`, `suppress`, `unsuppress`, and
`/api/v1/merge_customers`) one item at a time; segment adds and removes always go through v1
`POST /api/v1/segments/{id}/add_customers|remove_customers`, many people a request — and every
answer into one outcome per item, so the runner never has to know HTTP: sent; retry (429, 5xx, a
network error or a timeout; with Customer.io's `Retry-After` when it gives one); dead (refused
for good, with the response); or auth (401/403: the job's credentials are wrong, nothing more
can be sent). The limits are checked before anything is sent, and an item that breaks them is
dead at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from engine.config.model import MAX_EVENT_NAME_BYTES, AuthorizationSpec
from engine.errors import RuntimeFailure
from engine.exports.jobs import (
    DELETE,
    EVENT,
    IDENTIFY,
    MERGE,
    SEGMENT_ACTIONS,
    SEGMENT_ADD,
    identifier,
    identifiers,
)
from engine.exports.limits import (
    MAX_BATCH_BYTES,
    MAX_ITEM_BYTES,
    MAX_SEGMENT_IDS,
    Problem,
    attribute_problems,
    identifier_problems,
)

HOSTS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
SENT, RETRY, DEAD, AUTH = "sent", "retry", "dead", "auth"
RESPONSE_KEPT = 2000  # characters of a refusal kept with a dead item


@dataclass(frozen=True)
class Item:
    """One outbox item to send: its id, its action (`engine.exports.jobs.ACTIONS`), and its
    body."""

    id: int
    action: str
    body: dict[str, Any]

    @cached_property
    def wire(self) -> bytes:
        """The item as a v2 batch operation, encoded once (packing, limits and sending all
        need its bytes)."""
        return orjson.dumps(operation(self))


@dataclass(frozen=True)
class Outcome:
    kind: str  # SENT, RETRY, DEAD, AUTH
    status: int = 0  # the HTTP status (0: none came)
    response: str = ""  # why, for a dead item or a paused job
    retry_after_s: float | None = None


class DestinationError(RuntimeFailure):
    """Customer.io could not be asked, or its answer could not be read. `retry`: whether asking
    again later may work (a network error, a timeout)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class CredentialsError(DestinationError):
    """The job's authorization cannot be used until the config is fixed: Customer.io refused its
    credentials (401/403), or its `base_url` is not a URL."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry=False)


def translated(exc: httpx.HTTPError | httpx.InvalidURL) -> DestinationError:
    """The engine's error for an httpx exception (raise it ``from exc``)."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return DestinationError(f"timed out: {name}", retry=True)
    if isinstance(exc, httpx.TransportError):
        return DestinationError(f"network error: {name}", retry=True)
    if isinstance(exc, httpx.HTTPStatusError):
        return DestinationError(f"Customer.io answered {exc.response.status_code}", retry=True)
    if isinstance(exc, httpx.InvalidURL):
        return CredentialsError(f"not a URL Customer.io can be reached at: {exc}")
    return DestinationError(f"unreadable answer: {name}", retry=True)  # decoding, redirects


def base_url(auth: AuthorizationSpec) -> str:
    return (auth.base_url or HOSTS.get(auth.region, HOSTS["us"])).rstrip("/")


def problems(item: Item) -> str | None:
    """Why Customer.io would refuse the item (the limits of docs/exports.md), or None."""
    body = item.body
    found: list[Problem] = []
    if item.action == MERGE:
        for side in ("primary", "secondary"):
            kind, value = identifier(body.get(side) or {})
            found += identifier_problems(value, f"{side}.{kind}")
    else:
        kind, value = identifier(body)
        found += identifier_problems(value, f"identifiers.{kind}")
    if item.action == IDENTIFY:
        found += attribute_problems(body.get("attributes") or {}, "attributes.")
    if item.action == EVENT:
        size = len(str(body.get("name", "")).encode())
        if not 0 < size <= MAX_EVENT_NAME_BYTES:
            found.append(Problem("invalid", "name", f"an event name must have 1 to "
                                 f"{MAX_EVENT_NAME_BYTES} bytes, not {size}"))
    if (not found and item.action not in (DELETE, *SEGMENT_ACTIONS)
            and len(item.wire) > MAX_ITEM_BYTES):
        return f"the item is over {MAX_ITEM_BYTES} bytes"
    return "; ".join(f"{p.field}: {p.message}" for p in found) or None


def operation(item: Item) -> dict[str, Any]:
    """The v2 batch operation of an item (segment items have none: they go through v1)."""
    body = item.body
    op: dict[str, Any] = {"type": "person", "action": item.action}
    if item.action == MERGE:
        op["primary"], op["secondary"] = body["primary"], body["secondary"]
    else:
        op["identifiers"] = identifiers(body)
    if item.action == EVENT:
        op["name"] = body["name"]
    if item.action in (IDENTIFY, EVENT):
        op["attributes"] = body.get("attributes") or {}
    if "timestamp" in body:
        op["timestamp"] = body["timestamp"]
    return op


def v1_path(body: dict[str, Any]) -> str:
    """`/api/v1/customers/{identifier}`: v1 takes an id or an email as it is, and a cio_id
    with its `cio_` prefix."""
    kind, value = identifier(body)
    text = f"cio_{value}" if kind == "cio_id" else str(value)
    return f"/api/v1/customers/{quote(text, safe='')}"


def segment_key(item: Item) -> tuple[str, int, str]:
    """Segment items sharing this go in one request: action, segment, identifier kind."""
    return item.action, int(item.body["segment_id"]), identifier(item.body)[0]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _answer(response: httpx.Response) -> Outcome:
    """The outcome of a whole request (every item shares it)."""
    status = response.status_code
    text = response.text[:RESPONSE_KEPT]
    if status < 300:
        return Outcome(SENT, status)
    if status in (401, 403):
        return Outcome(AUTH, status, text)
    if status == 429 or status >= 500 or status == 408:
        return Outcome(RETRY, status, text, _retry_after(response))
    return Outcome(DEAD, status, text)


class TrackClient:
    """Requests to one Customer.io workspace. Thread-safe (httpx.Client is)."""

    def __init__(self, auth: AuthorizationSpec, *, timeout_s: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        # The base URL is joined per request, not given to httpx: a `base_url` that is no URL
        # then fails the request (translated), not the construction.
        self.url = base_url(auth)
        self.http = httpx.Client(auth=(auth.site_id, auth.api_key), timeout=timeout_s,
                                 transport=transport,
                                 headers={"content-type": "application/json"})

    def close(self) -> None:
        self.http.close()

    def check_credentials(self) -> None:
        """`GET /api/v1/accounts/region`: raises `CredentialsError` when the authorization
        cannot be used. Anything else (Customer.io unreachable, a 5xx) says nothing about the
        credentials, and the sends retry."""
        try:
            response = self.http.get(self.url + "/api/v1/accounts/region")
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = translated(exc)
            if error.retry:
                return
            raise error from exc
        if response.status_code in (401, 403):
            raise CredentialsError(f"Customer.io refused the credentials ({response.status_code})")

    def send(self, api: str, items: Sequence[Item]) -> list[Outcome]:
        """One outcome per item, in order."""
        outcomes: list[Outcome | None] = [None] * len(items)
        sendable: list[int] = []
        for i, item in enumerate(items):
            why = problems(item)
            if why is None:
                sendable.append(i)
            else:
                outcomes[i] = Outcome(DEAD, 0, f"not sent: {why}")
        if sendable and items[sendable[0]].action in SEGMENT_ACTIONS:
            for i, outcome in zip(sendable, self._segment([items[i] for i in sendable]),
                                  strict=True):
                outcomes[i] = outcome
        elif api == "v1":
            for i in sendable:
                outcomes[i] = self._v1(items[i])
        elif sendable:
            for i, outcome in zip(sendable, self._v2([items[i] for i in sendable]),
                                  strict=True):
                outcomes[i] = outcome
        return [o if o is not None else Outcome(DEAD, 0, "not sent") for o in outcomes]

    def _request(self, method: str, path: str, body: bytes | None) -> httpx.Response | Outcome:
        try:
            return self.http.request(method, self.url + path, content=body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = translated(exc)
            return Outcome(RETRY if error.retry else DEAD, 0, str(error))

    def _v1(self, item: Item) -> Outcome:
        body = item.body
        if item.action == MERGE:
            answer = self._request("POST", "/api/v1/merge_customers", orjson.dumps(
                {"primary": body["primary"], "secondary": body["secondary"]}))
        elif item.action == DELETE:
            answer = self._request("DELETE", v1_path(body), None)
        elif item.action == IDENTIFY:
            answer = self._request("PUT", v1_path(body),
                                   orjson.dumps(body.get("attributes") or {}))
        elif item.action == EVENT:
            event: dict[str, Any] = {"name": body["name"], "data": body.get("attributes") or {}}
            if "timestamp" in body:
                event["timestamp"] = body["timestamp"]
            answer = self._request("POST", v1_path(body) + "/events", orjson.dumps(event))
        else:  # suppress, unsuppress
            answer = self._request("POST", f"{v1_path(body)}/{item.action}", b"{}")
        return answer if isinstance(answer, Outcome) else _answer(answer)

    def _segment(self, items: Sequence[Item]) -> list[Outcome]:
        """One v1 segment request for items sharing a `segment_key` (the runner packs them,
        at most `MAX_SEGMENT_IDS`)."""
        action, segment, kind = segment_key(items[0])
        verb = "add_customers" if action == SEGMENT_ADD else "remove_customers"
        ids = [str(identifier(item.body)[1]) for item in items]
        if len(ids) > MAX_SEGMENT_IDS:
            return [Outcome(DEAD, 0, f"not sent: over {MAX_SEGMENT_IDS} ids in one request")
                    for _ in items]
        answer = self._request("POST", f"/api/v1/segments/{segment}/{verb}?id_type={kind}",
                               orjson.dumps({"ids": ids}))
        return [answer if isinstance(answer, Outcome) else _answer(answer)] * len(items)

    def _v2(self, items: Sequence[Item]) -> list[Outcome]:
        body = b'{"batch":[' + b",".join(item.wire for item in items) + b"]}"
        if len(body) > MAX_BATCH_BYTES:  # the runner packs batches below this
            return [Outcome(DEAD, 0, f"not sent: the batch is over {MAX_BATCH_BYTES} bytes")
                    for _ in items]
        answer = self._request("POST", "/api/v2/batch", body)
        if isinstance(answer, Outcome):
            return [answer] * len(items)
        if answer.status_code != 207:
            return [_answer(answer)] * len(items)
        try:  # some items refused: each error names its batch_index
            errors = orjson.loads(answer.content).get("errors") or []
        except (orjson.JSONDecodeError, AttributeError):
            errors = []
        refused: dict[int, list[str]] = {}
        for error in errors:  # an item can have several: each is kept, in order
            if isinstance(error, dict) and isinstance(error.get("batch_index"), int):
                refused.setdefault(error["batch_index"], []).append(orjson.dumps(error).decode())
        return [Outcome(DEAD, 207, "\n".join(refused[i])[:RESPONSE_KEPT]) if i in refused
                else Outcome(SENT, 207) for i in range(len(items))]


BATCH_FRAME = len(b'{"batch":[]}')  # the bytes of a v2 batch body around its items
