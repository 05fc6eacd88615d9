"""POST /collect/json/{stream} over real HTTP: bodies, tokens, every error code."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.version import engine_version
from tests.server.conftest import ADMIN, ENGINE, TOKEN, Daemon, start, write_config

HOOK = {"event_id": "e1", "object_type": "email", "metric": "opened", "timestamp": 1769420700,
        "data": {"identifiers": {"id": "usr_1", "email": "one@example.com"}}}


def hook(i: int, person: int = 1) -> dict[str, object]:
    return {**HOOK, "event_id": f"e{i}",
            "data": {"identifiers": {"id": f"usr_{person}", "email": f"p{person}@example.com"}}}


def post(c: httpx.Client, body: bytes | str, stream: str = "customerio", *,
         content_type: str | None = "application/json", **params: str) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return c.post(f"/collect/json/{stream}", content=body, headers=headers,
                  params={"key": TOKEN, **params})


def test_object_array_and_ndjson_bodies_are_accepted_and_deduplicated(daemon: Daemon) -> None:
    with daemon.client() as c:
        r = post(c, json.dumps(hook(1)))
        assert (r.status_code, r.json()) == (200, {"accepted": 1, "duplicates": 0})
        r = post(c, json.dumps([hook(1), hook(2), hook(3)]))
        assert r.json() == {"accepted": 2, "duplicates": 1}
        ndjson = "\n".join(json.dumps(hook(i)) for i in (3, 4, 4, 5)) + "\n"
        r = post(c, ndjson, content_type="application/x-ndjson")
        assert r.json() == {"accepted": 2, "duplicates": 2}
        r = post(c, ndjson.replace("e5", "e6"))  # NDJSON under application/json too
        assert r.json() == {"accepted": 1, "duplicates": 3}
        assert r.headers["content-type"] == "application/json"


def test_the_token_is_taken_from_key_bearer_or_x_api_key(daemon: Daemon) -> None:
    url = "/collect/json/customerio"
    body = json.dumps(hook(1))
    with daemon.client() as c:
        assert c.post(url, content=body, headers={"Authorization": f"Bearer {TOKEN}"}
                      ).status_code == 200
        assert c.post(url, content=body, headers={"X-Api-Key": TOKEN}).status_code == 200
        for headers, params in (({}, {}), ({"X-Api-Key": "nope"}, {}), ({}, {"key": ""}),
                                ({"Authorization": f"Basic {TOKEN}"}, {}),
                                ({}, {"key": TOKEN[:-1]})):
            r = c.post(url, content=body, headers=headers, params=params)
            assert r.status_code == 401
            assert r.json()["error"] == "unauthorized"
            assert TOKEN not in r.text


@pytest.fixture
def rejecting(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon whose Customer.io import refuses undecodable bodies with 400 (as every stream
    without `on_undecodable: dead_letter` does; tests/hostile/test_undecodable_bodies.py has
    the default, which keeps them as dead letters)."""
    d = start(write_config(tmp_path, on_undecodable="reject"))
    yield d
    d.close()


