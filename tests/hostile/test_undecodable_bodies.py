"""Bodies that cannot be decoded must never stall Customer.io's queue (docs/http.md).

Customer.io holds back every later webhook while one is refused, for up to 7 days. A request
that passes the token and signature checks but whose body is not UTF-8, not JSON, or not an
object (or an array of objects) is therefore logged as it came and answered 200
`{"accepted": 0, "dead_lettered": 1}` on a stream whose import says `on_undecodable:
dead_letter` (the default); the processor makes it a dead letter with the reason, and
`engine errors` lists it with its bytes escaped. A bad token or signature is still 401, and the
signature is checked on the raw bytes before any decoding. Over a real `engine serve`, on
SQLite, on PostgreSQL, and on PostgreSQL with NATS JetStream as the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import load_config
from engine.engine import Engine
from tests.server.conftest import ENGINE, FIXTURES, SIGNING_KEY, TOKEN, start, write_config

COLLECT = "/collect/json/customerio"
DEAD_LETTERED = {"accepted": 0, "dead_lettered": 1}

# body -> the start of the reason its dead letter gives
UNDECODABLE: dict[bytes, str] = {
    b'{"event_id": "latin-1", "name": "Jos\xe9"}': "the body is not UTF-8 text (byte 36",
    b"\xff\xfe{}": "the body is not UTF-8 text (byte 0",
    b"<html>not json</html>": "the body is not JSON: invalid JSON at line 1, column 1",
    b'{"event_id": "cut", ': "the body is not JSON",
    b"[1, 2, 3]": "the body is an array, not a JSON object",
    b'[{"event_id": "a"}, 5]': "the body is an array, not a JSON object",
    b"42": "the body is a number, not a JSON object",
    b'"just a string"': "the body is a string, not a JSON object",
    b"   ": "the body is empty",
}


def _signature(timestamp: str, body: bytes, key: str = SIGNING_KEY) -> str:
    return hmac.new(
        key.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()


def _errors(config: Path, sets: list[str], *more: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(ENGINE), "errors", "--format", "json", "--config", str(config), *sets, *more],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture(params=["sqlite", "postgres", "postgres+nats"])
def backend(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The `--set` arguments that put a daemon's store (and log) on one back end."""
    if request.param == "sqlite":
        yield []
        return
    sets = {
        "storage.backend": "postgres",
        "storage.dsn": request.getfixturevalue("postgres_dsn"),
        "storage.schema": request.getfixturevalue("pg_schema"),
    }
    if request.param == "postgres+nats":
        sets.update(
            {
                "transport.backend": "nats",
                "transport.url": request.getfixturevalue("nats_url"),
                "transport.stream": request.getfixturevalue("nats_stream"),
            }
        )
    yield [arg for k, v in sets.items() for arg in ("--set", f"{k}={v}")]


def test_undecodable_bodies_become_dead_letters_listed_and_replayed(
    tmp_path: Path, backend: list[str]
) -> None:
    config = write_config(tmp_path)
    daemon = start(config, args=backend)
    try:
        with daemon.client() as c:
            for body in UNDECODABLE:
                r = c.post(
                    COLLECT,
                    content=body,
                    params={"key": TOKEN, "wait": "applied"},
                    headers={"content-type": "application/json"},
                )
                assert (r.status_code, r.json()) == (200, DEAD_LETTERED), (body, r.text)
            good = (FIXTURES / "email_opened.json").read_bytes()
            r = c.post(COLLECT, content=good, params={"key": TOKEN, "wait": "applied"})
            assert r.json() == {"accepted": 1, "duplicates": 0}
            metrics = c.get("/metrics").text
    finally:
        daemon.close()
    assert f'engine_bodies_undecodable_total{{stream="customerio"}} {len(UNDECODABLE)}.0' in metrics
    letters = _errors(config, backend)
    assert len(letters) == len(UNDECODABLE)
    for letter, (body, reason) in zip(letters, UNDECODABLE.items(), strict=True):
        assert letter["stream"] == "customerio"
        assert letter["reason"].startswith(reason), (letter, reason)
        if letter.get("raw"):  # not JSON: the bytes as text, those not UTF-8 escaped
            assert letter["event"] == body.decode("utf-8", "backslashreplace")
        else:
            assert letter["event"] == json.loads(body)
    assert letters[1]["event"] == "\\xff\\xfe{}"
    # A replay applies them again with the current config: they stay dead letters.
    assert [(d["seq"], d["reason"]) for d in _errors(config, backend, "--replay")] == [
        (d["seq"], d["reason"]) for d in letters
    ]


