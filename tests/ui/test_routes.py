"""The console's routes in process, over a stand-in for the daemon (docs/console.md): nothing
but the sign-in form and its stylesheet answers without a session, every POST needs the CSRF
token, every answer carries the security headers, and the console is off without an admin
token."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from engine.engine import Engine
from engine.errors import UnknownName
from engine.program import Config, load_config
from engine.ui import create_console
from engine.ui.app import ASSETS
from engine.ui.session import FAILURES_ALLOWED
from tests.server.conftest import ADMIN, write_config
from tests.server.test_exports_daemon import AUDIENCE, _exports

PUBLIC = {("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/static/style.css")}
PARAMS = {"job": "to_cio", "action": "pause"}


class Host:
    """The daemon as the console sees it, over an engine of the test's own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.operated: list[tuple[str, str]] = []
        self.reloads = 0
        self.replays: list[str | None] = []

    @property
    def config(self) -> Config:
        return self.engine.config

    def export_status(self) -> dict[str, dict[str, Any]]:
        return {}

    async def operate(self, job: str, action: str) -> dict[str, Any]:
        if job not in self.engine.export_jobs.jobs:
            raise UnknownName("export job", job, list(self.engine.export_jobs.jobs))
        self.operated.append((job, action))
        return {"job": job, "dead_letters": []}

    async def replay_dead_letters(self, stream: str | None) -> dict[str, Any]:
        if stream not in (None, "customerio"):
            raise UnknownName("stream", stream or "", ["customerio"])
        self.replays.append(stream)
        return {"stream": stream, "replayed": 2, "failed_again": 1, "left": 0}

    async def reload(self) -> str | None:
        self.reloads += 1
        return None

    def redact(self, text: str) -> str:
        return text.replace(ADMIN, "[redacted]")


class Browser:
    """A browser of the test's own: the app in process, its cookies kept between requests."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.cookies = httpx.Cookies()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1", cookies=self.cookies
            ) as c:
                response = await c.request(method, path, **kwargs)
                self.cookies = c.cookies
                return response

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


def _app(host: Host) -> tuple[Starlette, Any]:
    console = create_console(host)
    return Starlette(routes=[Mount("/ui", app=console)]), console


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    config = load_config(write_config(tmp_path, audiences=AUDIENCE, exports=_exports()))
    with Engine(config) as engine:
        yield Host(engine)


@pytest.fixture
def client(host: Host) -> Iterator[Browser]:
    app, _console = _app(host)
    yield Browser(app)


def _signed_in(client: Browser) -> str:
    r = client.post("/ui/login", data={"token": ADMIN, "next": "/ui/"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    page = client.get("/ui/playground").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _routes(host: Host) -> list[tuple[str, str]]:
    _unused, console = _app(host)
    found = []
    for route in console.app.routes:
        assert isinstance(route, Route)
        names = ASSETS if route.path.startswith("/static/") else ["engaged_email"]
        for name in names:
            template = route.path.replace("{name:path}", "{name}")
            path = "/ui" + template.format(**{**PARAMS, "name": name})
            found += [(m, path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


def test_no_route_but_the_sign_in_form_answers_without_a_session(
    host: Host, client: Browser
) -> None:
    routes = _routes(host)
    assert len(routes) >= 16 and set(routes) >= PUBLIC
    for method, path in routes:
        r = client.request(method, path)
        if (method, path) in PUBLIC:
            assert r.status_code in (200, 401), (method, path)
        elif method == "GET" and not path.startswith("/ui/static/"):
            assert r.status_code == 303, (method, path)
            assert r.headers["location"].startswith("/ui/login?next="), (method, path)
        else:
            assert r.status_code == 403, (method, path)
        assert r.headers["x-frame-options"] == "DENY"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    assert host.operated == [] and host.reloads == 0 and host.replays == []


def test_a_signed_in_browser_sees_every_page(host: Host, client: Browser) -> None:
    _signed_in(client)
    for path in (
        "/ui/",
        "/ui/live/overview",
        "/ui/profiles",
        "/ui/exports/to_cio",
        "/ui/dead-letters",
        "/ui/playground",
        "/ui/config",
        "/ui/static/vendor/htmx.min.js",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/ui/exports/nope").status_code == 404
    assert client.get("/ui/audiences/nope").status_code == 404
    assert "<svg" in client.get("/ui/audiences/engaged_email").text


def test_every_post_needs_the_sessions_csrf_token(host: Host, client: Browser) -> None:
    csrf = _signed_in(client)
    assert client.post("/ui/exports/to_cio/pause").status_code == 403
    assert client.post("/ui/exports/to_cio/pause", data={"csrf": "forged"}).status_code == 403
    assert host.operated == []
    r = client.post("/ui/exports/to_cio/pause", data={"csrf": csrf})
    assert r.status_code == 303 and host.operated == [("to_cio", "pause")]
    r = client.post("/ui/config/reload", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 303 and host.reloads == 1


def test_dead_letters_are_replayed_by_the_daemon_for_one_stream_or_all(
    host: Host, client: Browser
) -> None:
    csrf = _signed_in(client)
    assert client.post("/ui/dead-letters/replay", data={"stream": ""}).status_code == 403
    r = client.post("/ui/dead-letters/replay", data={"csrf": csrf, "stream": ""})
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/dead-letters?replayed=2&failed_again=1&left=0"
    assert "Replayed: 2 applied, 1 failed again." in client.get(r.headers["location"]).text
    r = client.post("/ui/dead-letters/replay", data={"csrf": csrf, "stream": "customerio"})
    assert r.status_code == 303 and host.replays == [None, "customerio"]
    r = client.post("/ui/dead-letters/replay", data={"csrf": csrf, "stream": "nope"})
    assert r.status_code == 404 and host.replays == [None, "customerio"]


def test_htmx_without_a_session_sends_the_whole_page_to_sign_in(client: Browser) -> None:
    r = client.get("/ui/live/overview", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/ui/login"
    r = client.post("/ui/exports/to_cio/pause", headers={"HX-Request": "true"})
    assert r.status_code == 403 and r.headers["hx-redirect"] == "/ui/login"


def test_htmx_gets_the_job_panel_to_swap_and_a_plain_form_the_redirect(
    host: Host, client: Browser
) -> None:
    csrf = _signed_in(client)
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    r = client.post("/ui/exports/to_cio/resume", headers=headers)
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="job"')
    assert "Done: resume." in r.text and "<html" not in r.text
    page = client.get("/ui/").text
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf}"}}\'' in page
    assert 'hx-get="/ui/live/overview" hx-trigger="every 2s"' in page
    assert '"includeIndicatorStyles": false' in page


def test_wrong_tokens_are_refused_then_rate_limited(client: Browser) -> None:
    for _ in range(FAILURES_ALLOWED):
        assert client.post("/ui/login", data={"token": "guess"}).status_code == 401
    r = client.post("/ui/login", data={"token": ADMIN})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "set-cookie" not in r.headers


def test_sign_in_goes_back_only_to_a_console_page(client: Browser) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/metrics"):
        r = client.post("/ui/login", data={"token": ADMIN, "next": target})
        assert r.headers["location"] == "/ui/"


def test_the_config_page_masks_secrets(client: Browser) -> None:
    _signed_in(client)
    page = client.get("/ui/config").text
    assert ADMIN not in page and "[redacted]" in page


def test_the_console_is_off_without_an_admin_token(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, admin=""))
    with Engine(config) as engine:
        host = Host(engine)
        app, _console = _app(host)
        c = Browser(app)
        for method, path in _routes(host):
            assert c.request(method, path).status_code == 404, (method, path)
