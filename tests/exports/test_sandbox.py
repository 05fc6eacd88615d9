"""The Customer.io sandbox over real HTTP: one server on a free loopback port for the module,
reset before every test; the official Customer.io client checks that it speaks the real API."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import customerio
import httpx
import orjson
import pytest

from engine.exports.limits import MAX_BATCH_BYTES, MAX_ITEM_BYTES, MAX_VALUE_BYTES
from engine.exports.sandbox import Sandbox, parse_script, running_sandbox

SITE = "site-123"
KEY = "key-456"
UNAUTHORIZED = {"meta": {"errors": ["unauthorized"]}}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(SITE, KEY)
    with running_sandbox(sandbox) as url:
        yield sandbox, url


@pytest.fixture
def sandbox(served: tuple[Sandbox, str]) -> Sandbox:
    served[0].clear()
    return served[0]


@pytest.fixture
def url(served: tuple[Sandbox, str], sandbox: Sandbox) -> str:
    return served[1]


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, auth=(SITE, KEY), timeout=5) as c:
        yield c


@pytest.fixture
def anonymous(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=5) as c:
        yield c


def person(ident: str, action: str = "identify", **attributes: Any) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": ident}, "action": action,
            "attributes": attributes}


def sized_item(ident: str, size: int) -> dict[str, Any]:
    """An identify operation whose compact JSON is exactly `size` bytes, within every other
    limit (values of at most 1000 bytes)."""
    attributes: dict[str, str] = {"pad": ""}
    item = person(ident)
    item["attributes"] = attributes
    i = 0
    while (left := size - len(orjson.dumps(item))) > MAX_VALUE_BYTES:
        attributes[f"a{i}"] = "x" * min(MAX_VALUE_BYTES, left - 20)
        i += 1
    attributes["pad"] = "x" * left
    assert len(orjson.dumps(item)) == size
    return item


def sized_batch(size: int) -> bytes:
    """A valid batch body of exactly `size` bytes: full 32,000-byte items, one smaller last."""
    items = [sized_item(f"u{i}", MAX_ITEM_BYTES) for i in range(size // MAX_ITEM_BYTES)]
    items.append(sized_item("last", 10_000))
    short = size - len(orjson.dumps({"batch": items}))
    items[-1] = sized_item("last", 10_000 + short)
    body = orjson.dumps({"batch": items})
    assert len(body) == size
    return body


def basic(site: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{site}:{key}".encode()).decode()


# -- auth and the region check -------------------------------------------------------------

def test_region_answers_its_own_url_with_good_credentials(client: httpx.Client, url: str
                                                          ) -> None:
    r = client.get("/api/v1/accounts/region")
    assert r.status_code == 200
    assert r.json() == {"url": url, "region": "us", "environment_id": 1}


@pytest.mark.parametrize("authorization", [
    None, basic(SITE, "wrong"), basic("other-site", KEY), basic(SITE, ""), basic(SITE, KEY + "x"),
    "Basic not-base64!", "Bearer " + KEY, "Basic " + base64.b64encode(KEY.encode()).decode(),
])
def test_track_routes_refuse_bad_or_missing_credentials(anonymous: httpx.Client,
                                                        sandbox: Sandbox,
                                                        authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    calls = [("GET", "/api/v1/accounts/region", None),
             ("PUT", "/api/v1/customers/u1", {"plan": "pro"}),
             ("DELETE", "/api/v1/customers/u1", None),
             ("POST", "/api/v2/batch", {"batch": [person("u1")]}),
             ("POST", "/api/v2/entity", person("u1"))]
    for method, path, body in calls:
        r = anonymous.request(method, path, json=body, headers=headers)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED), (method, path)
        assert KEY not in r.text
    assert sandbox.people() == {}
    assert [e["status"] for e in sandbox.requests()] == [401] * len(calls)


def test_sandbox_refuses_empty_or_ambiguous_credentials_and_hides_its_key() -> None:
    for site, key in [("", "k"), ("s", ""), ("a:b", "k")]:
        with pytest.raises(ValueError):
            Sandbox(site, key)
    assert KEY not in repr(Sandbox(SITE, KEY))


# -- v1 identify and delete ----------------------------------------------------------------

@pytest.mark.parametrize("ident", ["j.okafor+promo@example.org", "usr/48213", "a%2Bb",
                                   "ünïcödé 1", "cio_03000001"])
def test_v1_identify_round_trips_url_encoded_identifiers(client: httpx.Client,
                                                         sandbox: Sandbox, ident: str) -> None:
    path = f"/api/v1/customers/{quote(ident, safe='')}"
    r = client.put(path, json={"email": "a@example.com", "plan": "pro"})
    assert (r.status_code, r.json()) == (200, {})
    assert sandbox.people() == {ident: {"email": "a@example.com", "plan": "pro"}}
    [entry] = sandbox.requests()
    assert entry["path"] == path
    assert (client.delete(path).status_code, sandbox.people()) == (200, {})


def test_v1_identify_merges_attributes_and_delete_removes(client: httpx.Client,
                                                          sandbox: Sandbox) -> None:
    assert client.put("/api/v1/customers/u1", json={"email": "a@x.com", "plan": "free"}
                      ).status_code == 200
    assert client.put("/api/v1/customers/u1", json={"plan": "pro", "seats": 3}).status_code == 200
    assert client.put("/api/v1/customers/u2", content=b"").status_code == 200
    assert sandbox.people() == {"u1": {"email": "a@x.com", "plan": "pro", "seats": 3}, "u2": {}}
    assert client.delete("/api/v1/customers/u1").json() == {}
    assert client.delete("/api/v1/customers/nobody").status_code == 200  # as Customer.io does
    assert sandbox.people() == {"u2": {}}
    assert client.get("/_sandbox/people").json() == {"u2": {}}


@pytest.mark.parametrize(("ident", "attributes", "ok"), [
    ("u" * 150, {}, True),
    ("u" * 151, {}, False),
    ("é" * 75, {}, True),  # 150 bytes
    ("é" * 76, {}, False),  # 76 characters, 152 bytes
    ("u1", {"n" * 150: 1}, True),
    ("u1", {"n" * 151: 1}, False),
    ("u1", {"v": "v" * 1000}, True),
    ("u1", {"v": "v" * 1001}, False),
    ("u1", {"v": "é" * 500}, True),
    ("u1", {"v": "é" * 501}, False),
    ("u1", {"v": list(range(300))}, False),  # a non-string counts its JSON text
    ("u1", {f"k{i}": i for i in range(300)}, True),
    ("u1", {f"k{i}": i for i in range(301)}, False),
])
def test_v1_limits_are_checked_exactly(client: httpx.Client, sandbox: Sandbox, ident: str,
                                       attributes: dict[str, Any], ok: bool) -> None:
    r = client.put(f"/api/v1/customers/{quote(ident, safe='')}", json=attributes)
    if ok:
        assert (r.status_code, sandbox.people()) == (200, {ident: attributes})
    else:
        assert r.status_code == 400
        [message] = r.json()["meta"]["errors"]
        assert "over the limit" in message
        assert sandbox.people() == {}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_v1_identify_needs_a_json_object(client: httpx.Client, sandbox: Sandbox,
                                         body: bytes) -> None:
    r = client.put("/api/v1/customers/u1", content=body)
    assert r.status_code == 400
    assert r.json() == {"meta": {"errors": ["the body must be a JSON object of attributes"]}}
    assert sandbox.people() == {}


# -- v2 batch and entity -------------------------------------------------------------------

def test_v2_batch_applies_every_operation_in_order(client: httpx.Client,
                                                   sandbox: Sandbox) -> None:
    ops = [person("u1", email="a@x.com", plan="free"), person("u2", plan="pro"),
           person("u1", plan="team"), person("u2", "delete"),
           {"type": "person", "identifiers": {"email": "e@x.com"}, "action": "identify",
            "attributes": {"n": 1}},
           {"type": "person", "identifiers": {"cio_id": "03000001"}, "action": "identify"}]
    r = client.post("/api/v2/batch", json={"batch": ops})
    assert (r.status_code, r.json()) == (200, {})
    assert sandbox.people() == {"u1": {"email": "a@x.com", "plan": "team"},
                                "e@x.com": {"n": 1}, "cio_03000001": {}}
    # v1 addresses the cio_id person as `cio_<id>`
    assert client.delete("/api/v1/customers/cio_03000001").status_code == 200
    assert "cio_03000001" not in sandbox.people()


def test_v2_batch_reports_invalid_items_with_207_and_applies_the_rest(
        client: httpx.Client, sandbox: Sandbox) -> None:
    ops: list[Any] = [
        person("ok1", plan="pro"),
        {"type": "person", "identifiers": {"id": "a", "email": "a@x.com"}, "action": "identify"},
        person("u" * 151),
        person("u3", v="v" * 1001),
        person("u4", **{f"k{i}": i for i in range(301)}),
        person("u5", "add_device"),
        "not an object",
        {"type": "object", "identifiers": {"id": "o1"}, "action": "identify"},
        {"type": "person", "action": "identify"},
        {"type": "person", "identifiers": {"phone": "+15555550100"}, "action": "identify"},
        person("ok2", "delete"),
    ]
    r = client.post("/api/v2/batch", json={"batch": ops})
    assert r.status_code == 207
    errors = r.json()["errors"]
    assert [(e["batch_index"], e["field"]) for e in errors] == [
        (1, "identifiers"), (2, "identifiers.id"), (3, "attributes.v"), (4, "attributes"),
        (5, "action"), (6, ""), (7, "type"), (8, "identifiers"), (9, "identifiers.phone")]
    assert all(set(e) == {"batch_index", "reason", "field", "message"} for e in errors)
    assert {e["reason"] for e in errors} >= {"invalid", "too_long", "too_many", "required"}
    assert sandbox.people() == {"ok1": {"plan": "pro"}}


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"batch": []}',
                                  b'{"batch": {"type": "person"}}'])
def test_v2_batch_that_is_no_batch_is_a_400(client: httpx.Client, body: bytes) -> None:
    r = client.post("/api/v2/batch", content=body)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert set(error) == {"reason", "field", "message"}


def test_v2_batch_size_limit_is_exact(client: httpx.Client, sandbox: Sandbox) -> None:
    r = client.post("/api/v2/batch", content=sized_batch(MAX_BATCH_BYTES))
    assert (r.status_code, r.json()) == (200, {})
    assert len(sandbox.people()) == MAX_BATCH_BYTES // MAX_ITEM_BYTES + 1
    sandbox.clear("people")
    r = client.post("/api/v2/batch", content=sized_batch(MAX_BATCH_BYTES + 1))
    assert r.status_code == 413
    assert r.json()["errors"][0]["reason"] == "too_large"
    assert sandbox.people() == {}


def test_v2_item_size_limit_is_exact(client: httpx.Client, sandbox: Sandbox) -> None:
    ops = [sized_item("fits", MAX_ITEM_BYTES), sized_item("over", MAX_ITEM_BYTES + 1)]
    r = client.post("/api/v2/batch", json={"batch": ops})
    assert r.status_code == 207
    assert [(e["batch_index"], e["reason"]) for e in r.json()["errors"]] == [(1, "too_large")]
    assert list(sandbox.people()) == ["fits"]


def test_v2_entity_takes_one_operation(client: httpx.Client, sandbox: Sandbox) -> None:
    assert client.post("/api/v2/entity", json=person("u1", plan="pro")).json() == {}
    r = client.post("/api/v2/entity", json=person("u2", "explode"))
    assert (r.status_code, r.json()["errors"][0]["field"]) == (400, "action")
    r = client.post("/api/v2/entity", content=orjson.dumps(sized_item("u3", MAX_ITEM_BYTES)))
    assert r.status_code == 200
    r = client.post("/api/v2/entity", content=orjson.dumps(sized_item("u4",
                                                                      MAX_ITEM_BYTES + 1)))
    assert r.status_code == 413
    assert sorted(sandbox.people()) == ["u1", "u3"]


# -- the request log -----------------------------------------------------------------------

def test_every_track_request_is_recorded_in_arrival_order(client: httpx.Client,
                                                          anonymous: httpx.Client,
                                                          sandbox: Sandbox) -> None:
    client.put("/api/v1/customers/a%2Bb%40x.com", json={"plan": "pro"})
    anonymous.put("/api/v1/customers/u2", json={"plan": "pro"})
    client.put("/api/v1/customers/u3", content=b"plain text")
    client.post("/api/v2/batch", json={"batch": [person("u4"), person("u5", "shout")]})
    client.get("/nowhere")
    anonymous.get("/_sandbox/people")  # control routes are not recorded
    expected = [
        {"method": "PUT", "path": "/api/v1/customers/a%2Bb%40x.com", "status": 200,
         "body": {"plan": "pro"}, "response": {}},
        {"method": "PUT", "path": "/api/v1/customers/u2", "status": 401,
         "body": {"plan": "pro"}, "response": UNAUTHORIZED},
        {"method": "PUT", "path": "/api/v1/customers/u3", "status": 400, "body": "plain text",
         "response": {"meta": {"errors": ["the body must be a JSON object of attributes"]}}},
        {"method": "POST", "path": "/api/v2/batch", "status": 207,
         "body": {"batch": [person("u4"), person("u5", "shout")]},
         "response": {"errors": [{"batch_index": 1, "reason": "invalid", "field": "action",
                                  "message": "action must be one of identify, delete, event, "
                                             "merge, suppress, unsuppress"}]}},
        {"method": "GET", "path": "/nowhere", "status": 404, "body": "",
         "response": {"meta": {"errors": ["no such route"]}}},
    ]
    assert anonymous.get("/_sandbox/requests").json() == expected
    assert sandbox.requests() == expected
    assert anonymous.delete("/_sandbox/requests").status_code == 200
    assert anonymous.get("/_sandbox/requests").json() == []


def test_unknown_routes_are_json_404s(client: httpx.Client, anonymous: httpx.Client,
                                      sandbox: Sandbox) -> None:
    not_found = {"meta": {"errors": ["no such route"]}}
    for method, path in [("GET", "/"), ("POST", "/api/v1/customers/u1/devices"),
                         ("PUT", "/api/v1/customers/"), ("PUT", "/api/v1/customers/a/b"),
                         ("POST", "/api/v2/batch/"), ("GET", "/_sandbox/nothing")]:
        r = client.request(method, path)
        assert (r.status_code, r.json()) == (404, not_found), (method, path)
    r = client.post("/api/v1/accounts/region")
    assert (r.status_code, r.json()["meta"]["errors"]) == (
        405, ["this route does not take that method"])
    assert client.post("/api/v1/customers/u1").status_code == 405
    assert [e["path"] for e in sandbox.requests()] == [
        "/", "/api/v1/customers/u1/devices", "/api/v1/customers/", "/api/v1/customers/a/b",
        "/api/v2/batch/", "/api/v1/accounts/region", "/api/v1/customers/u1"]


def test_concurrent_requests_are_all_recorded_and_applied(url: str, sandbox: Sandbox) -> None:
    def send(k: int) -> None:
        with httpx.Client(base_url=url, auth=(SITE, KEY), timeout=5) as c:
            for i in range(25):
                assert c.put(f"/api/v1/customers/t{k}-{i}", json={"k": k}).status_code == 200

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sandbox.people()) == 200
    assert len(sandbox.requests()) == 200


# -- scripted failures ---------------------------------------------------------------------

def test_scripted_answers_replace_normal_handling_in_order(client: httpx.Client,
                                                           anonymous: httpx.Client,
                                                           sandbox: Sandbox) -> None:
    steps = [{"status": 429, "retry_after": 7, "times": 2}, {"status": 500}, {"status": 503}]
    r = anonymous.post("/_sandbox/script", json=steps)
    assert r.status_code == 200
    assert [s["times"] for s in r.json()] == [2, 1, 1]
    answers = [client.put("/api/v1/customers/u1", json={"n": i}) for i in range(5)]
    assert [a.status_code for a in answers] == [429, 429, 500, 503, 200]
    assert [a.headers.get("retry-after") for a in answers] == ["7", "7", None, None, None]
    assert answers[0].json() == {"meta": {"errors": ["scripted answer 429"]}}
    assert [e["status"] for e in sandbox.requests()] == [429, 429, 500, 503, 200]
    assert sandbox.people() == {"u1": {"n": 4}}  # only the unscripted request was applied
    assert anonymous.get("/_sandbox/script").json() == []


def test_a_scripted_delay_slows_the_answer(client: httpx.Client, anonymous: httpx.Client,
                                           sandbox: Sandbox) -> None:
    anonymous.post("/_sandbox/script", json=[{"delay_s": 0.2, "status": 503}])
    start = time.perf_counter()
    r = client.get("/api/v1/accounts/region")
    assert r.status_code == 503
    assert time.perf_counter() - start >= 0.2  # a lower bound only: a loaded machine is slower
    assert [e["status"] for e in sandbox.requests()] == [503]


def test_a_held_request_is_answered_as_scripted_once_released(url: str, anonymous: httpx.Client,
                                                             sandbox: Sandbox) -> None:
    anonymous.post("/_sandbox/script", json=[{"hold": True, "status": 503}])
    answers: list[int] = []

    def ask() -> None:
        with httpx.Client(base_url=url, auth=(SITE, KEY), timeout=30) as c:
            answers.append(c.get("/api/v1/accounts/region").status_code)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        assert sandbox.wait_for(lambda: sandbox.held() == 1)
        # in flight: recorded, unanswered, and the client still waits
        assert [e["status"] for e in sandbox.requests()] == [None] and answers == []
        assert anonymous.get("/_sandbox/script").json() == []  # the step is taken
    finally:
        released = anonymous.post("/_sandbox/release").json()
        asker.join(30)
    assert released == {"released": 1} and sandbox.held() == 0
    assert answers == [503]
    assert [e["status"] for e in sandbox.requests()] == [503]


def test_a_held_request_lets_clients_time_out(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_script(parse_script([{"hold": True}]))
    # held until released, so the client gives up however slow the machine is
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v1/accounts/region", timeout=httpx.Timeout(5, read=0.05))
    assert sandbox.wait_for(lambda: sandbox.held() == 1)
    assert sandbox.release() == 1
    # released without a scripted status, it is handled normally, for nobody
    assert sandbox.wait_for(lambda: [e["status"] for e in sandbox.requests()] == [200])
    assert client.get("/api/v1/accounts/region").status_code == 200  # script used up
    assert [e["status"] for e in sandbox.requests()] == [200, 200]


def test_clearing_the_script_releases_what_it_holds(url: str, sandbox: Sandbox) -> None:
    sandbox.add_script(parse_script([{"hold": True, "status": 500}]))
    answers: list[int] = []

    def ask() -> None:
        with httpx.Client(base_url=url, auth=(SITE, KEY), timeout=30) as c:
            answers.append(c.get("/api/v1/accounts/region").status_code)

    asker = threading.Thread(target=ask)
    asker.start()
    assert sandbox.wait_for(lambda: sandbox.held() == 1)
    sandbox.clear()
    asker.join(30)
    assert answers == [500] and sandbox.held() == 0


@pytest.mark.parametrize("script", [
    b"nope", b'{"status": 500}', b'[{"status": 99}]', b'[{"status": "500"}]', b"[{}]",
    b'[{"status": 429, "retry_after": 1.5}]', b'[{"delay_s": -1}]', b'[{"delay_s": true}]',
    b'[{"status": 500, "times": 0}]', b'[{"status": 500, "color": "red"}]',
    b'[{"hold": 1}]', b'[{"hold": false}]',
])
def test_a_bad_script_is_refused_whole(anonymous: httpx.Client, script: bytes) -> None:
    anonymous.post("/_sandbox/script", json=[{"status": 500}])
    r = anonymous.post("/_sandbox/script", content=script)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_script"
    assert len(anonymous.get("/_sandbox/script").json()) == 1
    assert anonymous.delete("/_sandbox/script").status_code == 200
    assert anonymous.get("/_sandbox/script").json() == []


# -- the official Customer.io client -------------------------------------------------------

def official_client(url: str, key: str = KEY) -> customerio.CustomerIO:
    where = urlsplit(url)
    cio = customerio.CustomerIO(SITE, key, host=where.hostname, port=where.port, retries=0,
                                timeout=5)
    # The client speaks only https; the sandbox plain http on loopback. Only the scheme of the
    # base URL it built is swapped: paths, encoding, bodies and auth remain the client's own.
    assert cio.base_url == f"https://{where.netloc}/api/v1"
    cio.base_url = f"http://{where.netloc}/api/v1"
    return cio


def test_the_official_client_is_understood(url: str, sandbox: Sandbox) -> None:
    odd = "j.okafor+promo@example.org/eu"
    joined = datetime(2026, 1, 26, 9, 46, tzinfo=UTC)
    with official_client(url) as cio:
        cio.identify(id="usr_48213", email="maria.lopez@example.com", plan="pro")
        cio.identify(id=odd, email="j.okafor+promo@example.org", plan="free", created_at=joined)
        cio.identify(id="usr_48213", plan="team")
        cio.delete(customer_id=odd)
    log = sandbox.requests()
    assert [(e["method"], unquote(e["path"]), e["status"], e["body"]) for e in log] == [
        ("PUT", "/api/v1/customers/usr_48213", 200,
         {"email": "maria.lopez@example.com", "plan": "pro"}),
        ("PUT", f"/api/v1/customers/{odd}", 200,
         {"email": "j.okafor+promo@example.org", "plan": "free", "created_at": 1769420760}),
        ("PUT", "/api/v1/customers/usr_48213", 200, {"plan": "team"}),
        ("DELETE", f"/api/v1/customers/{odd}", 200, {}),
    ]
    assert log[1]["path"] == "/api/v1/customers/j.okafor%2Bpromo%40example.org%2Feu"
    assert sandbox.people() == {"usr_48213": {"email": "maria.lopez@example.com",
                                              "plan": "team"}}


def test_the_official_client_sees_a_bad_key_refused(url: str, sandbox: Sandbox) -> None:
    with official_client(url, key="wrong") as cio, pytest.raises(
            customerio.CustomerIOException, match=r"^401"):
        cio.identify(id="usr_48213", plan="pro")
    assert sandbox.people() == {}


# -- the command ---------------------------------------------------------------------------

RUN_COMMAND = """\
import argparse, sys
from engine.cli.commands import register_exports as register
parser = argparse.ArgumentParser(prog="engine")
register(parser.add_subparsers(), lambda p: None)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.run(args))
"""


def test_sandbox_command_serves_until_interrupted() -> None:
    argv = [sys.executable, "-c", RUN_COMMAND, "sandbox", "customerio", "--port", "0",
            "--site-id", SITE, "--api-key", "chosen-secret"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(3)]
        found = re.search(r"sandbox at (http://127\.0\.0\.1:\d+) ", banner[0])
        assert found, banner
        base = found.group(1)
        assert f"authorizations.cio_main.base_url={base}" in banner[2]
        assert f"authorizations.cio_main.site_id={SITE}" in banner[2]
        with httpx.Client(base_url=base, auth=(SITE, "chosen-secret"), timeout=5) as c:
            assert c.get("/api/v1/accounts/region").json()["url"] == base
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "chosen-secret" not in "".join(banner) + out + err
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_our_exporter_makes_the_person_updates_the_official_client_makes(
        url: str, sandbox: Sandbox) -> None:
    from engine.config.model import AuthorizationSpec
    from engine.exports.customerio import Item, TrackClient

    odd = "j.okafor+promo@example.org/eu"
    people = [("usr_48213", {"email": "maria.lopez@example.com", "plan": "pro"}),
              (odd, {"email": "j.okafor+promo@example.org", "created_at": 1769420760})]
    with official_client(url) as cio:
        for ident, attributes in people:
            cio.identify(id=ident, **attributes)
    theirs = (sandbox.people(), [(e["method"], e["path"], e["body"])
                                 for e in sandbox.requests()])
    sandbox.clear()
    auth = AuthorizationSpec("cio", "customerio", site_id=SITE, api_key=KEY, base_url=url)
    client = TrackClient(auth)
    try:
        items = [Item(i, "identify", {"id": ident, "attributes": attributes})
                 for i, (ident, attributes) in enumerate(people)]
        assert {o.kind for o in client.send("v1", items)} == {"sent"}
        ours_v1 = (sandbox.people(), [(e["method"], e["path"], e["body"])
                                      for e in sandbox.requests()])
        sandbox.clear()
        assert {o.kind for o in client.send("v2", items)} == {"sent"}
    finally:
        client.close()
    assert ours_v1 == theirs  # the same requests, byte for byte in path and body
    assert sandbox.people() == theirs[0]  # and v2 batch makes the same people
