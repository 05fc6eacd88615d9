"""Who may post: collect tokens, the admin token, and Customer.io webhook signatures
(docs/customerio.md).

Every comparison with a secret is constant-time (`hmac.compare_digest`), and every key is tried,
so the time an answer takes says nothing about which secret came close. Signatures are checked
on the exact request bytes, before anything parses them: re-serialised JSON would not verify.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SIGNATURE_HEADER = "x-cio-signature"
TIMESTAMP_HEADER = "x-cio-timestamp"


def request_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    """The token a request carries: ``?key=``, ``Authorization: Bearer``, or ``X-Api-Key``."""
    key = query.get("key")
    if key:
        return key
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


def token_ok(given: str | None, accepted: Iterable[str]) -> bool:
    """Whether `given` is one of the accepted tokens (empty tokens accept nothing)."""
    if not given:
        return False
    presented = given.encode()
    found = False
    for token in accepted:
        if token and hmac.compare_digest(presented, token.encode()):
            found = True  # no early exit: every token costs the same
    return found


def signature(key: str, timestamp: str, body: bytes) -> str:
    """Customer.io's X-CIO-Signature: hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>``."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Signatures:
    """The signing keys that guard one stream, and how old a signed request may be."""

    keys: tuple[str, ...]
    max_age_s: int = 300

    def check(self, headers: Mapping[str, str], body: bytes, now_s: float) -> str | None:
        """None when the request is signed by one of the keys; else why it is refused
        (the reason names no secret)."""
        sent = headers.get(SIGNATURE_HEADER, "").strip().lower()
        timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
        if not sent or not timestamp:
            return "missing X-CIO-Signature or X-CIO-Timestamp header"
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            return "X-CIO-Timestamp is not a Unix time in seconds"
        if self.max_age_s and abs(now_s - int(timestamp)) > self.max_age_s:
            return (f"X-CIO-Timestamp is {abs(now_s - int(timestamp)):.0f}s away from now "
                    f"(more than {self.max_age_s}s): a stale or replayed request")
        presented = sent.encode()
        found = False
        for key in self.keys:
            if hmac.compare_digest(presented, signature(key, timestamp, body).encode()):
                found = True  # no early exit: every key costs the same
        return None if found else "X-CIO-Signature does not match any signing key"
