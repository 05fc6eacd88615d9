"""The web console (docs/console.md): server-rendered pages under ``/ui/`` over the engine
façade, mounted by ``engine serve``.

Every route but the sign-in form and the stylesheet needs a session; every POST also needs the
session's CSRF token. The console answers 404 while no admin token is configured, and every
answer carries a Content-Security-Policy without inline script.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import EngineError, RuntimeFailure, UnknownName
from engine.lang.values import format_date, ms_to_date
from engine.testing import run_config_tests
from engine.ui import chart, playground
from engine.ui.host import ConsoleHost
from engine.ui.session import COOKIE, SESSION_S, Session, Sessions, SignInLimiter, csrf_ok

Handler = Callable[[Request, Session], Awaitable[Response]]
T = TypeVar("T")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
# Assets by path under static/: the stylesheet is public (the sign-in form uses it), the
# script (htmx, vendored: static/vendor/README.md) is not.
ASSETS = {
    "style.css": ("text/css; charset=utf-8", True),
    "vendor/htmx.min.js": ("text/javascript; charset=utf-8", False),
}
PAGE = 50  # audience members per page
CHART_DAYS = 90  # the audience chart's span
OVERVIEW_S = 1.0  # how long the overview's figures are shown again before a fresh read
RECENT_EVENTS = 20
PLAYGROUND_FIELDS = ("mode", "expr", "mapping", "event", "fixture", "stream")
REPLAY_COUNTS = ("replayed", "failed_again", "left")  # what a dead-letter replay tells
MAX_FORM_BYTES = 262_144  # a pasted mapping or event fits; more is not a console form


class _Headers:
    """Adds the security headers to every answer of the console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, sending)


class FormTooLarge(Exception):
    """A form body over `MAX_FORM_BYTES`."""


