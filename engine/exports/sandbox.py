"""A local stand-in for Customer.io's Track API (docs/exports.md), run
by `engine sandbox customerio`.

An export is only believable once it has talked to something that refuses what Customer.io
refuses, and users should be able to try one without real credentials. So the sandbox enforces
the same HTTP Basic auth, the person endpoints of Track v1 and v2 an export uses (identify,
delete, event, merge, suppress, unsuppress; people addressed by id, email or cio_id), v1 manual
segments, and their documented limits; keeps a person store showing what an export did, records
every request with the answer it got, and can be scripted to answer 429, 5xx or slowly, so that
retry paths are tested over real HTTP. State lives in memory; it is a development and test tool,
never a production peer.

A scripted step can also hold a request until it is released (`Sandbox.release`, or
``POST /_sandbox/release``): a test then knows a request is in flight from the sandbox itself
(`Sandbox.held`), can kill or time out the client meanwhile, and decides when the answer goes
out, with no clock in the way (docs/exports.md).

Where Customer.io's "KB" is ambiguous the sandbox takes the stricter reading, so that an export
that passes here fits Customer.io whichever reading it uses: a v2 batch may hold 500 KB =
500,000 bytes of body (the default of ``batch.max_bytes``, docs/exports.md), a
v2 item 32 KB = 32,000
bytes of compact JSON. Identifiers and attribute names count UTF-8 bytes; attribute values count
UTF-8 bytes for strings and the JSON text for anything else.

Track routes answer errors in Customer.io's shapes (v1 ``{"meta": {"errors": [...]}}``, v2
``{"errors": [{batch_index, reason, field, message}]}``); the ``/_sandbox/*`` control routes
need no auth and answer errors in the engine's own ``{"error", "message"}`` shape. A log entry
is ``{method, path (as sent, still URL-encoded, with its query string), status, body,
response}``, added on arrival
(``status`` None until answered). A scripted answer is taken before auth and replaces it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from engine.config.model import MAX_SEGMENT_ID
from engine.exports.limits import (
    MAX_BATCH_BYTES,
    MAX_ITEM_BYTES,
    MAX_SEGMENT_IDS,
    Problem,
    attribute_problems,
    identifier_problems,
)
from engine.exports.sandbox_state import (
    IDENTIFIER_KINDS,
    Answer,
    Operation,
    Sandbox,
    event_name_problems,
    parse_operation,
    parse_script,
    person_of,
    timestamp_problems,
)

MAX_READ_BYTES = 5_000_000  # past this a body is refused unread (and not kept in the log)
CUSTOMERS = b"/api/v1/customers/"
SEGMENTS = b"/api/v1/segments/"
PERSON_POSTS = ("events", "suppress", "unsuppress")  # POST /api/v1/customers/{id}/<this>
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# Re-exported: the sandbox is used by these names.
__all__ = ["Sandbox", "create_app", "listen", "make_server", "parse_script", "running_sandbox",
           "url_of"]


@dataclass(frozen=True)
class _Body:
    raw: bytes
    whole: bool  # False: longer than MAX_READ_BYTES, only a prefix was read
    json: Any = None
    is_json: bool = False

    def logged(self) -> Any:
        """What the log shows: the parsed JSON, else the text."""
        if not self.whole:
            return f"<a body over {MAX_READ_BYTES} bytes, not kept>"
        return self.json if self.is_json else self.raw.decode("utf-8", "replace")


async def _read(request: Request) -> _Body:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_READ_BYTES:
                return _Body(b"".join(chunks), whole=False)
            chunks.append(chunk)
    except ClientDisconnect:
        pass  # answered anyway, so the log shows what arrived
    raw = b"".join(chunks)
    try:
        return _Body(raw, True, orjson.loads(raw), True)
    except orjson.JSONDecodeError:
        return _Body(raw, True)


def _raw_path(request: Request) -> bytes:
    """The path as sent, still percent-encoded: ``%2F`` in an identifier must not split it."""
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):
        raw = request.url.path.encode()
    return raw.split(b"?", 1)[0]


def _logged_path(request: Request) -> str:
    """The path as sent, with its query string (an `id_type` matters)."""
    query = request.scope.get("query_string") or b""
    path = _raw_path(request) + (b"?" + query if query else b"")
    return path.decode("latin-1")


def _meta(status: int, *errors: str) -> Answer:
    return Answer(status, {"meta": {"errors": list(errors)}})


def _errors(status: int, *problems: Problem) -> Answer:
    return Answer(status, {"errors": [asdict(p) for p in problems]})


def _respond(answer: Answer) -> Response:
    empty = answer.status in (204, 304)
    return Response(b"" if empty else orjson.dumps(answer.doc), status_code=answer.status,
                    media_type="application/json", headers=answer.headers)


Handler = Callable[[Request, _Body], Answer]
Endpoint = Callable[[Request], Awaitable[Response]]


class _Api:
    """The sandbox's route handlers, over the sandbox they record into."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.by_method = {"PUT": self.tracked(self.identify_v1),
                          "DELETE": self.tracked(self.delete_v1)}
        self.person_posts = self.tracked(self.person_post_v1)
        self.segment_post = self.tracked(self.segment_v1)

    async def answer(self, request: Request, body: _Body, handler: Handler) -> Answer:
        step = self.sandbox._next_step()
        if step is not None:
            if step.hold:
                await self.sandbox._hold()  # until the test (or a control request) releases it
            if step.delay_s:
                await asyncio.sleep(step.delay_s)  # a slow peer, so clients can time out
            if step.status is not None:
                headers = ({"Retry-After": str(step.retry_after)}
                           if step.retry_after is not None else None)
                doc = ({"meta": {"errors": [f"scripted answer {step.status}"]}}
                       if step.status >= 400 else {})
                return Answer(step.status, doc, headers)
        if not self.sandbox.authorized(request.headers.get("authorization")):
            return _meta(401, "unauthorized")
        if not body.whole:
            return _meta(413, f"the body is over {MAX_READ_BYTES} bytes")
        return handler(request, body)

    def tracked(self, handler: Handler) -> Endpoint:
        """A Track endpoint: recorded on arrival, then scripted, authenticated, handled."""
        async def endpoint(request: Request) -> Response:
            body = await _read(request)
            entry = self.sandbox._arrive(request.method, _logged_path(request), body.logged())
            result = await self.answer(request, body, handler)
            self.sandbox._answered(entry, result)
            return _respond(result)
        return endpoint

    async def refuse_route(self, request: Request, status: int,
                           headers: Mapping[str, str] | None = None) -> Response:
        """404/405, recorded unless it is a control route."""
        message = ("no such route" if status == 404
                   else "this route does not take that method")
        result = Answer(status, {"meta": {"errors": [message]}}, headers)
        path = _raw_path(request)
        if not path.startswith(b"/_sandbox/"):
            body = await _read(request)
            entry = self.sandbox._arrive(request.method, _logged_path(request), body.logged())
            self.sandbox._answered(entry, result)
        return _respond(result)

    def region(self, request: Request, _body: _Body) -> Answer:
        url = f"{request.url.scheme}://{request.url.netloc}"
        return Answer(200, {"url": url, "region": "us", "environment_id": 1})

    def customer_identifier(self, request: Request) -> str | Answer:
        encoded = _raw_path(request)[len(CUSTOMERS):].split(b"/", 1)[0]
        try:
            identifier = unquote_to_bytes(encoded).decode("utf-8")
        except UnicodeDecodeError:
            return _meta(400, "the identifier is not UTF-8 once URL-decoded")
        problems = identifier_problems(identifier, "identifier")
        return _meta(400, *(f"{p.field}: {p.message}" for p in problems)) if problems \
            else identifier

    def identify_v1(self, request: Request, body: _Body) -> Answer:
        identifier = self.customer_identifier(request)
        if isinstance(identifier, Answer):
            return identifier
        empty = not body.is_json and not body.raw.strip()
        attributes = {} if empty else body.json
        if not isinstance(attributes, dict):
            return _meta(400, "the body must be a JSON object of attributes")
        problems = attribute_problems(attributes)
        if problems:
            return _meta(400, *(f"{p.field}: {p.message}" for p in problems))
        self.sandbox.apply(Operation(identifier, "identify", attributes))
        return Answer(200, {})

    def delete_v1(self, request: Request, _body: _Body) -> Answer:
        identifier = self.customer_identifier(request)
        if isinstance(identifier, Answer):
            return identifier
        self.sandbox.apply(Operation(identifier, "delete", {}))
        return Answer(200, {})

    def person_post_v1(self, request: Request, body: _Body) -> Answer:
        """`POST /api/v1/customers/{id}/events`, `/suppress`, `/unsuppress`."""
        identifier = self.customer_identifier(request)
        if isinstance(identifier, Answer):
            return identifier
        what = _raw_path(request).rsplit(b"/", 1)[1].decode()
        if what != "events":
            self.sandbox.apply(Operation(identifier, what, {}))
            return Answer(200, {})
        doc = body.json if body.is_json else None
        if not isinstance(doc, dict):
            return _meta(400, "the body must be a JSON object with a name")
        data = doc.get("data", {})
        problems = event_name_problems(doc.get("name")) + timestamp_problems(
            doc.get("timestamp"))
        if not isinstance(data, dict):
            problems.append(Problem("invalid", "data", "data must be a JSON object"))
        if problems:
            return _meta(400, *(f"{p.field}: {p.message}" for p in problems))
        self.sandbox.apply(Operation(identifier, "event", data, str(doc["name"])))
        return Answer(200, {})

    def merge_v1(self, _request: Request, body: _Body) -> Answer:
        doc = body.json if body.is_json and isinstance(body.json, dict) else {}
        found: list[str] = []
        problems: list[Problem] = []
        for side in ("primary", "secondary"):
            who = person_of(doc.get(side), side)
            if isinstance(who, list):
                problems += who
            else:
                found.append(who)
        if problems:
            return _meta(400, *(f"{p.field}: {p.message}" for p in problems))
        self.sandbox.apply(Operation(found[0], "merge", {}, secondary=found[1]))
        return Answer(200, {})

    def segment_v1(self, request: Request, body: _Body) -> Answer:
        """`POST /api/v1/segments/{id}/add_customers|remove_customers?id_type=…`."""
        parts = _raw_path(request)[len(SEGMENTS):].decode("latin-1").split("/")
        errors: list[str] = []
        segment = int(parts[0]) if parts[0].isdigit() else 0
        if not 0 < segment <= MAX_SEGMENT_ID:
            errors.append(f"segment_id: must be a whole number from 1 to {MAX_SEGMENT_ID}")
        id_type = request.query_params.get("id_type", "id")
        if id_type not in IDENTIFIER_KINDS:
            errors.append("id_type: must be one of " + ", ".join(IDENTIFIER_KINDS))
        ids = body.json.get("ids") if body.is_json and isinstance(body.json, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_SEGMENT_IDS:
            errors.append(f"ids: must be a list of 1 to {MAX_SEGMENT_IDS} identifiers")
        else:
            for i, value in enumerate(ids):
                errors += [f"{p.field}: {p.message}"
                           for p in identifier_problems(value, f"ids.{i}")]
        if errors or not isinstance(ids, list):
            return _meta(400, *errors)
        people = [f"cio_{v}" if id_type == "cio_id" else str(v) for v in ids]
        self.sandbox.segment(segment, people, parts[1] == "add_customers")
        return Answer(200, {})

    async def segments(self, request: Request) -> Response:
        raw = _raw_path(request)[len(SEGMENTS):].split(b"/")
        if len(raw) != 2 or raw[1] not in (b"add_customers", b"remove_customers"):
            return await self.refuse_route(request, 404)
        if request.method != "POST":
            return await self.refuse_route(request, 405)
        return await self.segment_post(request)

    def batch_v2(self, _request: Request, body: _Body) -> Answer:
        if len(body.raw) > MAX_BATCH_BYTES:
            return _errors(413, Problem("too_large", "", f"the batch is {len(body.raw)} bytes, "
                                        f"over the limit of {MAX_BATCH_BYTES}"))
        ops = body.json.get("batch") if isinstance(body.json, dict) else None
        if not isinstance(ops, list) or not ops:
            return _errors(400, Problem("invalid", "batch", "the body must be JSON "
                                        "{\"batch\": [operation, ...]} with at least one"))
        errors: list[dict[str, Any]] = []
        for index, op in enumerate(ops):
            parsed = parse_operation(op)
            if isinstance(parsed, Operation):
                self.sandbox.apply(parsed)
            else:
                errors += [{"batch_index": index, **asdict(p)} for p in parsed]
        return Answer(207, {"errors": errors}) if errors else Answer(200, {})

    def entity_v2(self, _request: Request, body: _Body) -> Answer:
        if len(body.raw) > MAX_ITEM_BYTES:
            return _errors(413, Problem("too_large", "", f"the operation is {len(body.raw)} "
                                        f"bytes, over the limit of {MAX_ITEM_BYTES}"))
        parsed = parse_operation(body.json) if body.is_json else [
            Problem("invalid", "", "the body must be one JSON operation")]
        if isinstance(parsed, list):
            return _errors(400, *parsed)
        self.sandbox.apply(parsed)
        return Answer(200, {})

    async def customers(self, request: Request) -> Response:
        # Only /api/v1/customers/{one encoded segment}; `%2F` stays inside the segment.
        raw = _raw_path(request)
        rest = raw[len(CUSTOMERS):].split(b"/") if raw.startswith(CUSTOMERS) else []
        if len(rest) == 2 and rest[0] and rest[1].decode("latin-1") in PERSON_POSTS:
            if request.method != "POST":
                return await self.refuse_route(request, 405)
            return await self.person_posts(request)
        if len(rest) != 1 or not rest[0]:
            return await self.refuse_route(request, 404)
        if request.method not in self.by_method:
            return await self.refuse_route(request, 405)
        return await self.by_method[request.method](request)

    async def release(self, _request: Request) -> Response:
        return Response(orjson.dumps({"released": self.sandbox.release()}),
                        media_type="application/json")

    def control(self, what: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if request.method == "DELETE":
                self.sandbox.clear(what)
                return Response(b"{}", media_type="application/json")
            if request.method == "POST":  # only /_sandbox/script takes one
                body = await _read(request)
                try:
                    if not body.is_json:
                        raise ValueError("the script must be JSON")
                    self.sandbox.add_script(parse_script(body.json))
                except ValueError as exc:
                    return Response(orjson.dumps({"error": "invalid_script",
                                                  "message": str(exc)}),
                                    400, media_type="application/json")
            return Response(self.sandbox._dump(what), media_type="application/json")
        return endpoint

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return await self.refuse_route(request, exc.status_code, exc.headers)

    def app(self) -> Starlette:
        routes = [
            Route("/api/v1/accounts/region", self.tracked(self.region), methods=["GET"]),
            Route("/api/v1/customers/{rest:path}", self.customers, methods=ALL_METHODS),
            Route("/api/v1/merge_customers", self.tracked(self.merge_v1), methods=["POST"]),
            Route("/api/v1/segments/{rest:path}", self.segments, methods=ALL_METHODS),
            Route("/api/v2/batch", self.tracked(self.batch_v2), methods=["POST"]),
            Route("/api/v2/entity", self.tracked(self.entity_v2), methods=["POST"]),
            Route("/_sandbox/people", self.control("people"), methods=["GET", "DELETE"]),
            Route("/_sandbox/requests", self.control("requests"), methods=["GET", "DELETE"]),
            Route("/_sandbox/segments", self.control("segments"), methods=["GET"]),
            Route("/_sandbox/events", self.control("events"), methods=["GET"]),
            Route("/_sandbox/script", self.control("script"), methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/release", self.release, methods=["POST"]),
        ]
        app = Starlette(routes=routes, exception_handlers={HTTPException: self.http_error})
        # `/api/v2/batch/` is a 404, as a redirect is no answer
        app.router.redirect_slashes = False
        return app


def create_app(sandbox: Sandbox) -> Starlette:
    """The sandbox's HTTP API: Track routes (recorded, scripted, authenticated) and controls."""
    return _Api(sandbox).app()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. Bound before the server starts, so the
    URL is known (and connectable) at once, and a busy port fails here as OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """The base URL of a listening socket, e.g. ``http://127.0.0.1:8081``."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(sandbox: Sandbox, *, quiet: bool = True) -> uvicorn.Server:
    """uvicorn around the sandbox; `quiet` leaves logging alone (tests, embedding)."""
    options: dict[str, Any] = {"log_config": None, "access_log": False} if quiet else {}
    return uvicorn.Server(uvicorn.Config(create_app(sandbox), lifespan="off",
                                         timeout_graceful_shutdown=2, **options))


@contextmanager
def running_sandbox(sandbox: Sandbox | None = None, host: str = "127.0.0.1",
                    start_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve `sandbox` on a free port in a background thread; yields its base URL, and stops
    it (held requests are released, in-flight ones get two seconds to finish) on exit."""
    sock = listen(host, 0)
    url = url_of(sock)
    sandbox = Sandbox() if sandbox is None else sandbox
    server = make_server(sandbox)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="customerio-sandbox", daemon=True)
    try:
        thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Customer.io sandbox did not start")
            time.sleep(0.005)
        yield url
    finally:
        sandbox.release()
        server.should_exit = True
        if thread.is_alive():
            thread.join(start_timeout_s)
        sock.close()