def test_the_text_listing_shows_the_raw_body_escaped(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    daemon = start(config)
    try:
        with daemon.client() as c:
            r = c.post(COLLECT, content=b"\xff\xfe{}", params={"key": TOKEN, "wait": "applied"})
            assert r.json() == DEAD_LETTERED
    finally:
        daemon.close()
    out = subprocess.run(
        [str(ENGINE), "errors", "--config", str(config)], capture_output=True, text=True, check=True
    )
    assert "the body is not UTF-8 text (byte 0" in out.stdout
    assert '"\\\\xff\\\\xfe{}"' in out.stdout  # the JSON string of the escaped text


def test_a_bad_token_is_401_and_nothing_is_kept(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    daemon = start(config)
    try:
        with daemon.client() as c:
            for key in ("nope", ""):
                r = c.post(COLLECT, content=b"\xff not json", params={"key": key})
                assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
            r = c.post(COLLECT, content=b"{}", params={"key": TOKEN, "wait": "applied"})
            assert r.status_code == 200
            assert "engine_bodies_undecodable_total{" not in c.get("/metrics").text
    finally:
        daemon.close()
    assert _errors(config, []) == []


def test_the_signature_is_checked_on_the_raw_bytes_before_decoding(tmp_path: Path) -> None:
    config = write_config(tmp_path, signing_keys=[SIGNING_KEY])
    body = b"\xff\xfe not json"
    daemon = start(config)
    try:
        with daemon.client() as c:
            stamp = str(int(time.time()))
            for headers in (
                {},
                {"X-CIO-Timestamp": stamp, "X-CIO-Signature": "0" * 64},
                {"X-CIO-Timestamp": stamp, "X-CIO-Signature": _signature(stamp, b"other bytes")},
            ):
                r = c.post(COLLECT, content=body, headers=headers, params={"key": TOKEN})
                assert (r.status_code, r.json()["error"]) == (401, "bad_signature"), headers
            signed = {"X-CIO-Timestamp": stamp, "X-CIO-Signature": _signature(stamp, body)}
            r = c.post(
                COLLECT, content=body, headers=signed, params={"key": TOKEN, "wait": "applied"}
            )
            assert (r.status_code, r.json()) == (200, DEAD_LETTERED)
    finally:
        daemon.close()
    (letter,) = _errors(config, [])
    assert letter["reason"].startswith("the body is not UTF-8 text")


def test_on_undecodable_reject_answers_400_and_keeps_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, on_undecodable="reject")
    daemon = start(config)
    try:
        with daemon.client() as c:
            for body in UNDECODABLE:
                r = c.post(
                    COLLECT,
                    content=body,
                    params={"key": TOKEN},
                    headers={"content-type": "application/json"},
                )
                assert r.status_code == 400, (body, r.text)
                assert r.json()["error"] in ("malformed_body", "empty_body")
    finally:
        daemon.close()
    assert _errors(config, []) == []


def test_only_streams_of_imports_that_say_dead_letter_keep_undecodable_bodies(
    tmp_path: Path,
) -> None:
    # the default of an import is dead_letter; a stream no import names keeps 400
    other = tmp_path / "other.yaml"
    other.write_text("streams:\n  - {name: other, id: id}\n")
    config = write_config(tmp_path)
    text = config.read_text().replace("mappings: [", f"mappings: [{other}, ")
    config.write_text(text)
    assert load_config(config).settings.imports[0].on_undecodable == "dead_letter"
    daemon = start(config)
    try:
        with daemon.client() as c:
            r = c.post("/collect/json/other", content=b"not json", params={"key": TOKEN})
            assert (r.status_code, r.json()["error"]) == (400, "malformed_body")
            r = c.post(COLLECT, content=b"not json", params={"key": TOKEN})
            assert r.json() == DEAD_LETTERED
    finally:
        daemon.close()


def test_the_processor_dead_letters_a_logged_body_that_is_not_an_object(tmp_path: Path) -> None:
    # the same reasons when the log is applied by another engine than the daemon's
    config = load_config(write_config(tmp_path))
    records = [(None, 1_769_420_700_000, body, None) for body in UNDECODABLE]
    with Engine(config) as eng:
        eng.log([("customerio", records)])
        eng.drain()
        letters = [d.as_dict() for d in eng.errors()]
    assert [
        d["reason"][: len(r)] for d, r in zip(letters, UNDECODABLE.values(), strict=True)
    ] == list(UNDECODABLE.values())
