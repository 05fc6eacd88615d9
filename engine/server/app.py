"""The HTTP API of the daemon (docs/http.md) as a Starlette application.

Collect requests, the hot path, skip it: a small ASGI callable in front (`_Front`) hands them
to their handler directly, without Starlette's routing and middleware stack, and passes
everything else on to the Starlette app.

Handlers stay thin: they authenticate, read and parse the body, and hand events to the `Writer`,
which answers once the events are durable. Every error is JSON ``{"error", "message"}`` with
the status docs/http.md names; no message ever repeats a secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from engine.engine import Engine, gc_paused
from engine.errors import RuntimeFailure, StoreUnavailable, UnknownName
from engine.exports import operations, service
from engine.lang.values import format_date, ms_to_date
from engine.pipeline.compiled import CompiledStream
from engine.pipeline.intake import Record, UnstorableRecord
from engine.program import Config
from engine.server.auth import Signatures, request_token, token_ok
from engine.server.bodies import BodyError, parse
from engine.server.connections import BODY_LATE, error_body
from engine.server.metrics import Metrics
from engine.server.processing import Processing
from engine.server.writer import QueueFull, Unstorable, Writer, WriterStopped
from engine.store import HISTORY_DAYS, Store
from engine.ui import ConsoleHost, create_console

T = TypeVar("T")

RETRY_AFTER_S = 1
APPLY_TIMEOUT_S = 30  # `?wait=applied`: how long an answer may wait for the processor
# Bodies above this are parsed on a worker thread, so that a big one cannot hold up every
# other request on the event loop; smaller ones parse inline, cheaper than a thread hop. One
# thread for all of them: parsing holds the GIL, and several parsing threads at once would
# each take turns with the event loop for it, where one leaves it waiting a few ms at most.
INLINE_PARSE_BYTES = 65_536
MAX_LISTED = 1000  # dead letters one admin request lists at most


@dataclass
class Daemon:
    """What the handlers share; `config` and `guards` are swapped together on reload."""

    config: Config
    writer: Writer
    reader: Engine
    metrics: Metrics
    processing: Processing | None = None  # None: events are logged, not applied (tests)
    collects: bool = True  # False: a `--role process` node, which refuses collect requests
    transport_ready: Callable[[], bool] | None = None  # None: no transport (the local log)
    # Over a transport: why the store did not answer when last asked (None: it did)
    store_failure: Callable[[], str | None] | None = None
    clock: Callable[[], float] = time.time  # seconds; signatures compare against it
    guards: dict[str, Signatures] = field(default_factory=dict)
    # streams whose undecodable bodies become dead letters instead of a 400
    keeps_undecodable: frozenset[str] = frozenset()

    @property
    def backlog(self) -> int:
        applied = self.processing.report.position if self.processing is not None else 0
        return max(0, self.writer.last_seq - applied)

    def __post_init__(self) -> None:
        self.use(self.config)

    def use(self, config: Config) -> None:
        self.config = config
        self.guards = signature_guards(config)
        self.keeps_undecodable = frozenset(
            imp.stream for imp in config.settings.imports
            if imp.on_undecodable == "dead_letter")


def signature_guards(config: Config) -> dict[str, Signatures]:
    """Per stream, the signing keys of the imports bound to it (docs/customerio.md)."""
    settings = config.settings
    auths = {a.name: a for a in settings.authorizations}
    keys: dict[str, list[str]] = {}
    ages: dict[str, list[int]] = {}
    for imp in settings.imports:
        auth = auths.get(imp.authorization)
        if auth is not None and auth.webhook_signing_keys:
            keys.setdefault(imp.stream, []).extend(auth.webhook_signing_keys)
            ages.setdefault(imp.stream, []).append(auth.webhook_max_age_s)
    # Several imports on one stream: the strictest age that is set wins.
    return {stream: Signatures(tuple(dict.fromkeys(k)),
                               min((a for a in ages[stream] if a), default=0))
            for stream, k in keys.items()}


# What a body that cannot be decoded is refused with; under `on_undecodable: dead_letter` it
# is logged as it came instead, and the processor dead-letters it (docs/http.md).
UNDECODABLE = frozenset({"malformed_body", "empty_body"})


@dataclass
class Undecodable:
    """A body kept as it came, to become a dead letter: its one log record."""

    record: Record


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None
          ) -> Response:
    return Response(error_body(code, message), status_code=status,
                    media_type="application/json", headers=headers)


def ok(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


def _query(request: Request) -> dict[str, str]:
    """A collect request's query parameters, the last value of each as with Starlette's
    `query_params`, without its multi-dict: every collect request carries its token there."""
    raw: bytes = request.scope.get("query_string", b"")
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}


async def _body(request: Request, limit: int) -> bytes:
    """The whole body; `BodyError` past `limit` bytes, or when the connection's protocol marks
    it late (`BODY_LATE`, the reason: it then wakes this reader with nothing new)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, "body_too_large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyError(400, "client_disconnected", "the body did not arrive whole")
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyError(413, "body_too_large", f"the body is over {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        late = None if chunk else request.scope.get("state", {}).get(BODY_LATE)
        if late:
            raise BodyError(408, "body_timeout", late)


def _records(body: bytes, content_type: str | None, stream: CompiledStream, received: int,
             max_events: int) -> list[Record]:
    """A body's events as log records; `BodyError` for a body or event the log cannot take."""
    with gc_paused():  # else collector passes over a big body's young dicts hold the GIL
        try:
            return stream.log_records(parse(body, content_type, max_events), received)
        except UnstorableRecord as exc:
            raise BodyError(422, "unstorable_event", str(exc)) from None


async def on_own_connection(daemon: Daemon, work: Callable[[Store, int], T]) -> T:
    """`work(store, now)` on a store connection of its own, on a worker thread: off the event
    loop, and reading what other processes (the CLI, other nodes) committed meanwhile.
    `StoreUnavailable` when the store does not answer."""
    reader = daemon.reader

    def run() -> T:
        store = reader.store.connect()
        try:
            return work(store, reader.clock())
        finally:
            store.close()

    return await asyncio.to_thread(run)


async def on_job(daemon: Daemon, name: str, work: Callable[[Store, str, int], Any], *,
                 changes: bool = True) -> dict[str, Any]:
    """`work(store, job, now)` for the export job `name` on a store connection of its own
    (`on_own_connection`), so that the processor's runner of the job (or another node's)
    learns of it from the store. After a change the processor is woken, so that the job's
    state shows at once. `UnknownName` for a job the config lacks, `StoreUnavailable` when the
    store does not answer."""
    job = service.job_of(daemon.reader, name).name
    answer = await on_own_connection(daemon, lambda store, now: work(store, job, now))
    if changes and daemon.processing is not None:
        daemon.processing.notify()
    return {"job": job, **answer}


def _pause_states(jobs: list[str]) -> Callable[[Store, int],
                                               dict[str, tuple[str | None, str | None]]]:
    """Who paused each job and why, as the store says now: a pause or resume from the command
    line reaches the processor's reports only at its next one, seconds later when idle."""
    return lambda store, _now: {job: operations.pause_state(store, job) for job in jobs}


def _fresh_pause(entry: dict[str, Any], paused_by: str | None, reason: str | None) -> None:
    """A job's reported state with the store's pause over it: paused as the store says, or,
    reported paused but no longer paused, starting again."""
    if entry["state"] in ("disabled", "failed"):
        return
    if paused_by is not None:
        entry.update(state="paused", paused_by=paused_by, last_error=reason)
    elif entry["state"] == "paused":
        entry.update(state="starting", paused_by=None, last_error=None)


def pause_job(store: Store, job: str, now: int) -> dict[str, Any]:
    since = operations.pause(store, job, now)
    return {"paused_by": operations.OPERATOR, "since": format_date(ms_to_date(since)),
            "reason": operations.held_reason(job, since)}


def resume_job(store: Store, job: str, _now: int) -> dict[str, Any]:
    return {"resumed": operations.resume(store, job), "outbox": store.outbox_depth(job)}


def replay_job(store: Store, job: str, now: int) -> dict[str, Any]:
    return {"replayed": operations.replay(store, job, now), "outbox": store.outbox_depth(job)}


def job_dead_letters(limit: int) -> Callable[[Store, str, int], dict[str, Any]]:
    return lambda store, job, _now: {"dead_letters": [
        d.as_dict() for d in operations.dead_letters(store, job, limit)]}


async def replay_dead_letters(daemon: Daemon, stream: str | None) -> dict[str, Any]:
    """Apply the dead letters (of `stream`, or all) again with the running config, by the
    daemon's processor between two slices: the one applier, so nothing races it, and each
    dead letter is applied once (docs/pipeline.md). `UnknownName` for a stream the config
    lacks; `RuntimeFailure` when no processor runs here or the replay failed."""
    streams = daemon.config.pipeline.streams
    if stream is not None and stream not in streams:
        raise UnknownName("stream", stream, sorted(n for n in streams if not n.startswith("_")))
    if daemon.processing is None:
        raise RuntimeFailure("no processor applies events in this daemon")
    return {"stream": stream, **await daemon.processing.replay_errors(stream)}


# What operating a job means, by the name of the admin route and the console's button.
JOB_ACTIONS: dict[str, Callable[[Store, str, int], dict[str, Any]]] = {
    "pause": pause_job, "resume": resume_job, "replay": replay_job}


class _Api:
    """The route handlers, over the daemon they share."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.metrics = daemon.metrics
        self.parser = ThreadPoolExecutor(1, thread_name_prefix="engine-parse")
        self._children: dict[str, tuple[Any, Any]] = {}

    def refuse(self, label: str, status: int, code: str, message: str, events: int = 0,
               headers: dict[str, str] | None = None) -> Response:
        """An error answer to a collect request, counted by stream and code."""
        self.metrics.requests_rejected.labels(label, code).inc()
        if events:
            self.metrics.events_rejected.labels(label, code).inc(events)
        return error(status, code, message, headers)

    def counters(self, stream: str) -> tuple[Any, Any]:
        """The stream's received-events counter and request-latency histogram, looked up once
        per stream rather than once per request (`labels` takes a lock and builds a key)."""
        children = self._children.get(stream)
        if children is None:
            m = self.metrics
            children = (m.events_in.labels(stream), m.request_seconds.labels(stream))
            self._children[stream] = children
        return children

    async def collect(self, request: Request) -> Response:
        start = time.perf_counter()
        stream = request.path_params["stream"]
        daemon = self.daemon
        label = stream if daemon.config.pipeline.stream(stream) is not None else "_unknown"
        if not daemon.collects:
            return self.refuse(label, 503, "not_collecting", "this node does not collect "
                               "events (--role process); send them to a collect node",
                               headers={"Retry-After": str(RETRY_AFTER_S)})
        query = _query(request)
        records = await self._read(request, stream, label, query)
        if isinstance(records, Response):
            return records
        if isinstance(records, Undecodable):
            self.metrics.bodies_undecodable.labels(stream).inc()
            records, undecodable = [records.record], True
        else:
            self.counters(stream)[0].inc(len(records))
            undecodable = False
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        if daemon.store_failure is not None and daemon.store_failure() is not None:
            # The transport would take them, but no node could apply them, dedupe them or
            # say they are there: the sender keeps them until the store is back.
            return self.refuse(label, 503, "storage_unavailable", "the store is unreachable; "
                               "retry later", len(records), retry)
        try:
            waiter = daemon.writer.submit_async(stream, records)
        except QueueFull:
            return self.refuse(label, 429, "queue_full", "the ingest queue is full; retry later",
                               len(records), retry)
        except WriterStopped as exc:
            return self.refuse(label, 503, "unavailable", str(exc), len(records), retry)
        try:
            accepted, duplicates, newest = await waiter
        except Unstorable as exc:
            return self.refuse(label, 422, "unstorable_event",
                               f"the events could not be stored: {exc}", len(records))
        except Exception:
            return self.refuse(label, 503, "storage_unavailable", "the events could not be "
                               "made durable; retry later", len(records), retry)
        self.counters(stream)[1].observe(time.perf_counter() - start)
        if daemon.processing is not None and query.get("wait") == "applied":
            try:
                await asyncio.wait_for(daemon.processing.applied(newest), APPLY_TIMEOUT_S)
            except TimeoutError:
                return error(504, "apply_timeout", f"the events are durable, but were not "
                             f"applied to profiles within {APPLY_TIMEOUT_S}s")
        if undecodable:
            return ok({"accepted": 0, "dead_lettered": 1})
        return ok({"accepted": accepted, "duplicates": duplicates})

    async def _read(self, request: Request, stream: str, label: str, query: Mapping[str, str]
                    ) -> list[Record] | Undecodable | Response:
        """A collect request's events as log records, or its body kept whole when it cannot
        be decoded and its stream keeps such bodies, or the answer that refuses them."""
        daemon = self.daemon
        config = daemon.config
        server = config.settings.server
        if not token_ok(request_token(query, request.headers), server.collect_tokens):
            return self.refuse(label, 401, "unauthorized", "a valid collect token is required: "
                               "?key=, Authorization: Bearer, or X-Api-Key")
        compiled = config.pipeline.stream(stream)
        if compiled is None or stream.startswith("_"):
            known = ", ".join(sorted(config.pipeline.streams))
            return self.refuse(label, 404, "unknown_stream", f"no stream named {stream!r}; "
                               f"streams in the config: {known}")
        if not compiled.spec.collectable:
            return self.refuse(label, 404, "not_collectable", compiled.spec.not_collectable())
        try:
            body = await _body(request, server.max_body_bytes)
            guard = daemon.guards.get(stream)
            if guard is not None:
                why = guard.check(request.headers, body, daemon.clock())
                if why is not None:
                    return self.refuse(label, 401, "bad_signature", why)
            received = int(daemon.clock() * 1000)
            args = (body, request.headers.get("content-type"), compiled, received,
                    server.max_events_per_request)
            try:
                if len(body) > INLINE_PARSE_BYTES:
                    return await asyncio.get_running_loop().run_in_executor(
                        self.parser, _records, *args)
                return _records(*args)
            except BodyError as exc:
                if exc.code in UNDECODABLE and stream in daemon.keeps_undecodable:
                    return Undecodable((None, received, body, None))
                raise
        except BodyError as exc:
            # A late body may still be coming: the answer closes the connection.
            close = {"Connection": "close"} if exc.status == 408 else None
            return self.refuse(label, exc.status, exc.code, exc.message, headers=close)

    def admin(self, request: Request) -> Response | None:
        """The refusal of an admin request without the admin token, or None."""
        token = self.daemon.config.settings.server.admin_token
        if not token:
            return error(403, "admin_disabled",
                         "the admin API is off: set server.admin_token to turn it on")
        if not token_ok(request_token(request.query_params, request.headers), [token]):
            return error(401, "unauthorized", "the admin token is required")
        return None

    async def profile(self, request: Request) -> Response:
        refused = self.admin(request)
        if refused is not None:
            return refused
        field_name = request.path_params["field"]
        value = request.path_params["value"]
        doc = self.daemon.reader.profile(field_name, value)
        if doc is None:
            return error(404, "not_found", f"no profile has {field_name} = {value!r}")
        return ok(doc)

    async def audiences(self, request: Request) -> Response:
        refused = self.admin(request)
        if refused is not None:
            return refused
        daemon = self.daemon
        sizes = daemon.processing.report.audiences if daemon.processing is not None else {}
        specs = daemon.config.audiences.audiences
        return ok({"audiences": [
            {"name": name, "description": spec.spec.description,
             "members": sizes.get(name, 0)} for name, spec in specs.items()]})

    async def audience_history(self, request: Request) -> Response:
        refused = self.admin(request)
        if refused is not None:
            return refused
        days = request.query_params.get("days", str(HISTORY_DAYS))
        if not (days.isascii() and days.isdigit() and len(days) <= 4
                and 0 < int(days) <= HISTORY_DAYS):
            return error(400, "bad_days", f"days must be a whole number from 1 to {HISTORY_DAYS}")
        name = request.path_params["name"]
        try:
            history = self.daemon.reader.audience_history(name, int(days))
        except UnknownName as exc:
            return error(404, "unknown_audience", str(exc))
        return ok({"audience": name, "days": history})

    async def exports(self, request: Request) -> Response:
        refused = self.admin(request)
        if refused is not None:
            return refused
        daemon = self.daemon
        status = daemon.processing.report.exports if daemon.processing is not None else {}
        names = list(daemon.config.exports.jobs)
        try:
            pauses = await on_own_connection(daemon, _pause_states(names)) if names else {}
        except StoreUnavailable as exc:
            return error(503, "storage_unavailable", f"the store cannot be reached: {exc}")
        jobs = []
        for name, job in daemon.config.exports.jobs.items():
            why = job.disabled()
            entry: dict[str, Any] = {
                "name": name, "audience": job.audience,
                "state": "disabled" if why else "starting", "paused_by": None,
                "outbox": None, "last_error": why,
                "sent": 0, "retried": 0, "dead": 0, "superseded": 0}
            entry.update({k: v for k, v in status.get(name, {}).items() if k != "delta"})
            _fresh_pause(entry, *pauses[name])
            jobs.append(entry)
        return ok({"exports": jobs})

    # ---- operating one export job (docs/customerio.md "Operations"): each works on a store
    # connection of its own, on a worker thread, and the processor's runner of the job, or
    # another node's, learns of it from the store

    async def _on_job(self, request: Request, work: Callable[[Store, str, int], Any], *,
                      changes: bool = True) -> Response:
        """`work(store, job, now)`'s answer for the job the path names, after the admin check."""
        refused = self.admin(request)
        if refused is not None:
            return refused
        try:
            return ok(await on_job(self.daemon, request.path_params["job"], work,
                                   changes=changes))
        except UnknownName as exc:
            return error(404, "unknown_job", str(exc))
        except StoreUnavailable as exc:
            return error(503, "storage_unavailable", f"the store cannot be reached: {exc}")

    async def export_dead_letters(self, request: Request) -> Response:
        limit = request.query_params.get("limit", "100")
        # ASCII digits, and few: "²" is a digit to isdigit() and not to int(), and int()
        # refuses thousands of digits
        if not (limit.isascii() and limit.isdigit() and len(limit) <= 6
                and 0 < int(limit) <= MAX_LISTED):
            return error(400, "bad_limit", f"limit must be a whole number from 1 to {MAX_LISTED}")
        return await self._on_job(request, job_dead_letters(int(limit)), changes=False)

    async def export_replay(self, request: Request) -> Response:
        return await self._on_job(request, replay_job)

    async def export_pause(self, request: Request) -> Response:
        return await self._on_job(request, pause_job)

    async def export_resume(self, request: Request) -> Response:
        return await self._on_job(request, resume_job)

    async def errors_replay(self, request: Request) -> Response:
        refused = self.admin(request)
        if refused is not None:
            return refused
        try:
            return ok(await replay_dead_letters(self.daemon,
                                                request.query_params.get("stream") or None))
        except UnknownName as exc:
            return error(404, "unknown_stream", str(exc))
        except RuntimeFailure as exc:
            return error(503, "replay_failed", f"the dead letters were not replayed: {exc}")

    async def healthz(self, _request: Request) -> Response:
        return ok({"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        daemon = self.daemon
        writer = daemon.writer
        reason = None
        if not writer.ready.is_set():
            reason = "the store is opening"
        elif not writer.alive:
            reason = f"the store is unavailable: {writer.failure or 'the writer stopped'}"
        elif daemon.transport_ready is not None and not daemon.transport_ready():
            reason = "the transport is not connected (NATS); reconnecting"
        elif daemon.store_failure is not None and (failure := daemon.store_failure()):
            reason = f"the store is unreachable; reconnecting: {failure}"
        elif daemon.processing is not None and not daemon.processing.alive:
            reason = "the processor is not running"
        elif daemon.processing is not None and daemon.processing.report.retrying:
            retrying = daemon.processing.report.retrying
            reason = (f"the processor cannot apply the event log ({retrying['failures']} "
                      f"attempts so far): {retrying['reason']}")
        else:
            try:
                daemon.reader.store.last_seq()
            except Exception as exc:
                reason = f"the store cannot be read: {exc}"
        if reason is not None:
            return ok({"ready": False, "reason": reason}, 503)
        return ok({"ready": True, "backlog": daemon.backlog,
                   "queue": writer.queued_events, "last_error": writer.last_error})

    async def prometheus(self, _request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error(404, "not_found", "no such route")
    if exc.status_code == 405:
        return error(405, "method_not_allowed", "this route does not take that method")
    return error(exc.status_code, "http_error", str(exc.detail))


COLLECT_PREFIX = "/collect/json/"


class _Front:
    """The daemon's ASGI app: collect POSTs go straight to their handler; everything else,
    lifespan included, to the Starlette app. A path Starlette's route would not match (a
    slash in the stream's name, a mounted root path) goes to Starlette too, which answers
    it as it always has."""

    def __init__(self, api: _Api, app: Starlette) -> None:
        self.api = api
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith(COLLECT_PREFIX):
                stream = path[len(COLLECT_PREFIX):]
                if stream and "/" not in stream:
                    scope["path_params"] = {"stream": stream}
                    scope["app"] = self.app
                    response = await self.api.collect(Request(scope, receive))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(daemon: Daemon, lifespan: Lifespan[Starlette] | None = None,
               console: ConsoleHost | None = None) -> ASGIApp:
    """The daemon's routes; with a `console` host, the web console under ``/ui/`` too."""
    api = _Api(daemon)
    routes: list[BaseRoute] = [
        Route("/collect/json/{stream}", api.collect, methods=["POST"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/metrics", api.prometheus, methods=["GET"]),
        Route("/api/profiles/{field}/{value}", api.profile, methods=["GET"]),
        Route("/api/audiences", api.audiences, methods=["GET"]),
        Route("/api/audiences/{name}/history", api.audience_history, methods=["GET"]),
        Route("/api/exports", api.exports, methods=["GET"]),
        Route("/api/exports/{job}/dead-letters", api.export_dead_letters, methods=["GET"]),
        Route("/api/exports/{job}/replay", api.export_replay, methods=["POST"]),
        Route("/api/exports/{job}/pause", api.export_pause, methods=["POST"]),
        Route("/api/exports/{job}/resume", api.export_resume, methods=["POST"]),
        Route("/api/errors/replay", api.errors_replay, methods=["POST"]),
    ]
    if console is not None:
        routes.append(Mount("/ui", app=create_console(console)))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error},
                    lifespan=lifespan)
    return _Front(api, app)
