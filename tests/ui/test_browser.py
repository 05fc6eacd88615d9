"""The console in a real browser (docs/console.md): headless Chromium, driven by Playwright,
against `engine serve` with the Customer.io samples posted. One browser and one daemon for the
module; a screenshot of every page goes to the run's temp folder.

Without Chromium the tests skip and say how to install it; under ``CI=true`` a missing browser
fails them instead."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.exports.sandbox import Sandbox, parse_script, running_sandbox
from tests.server.conftest import ADMIN, TOKEN, Daemon, fixture_bodies, start, write_config
from tests.server.test_dead_letter_replay import MAPPING as SIGNUPS
from tests.server.test_exports_daemon import AUDIENCE, _cio, _exports, _hook
from tests.services import poll
from tests.ui.test_playground import MAPPING as PASTED

CHROMIUM = "/usr/bin/chromium"
INSTALL = "apt-get install -y chromium (and the dev extra: pip install -e '.[dev]')"
JOB = "to_cio"
PHONE_WIDTH, PHONE_HEIGHT = 375, 800
PAGES = [
    "/ui/",
    "/ui/profiles?q=cio_customer_id=usr_48213",
    "/ui/audiences/engaged_email",
    f"/ui/exports/{JOB}",
    "/ui/dead-letters",
    "/ui/playground",
    "/ui/config",
]
# The controls a screen reader would announce without a name: each input, select and
# textarea needs a <label>, aria-label or aria-labelledby.
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
  .filter(e => e.type !== "hidden")
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
               && !e.getAttribute("aria-labelledby"))
  .map(e => e.outerHTML.slice(0, 120))"""
# What has the keyboard focus, by its id or its text, and whether focus is drawn.
FOCUSED = """() => {
  const e = document.activeElement;
  return {name: e.id ? "#" + e.id : e.textContent.trim(),
          outline: getComputedStyle(e).outlineStyle};
}"""

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra brings it
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None or not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"the browser tests need Chromium at {CHROMIUM}: {INSTALL}")
    pytest.skip(f"no Chromium at {CHROMIUM} or no Playwright: {INSTALL}", allow_module_level=True)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        box.url = url  # type: ignore[attr-defined]
        yield box


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("console")
    sandbox.add_script(parse_script([{"status": 400, "times": 50}]))  # refused until cleared
    running = start(
        write_config(
            folder,
            audiences=AUDIENCE,
            cio=_cio(sandbox.url),  # type: ignore[attr-defined]
            exports=_exports(),
        )
    )
    try:
        with running.client() as c:
            for _name, body in fixture_bodies():
                r = c.post("/collect/json/customerio", params={"key": TOKEN}, content=body)
                assert r.status_code in (200, 401), r.text  # the signed sample needs its key
            r = c.post(
                "/collect/json/customerio",
                params={"key": TOKEN, "wait": "applied"},
                content=json.dumps([_hook(1, 1), _hook(2, 2)]),
            )
            assert r.status_code == 200
        yield running
    finally:
        running.stop()
        running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def messages() -> list[str]:
    """What the browser's console said, on every tab: a blocked script or style says so
    there."""
    return []


@pytest.fixture(scope="module")
def page(browser: Browser, daemon: Daemon, messages: list[str]) -> Iterator[Page]:
    """A signed-in tab."""
    context = browser.new_context(base_url=daemon.url, viewport={"width": 1100, "height": 900})
    context.on("console", lambda message: messages.append(message.text))
    context.on("weberror", lambda error: messages.append(str(error.error)))
    tab = context.new_page()
    tab.goto("/ui/login")
    tab.get_by_label("Admin token").fill(ADMIN)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/ui/")
    yield tab
    context.close()


def _shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_signed_out_a_page_sends_to_sign_in_and_a_wrong_token_is_refused(
    browser: Browser, daemon: Daemon, shots: Path
) -> None:
    context = browser.new_context(base_url=daemon.url)
    tab = context.new_page()
    tab.goto("/ui/profiles?q=email=maria.lopez@example.com")
    assert "/ui/login" in tab.url
    _shot(tab, shots, "login")
    tab.get_by_label("Admin token").fill("not-the-token")
    tab.get_by_role("button", name="Sign in").click()
    assert "not the admin token" in tab.locator("[role=alert]").inner_text()
    tab.get_by_label("Admin token").fill(ADMIN)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/ui/profiles?q=*")  # back where it was going
    assert "usr_48213" in tab.content()
    context.close()


