"""Customer.io webhook signatures (docs/http.md): good, bad, missing, stale, future-dated, rotated.

Requests are signed here by `cio_signature`, written from Customer.io's documented recipe
(docs/http.md) and checked against its worked example, not by the engine's own `signature()`:
a signer and a verifier that share a mistake would otherwise agree with each other. The age
window is tested at both edges, in both directions, against the daemon's injected clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from engine import Config, load_config
from engine.engine import Engine
from engine.server.app import Daemon, create_app
from engine.server.auth import Signatures, signature
from engine.server.metrics import Live, Metrics
from engine.server.writer import Writer, open_log_engine
from tests.server.conftest import FIXTURES, SIGNING_KEY, TOKEN, start, write_config

SIGNED = (FIXTURES / "signed_example.json").read_bytes()
WORKED = "47591a33f42baca71d7347f2d2cef1dd7551cd7d3f4cbebd4431221ea2f71ed9"
WORKED_AT = 1769420702
OLD_KEY = "whsk_0123456789abcdef0123456789abcdef"
MAX_AGE_S = 300


def cio_signature(key: str, timestamp: str, body: bytes) -> str:
    """X-CIO-Signature as Customer.io computes it: lowercase hex HMAC-SHA256, keyed with the
    signing key, over ``v0:<X-CIO-Timestamp>:<raw body>``."""
    return hmac.new(key.encode(), b"v0:" + timestamp.encode() + b":" + body,
                    hashlib.sha256).hexdigest()


def headers(body: bytes, key: str = SIGNING_KEY, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {"X-CIO-Timestamp": stamp, "X-CIO-Signature": cio_signature(key, stamp, body),
            "Content-Type": "application/json"}


def test_the_independent_signer_reproduces_the_documented_example() -> None:
    assert cio_signature(SIGNING_KEY, str(WORKED_AT), SIGNED) == WORKED
    assert signature(SIGNING_KEY, str(WORKED_AT), SIGNED) == WORKED


def test_only_the_documented_signed_string_verifies() -> None:
    # the negative controls of the reference: the body alone, and the string without `v0:`
    body_alone = hmac.new(SIGNING_KEY.encode(), SIGNED, hashlib.sha256).hexdigest()
    no_version = hmac.new(SIGNING_KEY.encode(), f"{WORKED_AT}:".encode() + SIGNED,
                          hashlib.sha256).hexdigest()
    assert (body_alone[:8], body_alone[-6:]) == ("a4125c64", "3b4e96")
    assert (no_version[:8], no_version[-6:]) == ("e114f806", "1fc2ed")
    guard = Signatures((SIGNING_KEY,), max_age_s=MAX_AGE_S)
    for wrong in (body_alone, no_version):
        sent = {"x-cio-timestamp": str(WORKED_AT), "x-cio-signature": wrong}
        assert "does not match" in (guard.check(sent, SIGNED, now_s=WORKED_AT) or "")
    sent = {"x-cio-timestamp": str(WORKED_AT), "x-cio-signature": WORKED}
    assert guard.check(sent, SIGNED, now_s=WORKED_AT) is None


@pytest.mark.parametrize(("skew", "fresh"), [(0, True), (-MAX_AGE_S, True), (MAX_AGE_S, True),
                                             (-MAX_AGE_S - 1, False), (MAX_AGE_S + 1, False),
                                             (-86_400 * 365, False), (86_400 * 365, False)])
def test_the_age_window_is_closed_at_both_ends(skew: int, fresh: bool) -> None:
    # skew < 0: a stale timestamp; skew > 0: one dated in the future (as far off is as bad)
    guard = Signatures((SIGNING_KEY,), max_age_s=MAX_AGE_S)
    stamp = str(WORKED_AT + skew)
    sent = {"x-cio-timestamp": stamp, "x-cio-signature": cio_signature(SIGNING_KEY, stamp,
                                                                       SIGNED)}
    why = guard.check(sent, SIGNED, now_s=WORKED_AT)
    assert (why is None) == fresh, why


def test_rotated_keys_either_signs_and_no_other() -> None:
    for keys in ((OLD_KEY, SIGNING_KEY), (SIGNING_KEY, OLD_KEY)):
        guard = Signatures(keys, max_age_s=MAX_AGE_S)
        for key, good in ((OLD_KEY, True), (SIGNING_KEY, True), ("whsk_other", False)):
            stamp = str(WORKED_AT)
            sent = {"x-cio-timestamp": stamp,
                    "x-cio-signature": cio_signature(key, stamp, SIGNED)}
            assert (guard.check(sent, SIGNED, now_s=WORKED_AT) is None) == good, (keys, key)


def test_signatures_are_compared_in_constant_time_against_every_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[set[bytes]] = []
    real = hmac.compare_digest

    def plain(x: str | bytes) -> bytes:
        return x.encode() if isinstance(x, str) else x

    def spy(a: str | bytes, b: str | bytes) -> bool:
        compared.append({plain(a), plain(b)})
        return real(plain(a), plain(b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    guard = Signatures((OLD_KEY, SIGNING_KEY, "whsk_third"), max_age_s=MAX_AGE_S)
    stamp = str(WORKED_AT)
    expected = {cio_signature(k, stamp, SIGNED).encode() for k in guard.keys}
    for key, good in ((OLD_KEY, True), (SIGNING_KEY, True), ("whsk_wrong", False)):
        compared.clear()
        presented = cio_signature(key, stamp, SIGNED).encode()
        sent = {"x-cio-timestamp": stamp, "x-cio-signature": presented.decode()}
        assert (guard.check(sent, SIGNED, now_s=WORKED_AT) is None) == good
        # every key is compared, whichever matched: no early exit says which one it was
        assert len(compared) == len(guard.keys)
        assert all(presented in pair for pair in compared)
        assert set().union(*compared) == expected | {presented}


@pytest.fixture
def collect_at(tmp_path: Path) -> Iterator[Callable[[bytes, dict[str, str]], int]]:
    """POST to the daemon's app in this process, whose clock stands at `WORKED_AT`."""
    config: Config = load_config(write_config(tmp_path, signing_keys=[OLD_KEY, SIGNING_KEY],
                                              max_age_s=MAX_AGE_S))
    writer = Writer(open_log_engine, config, max_queue_events=1000)
    metrics = Metrics(Live(failures=dict, queue_events=lambda: writer.queued_events,
                           backlog_events=lambda: 0, profiles=lambda: 0, retrying=lambda: 0))
    writer.metrics = metrics
    writer.start()
    reader = Engine(config, read_only=True, store_path=tmp_path / "read.db")
    app = create_app(Daemon(config, writer, reader, metrics, clock=lambda: float(WORKED_AT)))

    def post(body: bytes, sent: dict[str, str]) -> int:
        async def run() -> int:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://engine") as c:
                r = await c.post(f"/collect/json/customerio?key={TOKEN}", content=body,
                                 headers=sent)
                return r.status_code
        return asyncio.run(run())

    try:
        yield post
    finally:
        writer.stop(30)
        reader.close()