async def _form(request: Request) -> dict[str, str]:
    """A URL-encoded form's fields, the first value of each; the console's forms post no
    files, so no multipart parser is needed."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _date(ms: int | None) -> str:
    return "" if ms is None else format_date(ms_to_date(ms))


class Console:
    """The console's routes over one daemon."""

    def __init__(self, host: ConsoleHost, clock: Callable[[], float] = time.time) -> None:
        self.host = host
        self.clock = clock
        self.sessions = Sessions(clock)
        self.limiter = SignInLimiter(clock)
        self.templates = Environment(
            loader=PackageLoader("engine.ui", "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["json"] = playground.as_json
        self._sample: tuple[float, dict[str, int]] | None = None  # for events/s
        self._shown: tuple[float, dict[str, Any]] | None = None  # when last read, and what
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="engine-console")

    # ---- sessions

    @property
    def token(self) -> str:
        return self.host.config.settings.server.admin_token or ""

    def session(self, request: Request) -> Session | None:
        return self.sessions.check(self.token, request.cookies.get(COOKIE))

    def guarded(
        self, handler: Handler, *, post: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` behind the console switch, the session and, for a POST, the CSRF check."""

        async def endpoint(request: Request) -> Response:
            if not self.token:
                return HTMLResponse("Not found", 404)
            session = self.session(request)
            if session is None:
                if _htmx(request):
                    # the session ended under an open page: the whole page goes to sign in,
                    # rather than the sign-in form swapped into a fragment
                    response = HTMLResponse("Sign in first", 403 if post else 401)
                    response.headers["HX-Redirect"] = "/ui/login"
                    return response
                if post:
                    return HTMLResponse("Sign in first", 403)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/login?{urlencode({'next': target})}", 303)
            if post:
                try:
                    form = await _form(request)
                except FormTooLarge:
                    return HTMLResponse("The form is too large", 413)
                request.state.form = form
                given = request.headers.get("x-csrf-token") or form.get("csrf")
                if not csrf_ok(session, given):
                    return HTMLResponse("Missing or wrong CSRF token", 403)
            return await handler(request, session)

        return endpoint

    def render(
        self, template: str, session: Session | None, http_status: int = 200, **context: Any
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            csrf=session.csrf if session else "", **context
        )
        return HTMLResponse(html, http_status)

    # ---- sign-in

    async def login_form(self, request: Request) -> Response:
        if not self.token:
            return HTMLResponse("Not found", 404)
        return self.render("login.html", None, next=_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        if not self.token:
            return HTMLResponse("Not found", 404)
        client = request.client.host if request.client else "?"
        try:
            form = await _form(request)
        except FormTooLarge:
            return HTMLResponse("The form is too large", 413)
        target = _next(form.get("next"))
        wait = self.limiter.wait_s(client)
        if wait:
            response = self.render(
                "login.html",
                None,
                429,
                next=target,
                error=f"Too many wrong tokens; try again in {wait} s.",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        if not self.sessions.token_ok(self.token, form.get("token", "")):
            self.limiter.failed(client)
            return self.render(
                "login.html", None, 401, next=target, error="That is not the admin token."
            )
        cookie, _session = self.sessions.issue(self.token)
        redirect = RedirectResponse(target, 303)
        redirect.set_cookie(
            COOKIE,
            cookie,
            max_age=SESSION_S,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return redirect

    async def logout(self, _request: Request, _session: Session) -> Response:
        response = RedirectResponse("/ui/login", 303)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not self.token or name not in ASSETS:
            return HTMLResponse("Not found", 404)
        media, public = ASSETS[name]
        if not public and self.session(request) is None:
            return HTMLResponse("Sign in first", 403)
        body = resources.files("engine.ui").joinpath("static", *name.split("/")).read_bytes()
        return Response(body, media_type=media)

    # ---- pages: what they read, they read on the console's own thread (`_off`)

    async def _off(self, work: Callable[[], T]) -> T:
        """`work()` on the console's worker thread, the one thread that uses its engine, so
        that a slow read (a count over the whole log, a config test on a scratch store)
        never holds up the daemon's event loop and its collect requests."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def _overview(self) -> dict[str, Any]:
        """The overview's figures, computed at most once per `OVERVIEW_S` however many
        browsers poll them."""
        now = self.clock()
        if self._shown is not None and now - self._shown[0] < OVERVIEW_S:
            return self._shown[1]
        engine = self.host.engine
        status = engine.status()
        collected = {name: row["collected"] for name, row in status["streams"].items()}
        rates = {name: 0.0 for name in collected}
        if self._sample is not None and now > self._sample[0]:
            then, before = self._sample
            rates = {
                name: max(0, n - before.get(name, 0)) / (now - then)
                for name, n in collected.items()
            }
        self._sample = (now, collected)
        runners = self.host.export_status()
        jobs = engine.export_jobs.jobs
        exports = [
            {
                **job,
                "runner": runners.get(job["job"], {}),
                "limit": jobs[job["job"]].spec.rate_limit_per_s if job["job"] in jobs else None,
            }
            for job in status["exports"]
        ]
        data = {
            "status": status,
            "rates": rates,
            "audiences": engine.audience_sizes(),
            "exports": exports,
        }
        self._shown = (now, data)
        return data

    async def overview(self, _request: Request, session: Session) -> Response:
        data = await self._off(self._overview)
        return self.render("overview.html", session, page="overview", **data)

    async def overview_live(self, _request: Request, session: Session) -> Response:
        return self.render("overview_live.html", session, **await self._off(self._overview))

    async def profiles(self, request: Request, session: Session) -> Response:
        q = request.query_params.get("q", "").strip()
        context: dict[str, Any] = {"page": "profiles", "q": q}
        if q:
            field, sep, value = q.partition("=")
            field, value = field.strip(), value.strip()
            if not sep or not field:
                context["error"] = "Look up as FIELD=VALUE, e.g. email=a@example.com."
            else:
                found = await self._off(lambda: self._profile(field, value))
                if found is None:
                    context["error"] = f"No profile has {field} = {value!r}."
                else:
                    context.update(found)
        return self.render("profiles.html", session, **context)

    def _profile(self, field: str, value: str) -> dict[str, Any] | None:
        engine = self.host.engine
        found = engine.explain(field, value)
        if found is None:
            return None
        profile = found["profile"]
        memberships = engine.profile_audiences(profile["_id"])
        events: dict[int, dict[str, Any]] = {}
        for entry in found["fields"].values():
            events.setdefault(entry["event"]["seq"], entry["event"])
        recent = [events[seq] for seq in sorted(events, reverse=True)[:RECENT_EVENTS]]
        merges = {
            f"{k}={v}": n
            for k, values in profile["_identities"].items()
            for v in values
            if (n := engine.identity_merges(k, v))
        }
        return {
            "profile": profile,
            "fields": found["fields"],
            "audiences": {a: _date(ms) for a, ms in sorted(memberships.items())},
            "events": recent,
            "merges": merges,
        }

    async def audience_page(self, request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        after = request.query_params.get("after", "0")
        after_id = int(after) if after.isascii() and after.isdigit() and len(after) < 19 else 0
        try:
            data = await self._off(lambda: self._audience(name, after_id))
        except UnknownName as exc:
            return self.render("error.html", session, 404, message=str(exc))
        return self.render("audience.html", session, page="audiences", name=name, **data)

    def _audience(self, name: str, after: int) -> dict[str, Any]:
        engine = self.host.engine
        history = engine.audience_history(name, CHART_DAYS)
        members = list(engine.audience_members(name, limit=PAGE + 1, after=after))
        today = ms_to_date(int(self.clock() * 1000)).date()
        series = chart.days(history, today, CHART_DAYS)
        return {
            "description": engine.config.audiences.audiences[name].spec.description,
            "size": engine.audience_sizes().get(name, 0),
            "chart": Markup(chart.svg(name, series)),  # noqa: S704 -- svg() escapes its text
            "days": CHART_DAYS,
            "moves": [d for d in reversed(series) if d.entered or d.exited][:14],
            "members": [_member(m) for m in members[:PAGE]],
            "next_after": members[PAGE - 1]["_id"] if len(members) > PAGE else None,
        }

    async def exports_page(self, request: Request, session: Session) -> Response:
        name = request.path_params["job"]
        try:
            return await self._job(name, session, "export.html", request.query_params.get("done"))
        except UnknownName as exc:
            return self.render("error.html", session, 404, message=str(exc))

    async def _job(self, name: str, session: Session, template: str, done: str | None) -> Response:
        """An export job's page, or its panel alone (`export_job.html`, what htmx swaps in)."""
        letters = await self.host.operate(name, "dead-letters")
        self._shown = None  # show the job as it is now
        overview = await self._off(self._overview)
        job = next(j for j in overview["exports"] if j["job"] == name)
        return self.render(
            template,
            session,
            page="exports",
            job=job,
            dead_letters=letters["dead_letters"],
            done=done,
        )

    async def export_action(self, request: Request, session: Session) -> Response:
        name, action = request.path_params["job"], request.path_params["action"]
        if action not in ("pause", "resume", "replay"):
            return self.render("error.html", session, 404, message=f"no action {action!r}")
        try:
            await self.host.operate(name, action)
        except UnknownName as exc:
            return self.render("error.html", session, 404, message=str(exc))
        if _htmx(request):
            return await self._job(name, session, "export_job.html", action)
        return RedirectResponse(f"/ui/exports/{quote(name)}?done={action}", 303)

    async def dead_letters(self, request: Request, session: Session) -> Response:
        jobs = []
        for name in sorted(self.host.config.exports.jobs):
            letters = (await self.host.operate(name, "dead-letters"))["dead_letters"]
            jobs.append({"job": name, "dead_letters": letters})

        def read() -> tuple[list[dict[str, Any]], int, dict[str, int]]:
            engine = self.host.engine
            letters = [d.as_dict() for d in engine.errors(limit=100)]
            return letters, engine.error_count(), engine.error_counts()

        errors, total, streams = await self._off(read)
        query = request.query_params
        return self.render(
            "dead_letters.html",
            session,
            page="dead-letters",
            errors=errors,
            total=total,
            streams=dict(sorted(streams.items())),
            jobs=jobs,
            done=query.get("done"),
            replayed={k: query[k] for k in REPLAY_COUNTS if query.get(k, "").isdigit()},
            problem=query.get("problem"),
        )

    async def errors_replay(self, request: Request, session: Session) -> Response:
        """Apply the dead letters (of the form's `stream`, or all) again after a config fix,
        by the daemon's applier while it runs (docs/console.md)."""
        stream = request.state.form.get("stream") or None
        try:
            result = await self.host.replay_dead_letters(stream)
        except UnknownName as exc:
            return self.render("error.html", session, 404, message=str(exc))
        except RuntimeFailure as exc:
            query = urlencode({"problem": self.host.redact(str(exc))[:500]})
            return RedirectResponse(f"/ui/dead-letters?{query}", 303)
        self._shown = None  # the overview's dead letters change
        counts = {k: result[k] for k in REPLAY_COUNTS}
        return RedirectResponse(f"/ui/dead-letters?{urlencode(counts)}", 303)

    async def playground_page(self, request: Request, session: Session) -> Response:
        return self.render(
            "playground.html", session, page="playground", **self._playground_form({})
        )

    def _playground_form(self, form: dict[str, str]) -> dict[str, Any]:
        streams = sorted(n for n in self.host.config.pipeline.streams if not n.startswith("_"))
        names = list(playground.fixtures())
        return {
            "streams": streams,
            "fixtures": names,
            "form": {
                "mode": "expression",
                "expr": "",
                "mapping": "",
                "event": "",
                "fixture": names[0] if names else "",
                "stream": streams[0] if streams else "",
                **form,
            },
        }

    async def playground_run(self, request: Request, session: Session) -> Response:
        raw: dict[str, str] = request.state.form
        form = {k: v for k, v in raw.items() if k in PLAYGROUND_FIELDS}
        config, now = self.host.config, int(self.clock() * 1000)

        def run() -> playground.Outcome:
            try:
                event = playground.read_event(form.get("event", ""), form.get("fixture", ""))
            except EngineError as exc:
                return playground.Outcome(problem=str(exc))
            stream = form.get("stream", "")
            if form.get("mode") == "mapping":
                return playground.run_mapping(form.get("mapping", ""), stream, event, now)
            if form.get("mode") == "stream":
                return playground.run_stream(config, stream, event, now)
            return playground.run_expression(form.get("expr", ""), event)

        outcome = await self._off(run)
        return self.render(
            "playground.html",
            session,
            page="playground",
            outcome=outcome,
            **self._playground_form(form),
        )

    async def config_page(self, request: Request, session: Session) -> Response:
        config = self.host.config
        try:
            text = Path(config.path).read_text(encoding="utf-8")
        except OSError as exc:
            text = f"(the config file cannot be read: {exc.strerror})"
        results = await self._off(lambda: run_config_tests(config))
        return self.render(
            "config.html",
            session,
            page="config",
            path=config.path,
            text=self.host.redact(text),
            tests=results,
            failed=sum(not r.ok for r in results),
            reload=request.query_params.get("reload"),
            reason=request.query_params.get("reason"),
        )

    async def config_reload(self, _request: Request, _session: Session) -> Response:
        why = await self.host.reload()
        if why is None:
            return RedirectResponse("/ui/config?reload=ok", 303)
        query = urlencode({"reload": "failed", "reason": self.host.redact(why)[:500]})
        return RedirectResponse(f"/ui/config?{query}", 303)


def _member(doc: dict[str, Any]) -> dict[str, Any]:
    """An audience member as its row shows it: an identity that finds it, and when it
    entered."""
    identities = doc.get("_identities", {})
    lookup = next((f"{k}={v[0]}" for k, v in identities.items() if v), None)
    return {"id": doc["_id"], "lookup": lookup, "entered": doc.get("_entered", "")}


def _htmx(request: Request) -> bool:
    """Whether htmx sent the request, so it wants the fragment to swap rather than a
    redirect to the whole page (a form posted without script gets the redirect)."""
    return request.headers.get("hx-request") == "true"


def _next(target: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


def create_console(host: ConsoleHost, clock: Callable[[], float] = time.time) -> ASGIApp:
    """The console's ASGI app, to mount at ``/ui``."""
    console = Console(host, clock)
    g = console.guarded
    routes = [
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/logout", g(console.logout, post=True), methods=["POST"]),
        Route("/static/{name:path}", console.asset, methods=["GET"]),
        Route("/", g(console.overview), methods=["GET"]),
        Route("/live/overview", g(console.overview_live), methods=["GET"]),
        Route("/profiles", g(console.profiles), methods=["GET"]),
        Route("/audiences/{name}", g(console.audience_page), methods=["GET"]),
        Route("/exports/{job}", g(console.exports_page), methods=["GET"]),
        Route("/exports/{job}/{action}", g(console.export_action, post=True), methods=["POST"]),
        Route("/dead-letters", g(console.dead_letters), methods=["GET"]),
        Route("/dead-letters/replay", g(console.errors_replay, post=True), methods=["POST"]),
        Route("/playground", g(console.playground_page), methods=["GET"]),
        Route("/playground", g(console.playground_run, post=True), methods=["POST"]),
        Route("/config", g(console.config_page), methods=["GET"]),
        Route("/config/reload", g(console.config_reload, post=True), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.console = console
    return _Headers(app)