def test_the_overview_updates_live(page: Page, daemon: Daemon, shots: Path) -> None:
    page.goto("/ui/")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.get_by_role("link", name="engaged_email").is_visible()
    assert page.get_by_role("link", name=JOB).is_visible()
    _shot(page, shots, "overview")
    row = page.locator("#live tbody tr", has_text="customerio").first
    before = row.locator("td").nth(1).inner_text()
    with daemon.client() as c:
        r = c.post(
            "/collect/json/customerio",
            params={"key": TOKEN, "wait": "applied"},
            content=json.dumps([_hook(3, 3)]),
        )
        assert r.status_code == 200
    # no reload: the live part fetches itself again every two seconds
    page.wait_for_function(
        "before => document.querySelector('#live tbody tr td:nth-child(3)').textContent !== before",
        arg=before,
        timeout=15_000,
    )


def test_a_session_that_ends_under_the_live_overview_sends_the_page_to_sign_in(
    browser: Browser, daemon: Daemon
) -> None:
    context = browser.new_context(base_url=daemon.url)
    tab = context.new_page()
    tab.goto("/ui/login")
    tab.get_by_label("Admin token").fill(ADMIN)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/ui/")
    context.clear_cookies()  # as a restart or an expiry would
    tab.wait_for_url("**/ui/login", timeout=15_000)  # at the next refresh, the whole page
    assert tab.get_by_label("Admin token").is_visible()
    context.close()


def test_a_profile_is_found_by_email_with_where_each_field_came_from(
    page: Page, shots: Path
) -> None:
    page.goto("/ui/profiles")
    page.get_by_label("Identity (FIELD=VALUE)").fill("email=maria.lopez@example.com")
    page.get_by_role("button", name="Look up").click()
    page.wait_for_url("**/ui/profiles?q=*")
    text = page.locator("main").inner_text()
    assert "cio_customer_id=usr_48213" in text
    assert "Fields" in text and "Identities" in text and "Recent events" in text
    assert "customerio" in text  # the mapping and the stream that set the fields
    _shot(page, shots, "profile")


def test_an_audience_shows_its_chart_and_members_linking_to_profiles(
    page: Page, shots: Path
) -> None:
    page.goto("/ui/")
    page.get_by_role("link", name="engaged_email").click()
    page.wait_for_url("**/ui/audiences/engaged_email")
    assert page.locator("svg.chart").count() == 1
    assert page.locator("svg.chart rect.enter").count() >= 1
    _shot(page, shots, "audience")
    page.locator("main table a", has_text="usr_1").first.click()
    page.wait_for_url("**/ui/profiles?q=*")
    assert "engaged_email" in page.locator("main").inner_text()


def test_the_playground_shows_a_diagnostic_with_its_code_hint_and_caret(
    page: Page, shots: Path
) -> None:
    page.goto("/ui/playground")
    page.get_by_label("Expression", exact=True).fill("lowr(email)")
    page.get_by_label("Sample event").select_option("email_opened.json")
    page.get_by_role("button", name="Run").click()
    diagnostic = page.locator(".diagnostic")
    assert "E101" in diagnostic.inner_text()
    assert "Hint:" in diagnostic.inner_text()
    assert "^^^^" in diagnostic.locator("pre").inner_text()
    _shot(page, shots, "playground-error")
    page.get_by_label("Expression", exact=True).fill("tolower(data.identifiers.email)")
    page.get_by_role("button", name="Run").click()
    assert page.locator("#value").inner_text() == '"maria.lopez@example.com"'
    page.get_by_label("the config's mappings of a stream").check()
    page.get_by_role("button", name="Run").click()
    assert "Mapping customerio_users" in page.locator("#outcome").inner_text()
    _shot(page, shots, "playground-mapping")
    page.get_by_label("a pasted mapping file").check()
    page.get_by_role("textbox", name="Mapping file").fill(PASTED)
    page.get_by_role("button", name="Run").click()
    outcome = page.locator("#outcome").inner_text()
    assert "Mapping people" in outcome and "maria.lopez@example.com" in outcome


def test_an_export_job_is_paused_resumed_and_its_dead_letters_replayed(
    page: Page, daemon: Daemon, sandbox: Sandbox, shots: Path
) -> None:
    def dead_letters() -> int:
        page.goto(f"/ui/exports/{JOB}")
        return page.locator("tbody tr", has_text="identify").count()

    assert poll(lambda: dead_letters() > 0, 15)
    _shot(page, shots, "export")
    page.get_by_role("button", name="Pause").click()  # htmx swaps the job's panel
    page.locator("#job", has_text="Done: pause.").wait_for()
    assert page.url.endswith(f"/ui/exports/{JOB}")  # no page load
    assert poll(lambda: "paused" in _state(page), 10)
    page.get_by_role("button", name="Resume").click()
    assert poll(lambda: "paused" not in _state(page), 10)

    page.goto("/ui/dead-letters")
    _shot(page, shots, "dead-letters")
    people = len(sandbox.people())
    sandbox.clear("script")  # the cause is fixed
    page.get_by_role("button", name=f"Replay {JOB}'s dead letters").click()
    page.wait_for_url(f"**/ui/exports/{JOB}?done=replay")
    assert sandbox.wait_for(lambda: len(sandbox.people()) > people)
    assert poll(lambda: dead_letters() == 0, 15)