def test_the_daemon_holds_the_window_at_both_ends(
        collect_at: Callable[[bytes, dict[str, str]], int]) -> None:
    for skew, status in ((0, 200), (-MAX_AGE_S, 200), (MAX_AGE_S, 200),
                         (-MAX_AGE_S - 1, 401), (MAX_AGE_S + 1, 401), (86_400, 401)):
        assert collect_at(SIGNED, headers(SIGNED, ts=WORKED_AT + skew)) == status, skew
    for key, status in ((OLD_KEY, 200), (SIGNING_KEY, 200), ("whsk_wrong", 401)):
        assert collect_at(SIGNED, headers(SIGNED, key=key, ts=WORKED_AT)) == status, key
    body_alone = hmac.new(SIGNING_KEY.encode(), SIGNED, hashlib.sha256).hexdigest()
    sent = {"X-CIO-Timestamp": str(WORKED_AT), "X-CIO-Signature": body_alone}
    assert collect_at(SIGNED, sent) == 401


def test_the_worked_example_signs_as_documented() -> None:
    assert len(SIGNED) == 346
    assert signature(SIGNING_KEY, "1769420702", SIGNED) == WORKED
    guard = Signatures((SIGNING_KEY,), max_age_s=300)
    sent = {"x-cio-timestamp": "1769420702", "x-cio-signature": WORKED.upper()}
    assert guard.check(sent, SIGNED, now_s=1769420702 + 299) is None
    assert "stale" in (guard.check(sent, SIGNED, now_s=1769420702 + 301) or "")
    # verified on the exact bytes: the same JSON re-serialised does not verify
    again = json.dumps(json.loads(SIGNED), indent=2).encode()
    assert "does not match" in (guard.check(sent, again, now_s=1769420702) or "")
    assert Signatures((SIGNING_KEY,), max_age_s=0).check(sent, SIGNED, now_s=2e9) is None


def test_odd_timestamps_are_refused_without_parsing_the_body() -> None:
    guard = Signatures((SIGNING_KEY,))
    for stamp in ("", "12.5", "-1", "１２３", "9" * 40):
        sent = {"x-cio-timestamp": stamp, "x-cio-signature": WORKED}
        assert guard.check(sent, SIGNED, now_s=1769420702) is not None


def test_signed_requests_over_http(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path, signing_keys=[OLD_KEY, SIGNING_KEY]))
    try:
        url = f"/collect/json/customerio?key={TOKEN}"
        with daemon.client() as c:
            def status(body: bytes, h: dict[str, str]) -> tuple[int, str]:
                r = c.post(url, content=body, headers=h)
                return r.status_code, r.json().get("error", "")

            assert status(SIGNED, headers(SIGNED)) == (200, "")
            assert status(SIGNED, headers(SIGNED, key=OLD_KEY)) == (200, "")  # rotation
            assert status(SIGNED, headers(SIGNED, key="whsk_wrong")) == (401, "bad_signature")
            assert status(SIGNED, {"Content-Type": "application/json"}) == (401,
                                                                            "bad_signature")
            stale = headers(SIGNED, ts=int(time.time()) - 3600)
            assert status(SIGNED, stale) == (401, "bad_signature")
            tampered = SIGNED.replace(b"opened", b"clicked")
            assert status(tampered, headers(SIGNED)) == (401, "bad_signature")
            # the collect token is still required when the signature is good
            r = c.post("/collect/json/customerio", content=SIGNED, headers=headers(SIGNED))
            assert r.status_code == 401
            metrics = c.get("/metrics").text
        assert 'code="bad_signature"' in metrics
    finally:
        assert daemon.stop() == 0
        daemon.close()
    logs = daemon.all_logs()
    assert SIGNING_KEY not in logs and OLD_KEY not in logs and TOKEN not in logs


def test_the_worked_example_request_is_accepted_as_sent(tmp_path: Path) -> None:
    # its timestamp is from January 2026: with the age check off, the exact request verifies
    daemon = start(write_config(tmp_path, signing_keys=[SIGNING_KEY], max_age_s=0))
    try:
        with httpx.Client(base_url=daemon.url) as c:
            r = c.post(f"/collect/json/customerio?key={TOKEN}", content=SIGNED,
                       headers={"X-CIO-Timestamp": "1769420702", "X-CIO-Signature": WORKED,
                                "Content-Type": "application/json"})
        assert (r.status_code, r.json()) == (200, {"accepted": 1, "duplicates": 0})
    finally:
        daemon.close()
