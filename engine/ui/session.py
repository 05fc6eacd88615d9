"""Console sessions: a signed, expiring cookie, its CSRF token, and the sign-in rate limit
(docs/console.md).

The cookie holds ``expiry.csrf`` and an HMAC-SHA256 of it. The signing key is derived from a
random key of this process and the admin token, so a restart, or a reload that changes the
admin token, signs everyone out. Every comparison with a secret is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "engine_console"
SESSION_S = 8 * 3600  # a sign-in lasts a working day
FAILURES_ALLOWED = 5  # wrong tokens per client within FAILURE_WINDOW_S before it must wait
FAILURE_WINDOW_S = 60.0


@dataclass(frozen=True)
class Session:
    """A signed-in browser: when its session ends (epoch s) and its CSRF token."""

    expires: int
    csrf: str


class Sessions:
    """Issues and checks session cookies for one admin token."""

    def __init__(self, clock: Callable[[], float], key: bytes | None = None) -> None:
        self.clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)

    def _mac(self, admin_token: str, payload: str) -> str:
        key = hmac.new(self._key, admin_token.encode(), hashlib.sha256).digest()
        mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, admin_token: str) -> tuple[str, Session]:
        """A fresh session and the cookie value that carries it."""
        session = Session(int(self.clock()) + SESSION_S, secrets.token_urlsafe(24))
        payload = f"{session.expires}.{session.csrf}"
        return f"{payload}.{self._mac(admin_token, payload)}", session

    @staticmethod
    def token_ok(admin_token: str, given: str) -> bool:
        """Whether a sign-in gave the admin token (constant-time; an empty one never)."""
        return bool(admin_token) and hmac.compare_digest(given.encode(), admin_token.encode())

    def check(self, admin_token: str, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None: unsigned, forged, expired or malformed."""
        if not cookie or not admin_token or len(cookie) > 256:
            return None
        payload, _, mac = cookie.rpartition(".")
        expires, _, csrf = payload.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(admin_token, payload).encode()):
            return None
        if not (expires.isascii() and expires.isdigit()) or int(expires) <= self.clock():
            return None
        return Session(int(expires), csrf)


def csrf_ok(session: Session, given: str | None) -> bool:
    """Whether a request carries its session's CSRF token."""
    return bool(given) and hmac.compare_digest(session.csrf.encode(), (given or "").encode())


class SignInLimiter:
    """Wrong tokens per client address: after `FAILURES_ALLOWED` within the window, further
    attempts are refused until the oldest failure leaves it, so guessing the token is slow."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        seen = self._failures.setdefault(client, deque())
        while seen and seen[0] <= now - FAILURE_WINDOW_S:
            seen.popleft()
        if not seen:
            del self._failures[client]
        return seen

    def wait_s(self, client: str) -> int:
        """Seconds until `client` may try again; 0 when it may now."""
        seen = self._recent(client)
        if len(seen) < FAILURES_ALLOWED:
            return 0
        return max(1, int(seen[0] + FAILURE_WINDOW_S - self.clock()) + 1)

    def failed(self, client: str) -> None:
        self._recent(client)
        self._failures.setdefault(client, deque()).append(self.clock())