def _state(page: Page) -> str:
    page.goto(f"/ui/exports/{JOB}")
    return page.locator(".state").first.inner_text()


def test_a_post_without_the_csrf_token_is_refused(page: Page) -> None:
    # the session cookie goes along; only the form's token is missing
    r = page.request.post(f"/ui/exports/{JOB}/pause", form={"x": "1"})
    assert r.status == 403
    assert "paused" not in _state(page)


def test_the_config_page_masks_secrets(page: Page, shots: Path) -> None:
    page.goto("/ui/config")
    text = page.locator("main").inner_text()
    assert "[redacted]" in text and ADMIN not in text and "key-1" not in text
    assert "passed" in text
    _shot(page, shots, "config")


def test_every_page_is_usable_at_phone_width(browser: Browser, page: Page, shots: Path) -> None:
    state: Any = page.context.storage_state()
    base = page.url.split("/ui/")[0]
    signed_out = browser.new_context(
        base_url=base, viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT}
    )
    phone = browser.new_context(
        base_url=base, storage_state=state, viewport={"width": PHONE_WIDTH, "height": PHONE_HEIGHT}
    )
    try:
        for tab, path in [(signed_out.new_page(), "/ui/login")] + [
            (phone.new_page(), path) for path in PAGES
        ]:
            tab.goto(path)
            width = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (path, width)  # no scrolling sideways
            assert tab.evaluate(UNLABELLED) == [], path
            _shot(tab, shots, "phone-" + (path.strip("/").split("?")[0].replace("/", "-") or "ui"))
            tab.close()
    finally:
        signed_out.close()
        phone.close()


def test_every_control_of_every_page_has_a_label(page: Page) -> None:
    for path in PAGES:
        page.goto(path)
        assert page.evaluate(UNLABELLED) == [], path


def test_tab_from_the_top_reaches_the_search_in_page_order_with_focus_shown(
    page: Page,
) -> None:
    page.goto("/ui/profiles")
    seen: list[str] = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        seen.append(focused["name"])
        assert focused["outline"] != "none", focused  # :focus-visible draws an outline
        if focused["name"] == "#q":
            break
    assert seen[0] == "Skip to content"
    nav = ["Overview", "Profiles", "Dead letters", "Playground", "Config", "Sign out"]
    assert seen == ["Skip to content", *nav, "#q"], seen
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["name"] == "Look up"


def test_a_dead_letter_is_replayed_after_the_config_is_fixed_and_reloaded(
    browser: Browser, tmp_path: Path, shots: Path, messages: list[str]
) -> None:
    mapping = tmp_path / "signups.yaml"
    mapping.write_text(SIGNUPS % ("toint(age)", "int"))
    running = start(write_config(tmp_path, mapping=mapping))
    context = browser.new_context(base_url=running.url)
    context.on("console", lambda message: messages.append(message.text))
    try:
        with running.client() as c:
            r = c.post(
                "/collect/json/signups",
                params={"key": TOKEN, "wait": "applied"},
                json={"id": "1", "uid": "a", "age": "forty"},
            )
            assert r.status_code == 200
        tab = context.new_page()
        tab.goto("/ui/dead-letters")
        tab.get_by_label("Admin token").fill(ADMIN)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url("**/ui/dead-letters")
        assert "age failed to evaluate" in tab.locator("main").inner_text()

        mapping.write_text(SIGNUPS % ("tolower(age)", "string"))  # the fix
        tab.goto("/ui/config")
        tab.get_by_role("button", name="Reload the config (as SIGHUP)").click()
        tab.wait_for_url("**/ui/config?reload=ok")

        tab.goto("/ui/dead-letters")
        tab.get_by_label("Dead letters to replay").select_option("signups")
        _shot(tab, shots, "dead-letters-replay")
        tab.get_by_role("button", name="Replay dead letters").click()
        tab.wait_for_url("**/ui/dead-letters?replayed=1*")
        assert "Replayed: 1 applied, 0 failed again." in tab.locator("[role=status]").inner_text()
        assert "No dead letters." in tab.locator("main").inner_text()
        tab.goto("/ui/profiles?q=uid=a")
        row = tab.locator("tr", has=tab.locator("th", has_text="age"))
        assert '"forty"' in row.inner_text()
    finally:
        context.close()
        running.stop()
        running.close()


def test_no_page_broke_the_content_security_policy(page: Page, messages: list[str]) -> None:
    page.goto("/ui/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.goto(f"/ui/exports/{JOB}")
    assert messages == [m for m in messages if "Content Security Policy" not in m], messages