def test_every_error_is_json_with_its_status(rejecting: Daemon) -> None:
    with rejecting.client() as c:
        cases = [
            (post(c, b'{"event_id": "x", '), 400, "malformed_body"),
            (post(c, b"\xff\xfe{}"), 400, "malformed_body"),
            (post(c, b'[{"event_id": "a"}, 5]'), 400, "malformed_body"),
            (post(c, b'"just a string"'), 400, "malformed_body"),
            (post(c, b"   "), 400, "empty_body"),
            (post(c, b"[" * 100_000 + b"]" * 100_000), 400, "malformed_body"),
            (post(c, b"x" * (10 * 1024 * 1024)), 413, "body_too_large"),
            (post(c, b"<a/>", content_type="application/xml"), 415, "unsupported_media_type"),
            (post(c, b"{}", content_type="application/json; charset=latin-1"), 415,
             "unsupported_media_type"),
            (post(c, b"{}", stream="nope"), 404, "unknown_stream"),
            (post(c, b"{}", stream="_errors"), 404, "unknown_stream"),
            (post(c, b"{}", stream="cust%C3%B8merio%00"), 404, "unknown_stream"),
            (post(c, b"{}", stream="..%2F..%2Fetc"), 404, "not_found"),
            (c.get("/nowhere"), 404, "not_found"),
            (c.get("/collect/json/customerio"), 405, "method_not_allowed"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, response.text
            assert response.json()["error"] == code
            assert response.json()["message"]
        where = post(c, b'{"event_id": "x",\n  "n": tru}').json()["message"]
        assert "line 2" in where and "column" in where
        assert "item 1" in post(c, b'[{"event_id": "a"}, 5]').json()["message"]
        # nothing of a refused request was kept: all-or-nothing
        assert post(c, json.dumps({"event_id": "a"})).json() == {"accepted": 1,
                                                                 "duplicates": 0}


def test_health_readiness_and_metrics(rejecting: Daemon) -> None:
    with rejecting.client() as c:
        post(c, json.dumps([hook(1), hook(2, person=2)]))
        post(c, json.dumps(hook(1)))
        post(c, b"{", stream="customerio")
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        text = c.get("/metrics").text
    assert 'engine_events_accepted_total{stream="customerio"} 2.0' in text
    assert (f'engine_build_info{{python="{platform.python_version()}",'
            f'version="{engine_version()}"}} 1.0') in text
    assert 'engine_events_duplicate_total{stream="customerio"} 1.0' in text
    assert 'engine_requests_rejected_total{code="malformed_body",stream="customerio"} 1.0' \
        in text
    for name in ("engine_queue_events", "engine_backlog_events", "engine_profiles",
                 "engine_commit_seconds_bucket", "engine_request_seconds_bucket",
                 "engine_mapping_errors", "engine_profile_merges_total",
                 "engine_overmerge_skipped_total"):
        assert name in text


def test_the_admin_api_needs_its_token(daemon: Daemon) -> None:
    with daemon.client() as c:
        # answered once applied to profiles too, so the profile is there to read
        assert post(c, json.dumps(hook(1)), wait="applied").status_code == 200
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert c.get("/api/profiles/cio_customer_id/usr_1").status_code == 401
        assert c.get("/api/profiles/cio_customer_id/usr_1",
                     headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401
        assert c.get("/api/audiences", headers=admin).json() == {"audiences": []}
        assert c.get("/api/exports", headers=admin).json() == {"exports": []}
        missing = c.get("/api/profiles/cio_customer_id/nobody", headers=admin)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        found = c.get("/api/profiles/cio_customer_id/usr_1", headers=admin)
        assert found.status_code == 200
        assert found.json()["email"] == "p1@example.com"
        assert found.json()["cio_events"] == {"email_opened": 1}
        assert c.get("/api/profiles/email/p1@example.com",
                     params={"key": ADMIN}).json()["_id"] == found.json()["_id"]


def test_the_admin_api_is_off_without_its_token(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path, admin=""))
    try:
        with daemon.client() as c:
            r = c.get("/api/audiences", headers={"Authorization": "Bearer x"})
        assert r.status_code == 403 and r.json()["error"] == "admin_disabled"
    finally:
        daemon.close()


def test_audience_sizes_and_transitions_are_served(tmp_path: Path) -> None:
    audiences = ("audiences:\n  - {name: emailable, description: has an email,"
                 " filter: exists(email)}\n"
                 "  - {name: openers, filter: 'cio_events.email_opened > 1'}")
    daemon = start(write_config(tmp_path, audiences=audiences))
    try:
        with daemon.client() as c:
            r = post(c, json.dumps([hook(1), hook(2, person=2)]), wait="applied")
            assert r.status_code == 200
            got = c.get("/api/audiences", params={"key": ADMIN}).json()
            metrics = c.get("/metrics").text
    finally:
        daemon.close()
    assert got == {"audiences": [
        {"name": "emailable", "description": "has an email", "members": 2},
        {"name": "openers", "description": "", "members": 0}]}
    assert 'engine_audience_members{audience="emailable"} 2.0' in metrics
    assert 'engine_audience_transitions_total{audience="emailable",direction="enter"} 2.0' \
        in metrics


def test_pipelined_requests_are_answered_whole_and_in_order(daemon: Daemon) -> None:
    """Answers leave a connection in one send per turn of the event loop: two requests sent
    in one write still get two complete answers, the first first."""
    host, port = daemon.url.removeprefix("http://").split(":")
    requests = b""
    for n in (1, 2):
        body = json.dumps({"id": f"piped-{n}", "type": "x", "n": n}).encode()
        requests += (f"POST /collect/json/customerio?key={TOKEN} HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                     ).encode() + body
    health = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(requests + health)
        answers = []
        reader = sock.makefile("rb")
        for _ in range(3):
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            answers.append((status.split()[1], reader.read(int(headers["content-length"]))))
    assert answers[0] == (b"200", b'{"accepted":1,"duplicates":0}')
    assert answers[1] == (b"200", b'{"accepted":1,"duplicates":0}')
    assert answers[2][0] == b"200"


def test_array_items_are_logged_as_sent_and_one_past_the_parser_is_a_dead_letter(
        rejecting: Daemon, tmp_path: Path) -> None:
    """The items of an array are split, not parsed and written out again: the log keeps each
    as it came. A number past a double's range is valid JSON the engine cannot hold: its
    item becomes a dead letter naming it, and the rest of the body is applied."""
    items = [b'{\n  "event_id": "e1", "metric": "opened", "timestamp": 1769420700,\n'
             b'  "data": {"identifiers": {"id": "usr_1", "email": "Jos\xc3\xa9@example.com"}}}',
             b'{"event_id": "e2",   "metric": "opened", "timestamp": 1769420700, "v": 1e400,'
             b' "data": {"identifiers": {"id": "usr_2"}}}',
             json.dumps(hook(3)).encode()]
    with rejecting.client() as c:
        r = post(c, b"[ " + b" ,\n".join(items) + b" ]", wait="applied")
        assert (r.status_code, r.json()) == (200, {"accepted": 3, "duplicates": 0})
        bad = post(c, b'[{"event_id": "e4"}, {"event_id": "Jos\xe9"}]')
        assert (bad.status_code, bad.json()["error"]) == (400, "malformed_body")
    out = subprocess.run([str(ENGINE), "errors", "--format", "json", "--config",
                          str(tmp_path / "config.yaml")],
                         capture_output=True, text=True, check=True).stdout
    [letter] = [json.loads(line) for line in out.splitlines()]
    assert letter["reason"] == ("the body is not JSON: invalid JSON at line 1, column 72 "
                                "(byte 71): number is infinity when parsed as double")
    assert letter["event"] == items[1].decode()
