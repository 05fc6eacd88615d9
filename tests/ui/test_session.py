"""Console sessions (docs/console.md): signed, expiring cookies, CSRF tokens, and the sign-in
rate limit, on an injected clock."""

from __future__ import annotations

from engine.ui.session import (
    FAILURE_WINDOW_S,
    FAILURES_ALLOWED,
    SESSION_S,
    Sessions,
    SignInLimiter,
    csrf_ok,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_cookie_holds_its_session_until_it_expires() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    cookie, session = sessions.issue("admin")
    assert sessions.check("admin", cookie) == session
    clock.now += SESSION_S - 1
    assert sessions.check("admin", cookie) == session
    clock.now += 1
    assert sessions.check("admin", cookie) is None


def test_a_forged_or_foreign_cookie_is_refused() -> None:
    clock = Clock()
    sessions = Sessions(clock)
    cookie, _session = sessions.issue("admin")
    payload, _, mac = cookie.rpartition(".")
    expires, _, csrf = payload.partition(".")
    longer = f"{int(expires) + 10**6}.{csrf}.{mac}"
    assert sessions.check("admin", longer) is None  # the expiry is signed
    assert sessions.check("other-token", cookie) is None  # a changed admin token signs out
    assert Sessions(clock).check("admin", cookie) is None  # another process, another key
    for junk in ("", "x", "..", "1.2.3", "a" * 1000, None):
        assert sessions.check("admin", junk) is None
    assert sessions.check("", cookie) is None  # no admin token: no session at all


def test_csrf_tokens_match_only_their_session() -> None:
    sessions = Sessions(Clock())
    _c1, one = sessions.issue("admin")
    _c2, two = sessions.issue("admin")
    assert csrf_ok(one, one.csrf)
    assert not csrf_ok(one, two.csrf)
    assert not csrf_ok(one, None) and not csrf_ok(one, "")


def test_the_admin_token_is_compared_whole() -> None:
    assert Sessions.token_ok("admin", "admin")
    assert not Sessions.token_ok("admin", "admi")
    assert not Sessions.token_ok("admin", "admin2")
    assert not Sessions.token_ok("", "")


def test_wrong_tokens_are_rate_limited_per_client_within_a_window() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock)
    for _ in range(FAILURES_ALLOWED):
        assert limiter.wait_s("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.wait_s("10.0.0.1") > 0
    assert limiter.wait_s("10.0.0.2") == 0  # another client is not held back
    clock.now += FAILURE_WINDOW_S
    assert limiter.wait_s("10.0.0.1") == 0
