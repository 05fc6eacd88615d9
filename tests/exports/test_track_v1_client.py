"""Our v1 requests against the official `customerio` Python client's (docs/customerio.md):
both send to the sandbox, whose request log shows each as it arrived, and the two logs must
match call for call. Segment calls, which that client lacks, are checked against the Track
API's published description, and the sandbox's answers to bad ones are Customer.io's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from customerio import CustomerIO

from engine.config.model import AuthorizationSpec
from engine.exports.customerio import DEAD, SENT, Item, TrackClient
from engine.exports.sandbox import Sandbox, running_sandbox

SITE, KEY = "site-v1", "key-v1"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox(SITE, KEY)
    with running_sandbox(box) as url:
        yield box, url


def _ours(url: str, items: list[Item]) -> list[str]:
    client = TrackClient(
        AuthorizationSpec("cio", "customerio", site_id=SITE, api_key=KEY, base_url=url)
    )
    try:
        return [o.kind for o in client.send("v1", items)]
    finally:
        client.close()


def _log(box: Sandbox) -> list[tuple[str, str, Any, int]]:
    return [(r["method"], r["path"], r["body"], r["status"]) for r in box.requests()]


def test_event_suppress_unsuppress_merge_and_identify_match_the_official_client(
    served: tuple[Sandbox, str],
) -> None:
    box, url = served
    box.clear()
    official = CustomerIO(SITE, KEY, retries=0)
    official.base_url = url + "/api/v1"  # it builds https URLs only; the sandbox is http
    official.identify(id="usr 1/a", plan="pro")
    official.track(
        customer_id="usr 1/a",
        name="audience_entered",
        data={"audience": "engaged"},
        timestamp=1772013598,
    )
    official.suppress("jane@example.com")
    official.unsuppress("jane@example.com")
    official.merge_customers("id", "42", "email", "known@example.com")
    official.track(
        customer_id="cio_a3000001",
        name="audience_exited",
        data={"audience": "engaged"},
        timestamp=1772013599,
    )
    theirs = _log(box)
    box.clear()
    assert (
        _ours(
            url,
            [
                Item(
                    1,
                    "identify",
                    {"id": "usr 1/a", "attributes": {"plan": "pro"}, "timestamp": 1772013598},
                ),
                Item(
                    2,
                    "event",
                    {
                        "id": "usr 1/a",
                        "name": "audience_entered",
                        "attributes": {"audience": "engaged"},
                        "timestamp": 1772013598,
                    },
                ),
                Item(3, "suppress", {"email": "jane@example.com", "timestamp": 1772013598}),
                Item(4, "unsuppress", {"email": "jane@example.com", "timestamp": 1772013598}),
                Item(
                    5,
                    "merge",
                    {
                        "primary": {"id": "42"},
                        "secondary": {"email": "known@example.com"},
                        "timestamp": 1772013598,
                    },
                ),
                Item(
                    6,
                    "event",
                    {
                        "cio_id": "a3000001",
                        "name": "audience_exited",
                        "attributes": {"audience": "engaged"},
                        "timestamp": 1772013599,
                    },
                ),
            ],
        )
        == [SENT] * 6
    )
    assert _log(box) == theirs
    assert all(status == 200 for *_rest, status in theirs)


def test_segment_calls_carry_the_identifier_kind_and_at_most_1000_ids(
    served: tuple[Sandbox, str],
) -> None:
    box, url = served
    box.clear()
    adds = [
        Item(i, "segment_add", {"email": f"p{i}@example.com", "segment_id": 7}) for i in range(3)
    ]
    assert _ours(url, adds) == [SENT] * 3
    ((method, path, body, status),) = _log(box)
    assert (method, path, status) == ("POST", "/api/v1/segments/7/add_customers?id_type=email", 200)
    assert body == {"ids": ["p0@example.com", "p1@example.com", "p2@example.com"]}
    assert box.segments() == {7: ["p0@example.com", "p1@example.com", "p2@example.com"]}
    too_many = [Item(i, "segment_remove", {"id": str(i), "segment_id": 7}) for i in range(1001)]
    assert set(_ours(url, too_many)) == {DEAD}  # refused before it is sent


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/api/v1/segments/0/add_customers", {"ids": ["a"]}, "segment_id"),
        ("/api/v1/segments/2147483648/add_customers", {"ids": ["a"]}, "segment_id"),
        ("/api/v1/segments/7/add_customers?id_type=phone", {"ids": ["a"]}, "id_type"),
        ("/api/v1/segments/7/remove_customers", {"ids": []}, "ids"),
        ("/api/v1/segments/7/remove_customers", {"ids": [str(i) for i in range(1001)]}, "ids"),
        ("/api/v1/segments/7/add_customers", {"ids": ["u" * 151]}, "ids.0"),
        ("/api/v1/customers/u1/events", {"name": "n" * 101}, "name"),
        ("/api/v1/customers/u1/events", {"data": {}}, "name"),
        ("/api/v1/customers/u1/events", {"name": "x", "timestamp": 1772013598000}, "timestamp"),
        ("/api/v1/merge_customers", {"primary": {"id": "1"}}, "secondary"),
        (
            "/api/v1/merge_customers",
            {"primary": {"id": "1", "email": "a@b.c"}, "secondary": {"id": "2"}},
            "primary",
        ),
    ],
)
def test_the_sandbox_refuses_what_customerio_refuses(
    served: tuple[Sandbox, str], path: str, body: Any, error: str
) -> None:
    _box, url = served
    r = httpx.post(url + path, json=body, auth=(SITE, KEY))
    assert r.status_code == 400
    (first, *_rest) = r.json()["meta"]["errors"]
    assert first.startswith(error + ":") or first.startswith(error + " "), first


def test_v2_event_merge_suppress_and_unsuppress_are_applied(served: tuple[Sandbox, str]) -> None:
    box, url = served
    box.clear()
    ops = [
        {
            "type": "person",
            "identifiers": {"email": "a@example.com"},
            "action": "identify",
            "attributes": {"plan": "pro", "old": 1},
            "timestamp": 1772013598,
        },
        {
            "type": "person",
            "identifiers": {"email": "a@example.com"},
            "action": "identify",
            "attributes": {"old": None},
            "timestamp": 1772013599,
        },
        {
            "type": "person",
            "identifiers": {"id": "b"},
            "action": "identify",
            "attributes": {"plan": "free", "city": "Oslo"},
        },
        {
            "type": "person",
            "action": "merge",
            "primary": {"email": "a@example.com"},
            "secondary": {"id": "b"},
        },
        {
            "type": "person",
            "identifiers": {"cio_id": "c1"},
            "action": "event",
            "name": "audience_entered",
            "attributes": {"audience": "x"},
        },
        {"type": "person", "identifiers": {"cio_id": "c1"}, "action": "suppress"},
        {
            "type": "person",
            "identifiers": {"cio_id": "c1"},
            "action": "identify",
            "attributes": {"ignored": True},
        },
        {"type": "person", "identifiers": {"id": "d"}, "action": "event", "name": ""},
        {"type": "person", "identifiers": {"id": "d"}, "action": "merge"},
    ]
    r = httpx.post(url + "/api/v2/batch", json={"batch": ops}, auth=(SITE, KEY))
    assert r.status_code == 207
    assert [(e["batch_index"], e["field"]) for e in r.json()["errors"]] == [
        (7, "name"),
        (8, "primary"),
        (8, "secondary"),
    ]
    assert box.people() == {"a@example.com": {"plan": "pro", "city": "Oslo"}}
    assert box.suppressed() == ["cio_c1"]
    assert [e["name"] for e in box.events()] == ["audience_entered"]
    httpx.post(
        url + "/api/v2/entity",
        auth=(SITE, KEY),
        json={"type": "person", "identifiers": {"cio_id": "c1"}, "action": "unsuppress"},
    )
    assert box.suppressed() == []
