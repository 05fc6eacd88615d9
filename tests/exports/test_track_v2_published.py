"""The Track client against Customer.io's published v2 examples (tests/fixtures/customerio/
track_v2/README.md), not against the sandbox: the sandbox shares the client's limits module,
so a misreading of the API in one would pass in the other.

Requests are captured with httpx's MockTransport; each answer is a published (or documented)
one, and the expected outcome per item is written here from the documentation's words."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.config.model import AuthorizationSpec
from engine.exports.customerio import AUTH, DEAD, RETRY, SENT, Item, Outcome, TrackClient

PUBLISHED = Path(__file__).resolve().parents[1] / "fixtures" / "customerio" / "track_v2"
RESPONSES: dict[str, dict[str, Any]] = json.loads((PUBLISHED / "responses.json").read_text())
SITE, KEY = "site-published", "key-published"


def published(name: str) -> Any:
    return json.loads((PUBLISHED / name).read_text())


class Recorder:
    """A Track API that answers every batch with one fixture response and keeps the requests."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = self.answer["body"]
        return httpx.Response(self.answer["status"], headers=self.answer["headers"],
                              content=b"" if body is None else json.dumps(body).encode())


def send(answer: dict[str, Any], items: list[Item]) -> tuple[list[Outcome], Recorder]:
    recorder = Recorder(answer)
    auth = AuthorizationSpec("cio", "customerio", site_id=SITE, api_key=KEY,
                             base_url="https://track.customer.io")
    client = TrackClient(auth, transport=httpx.MockTransport(recorder))
    try:
        return client.send("v2", items), recorder
    finally:
        client.close()


@pytest.fixture
def jane() -> Iterator[list[Item]]:
    """The people of the published examples: Jane (id 42) identified, then someone deleted."""
    yield [Item(1, "identify", {"id": "42", "attributes": {"first_name": "Jane",
                                                           "last_name": "Doe",
                                                           "plan": "premium"}}),
           Item(2, "identify", {"id": "43", "attributes": {"first_name": "Jane"}}),
           Item(3, "delete", {"id": "42"})]


def test_a_batch_is_the_published_request(jane: list[Item]) -> None:
    _outcomes, recorder = send(RESPONSES["200"], jane)
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/api/v2/batch")
    assert request.url.host == "track.customer.io"
    assert request.headers["content-type"] == "application/json"
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(credentials) == f"{SITE}:{KEY}".encode()
    body = json.loads(request.content)
    assert list(body) == ["batch"]
    person_identify = published("batch_request.json")["batch"][0]
    entity = published("entity_identify_person.json")
    entity["identifiers"] = {"id": "43"}
    # operation by operation, exactly the published ones: no key missing, none added
    assert body["batch"] == [person_identify, entity, published("person_delete.json")]
    assert len(request.content) < 500 * 1000  # "smaller than 500kb"


def test_200_sends_every_item(jane: list[Item]) -> None:
    outcomes, _ = send(RESPONSES["200"], jane)
    assert [o.kind for o in outcomes] == [SENT, SENT, SENT]


@pytest.mark.parametrize("name", ["207", "207 several"])
def test_207_refuses_exactly_the_items_at_the_batch_indexes(jane: list[Item], name: str
                                                            ) -> None:
    answer = RESPONSES[name]
    outcomes, recorder = send(answer, jane)
    sent_ids = [op["identifiers"]["id"] for op in json.loads(recorder.requests[0].content)
                ["batch"]]
    refused = {e["batch_index"] for e in answer["body"]["errors"]}
    for index, (item, outcome) in enumerate(zip(jane, outcomes, strict=True)):
        assert sent_ids[index] == item.body["id"]  # the index is the item's place in the request
        if index in refused:  # "the 0-indexed position of the failing object"
            assert (outcome.kind, outcome.status) == (DEAD, 207)
            for error in answer["body"]["errors"]:
                if error["batch_index"] == index:
                    assert error["message"] in outcome.response
        else:  # "all other requests are accepted"
            assert outcome.kind == SENT


def test_207_indexes_count_only_the_operations_that_were_sent() -> None:
    # an item over the limits is never sent, so batch_index 1 is the third item, not the second
    items = [Item(1, "identify", {"id": "a", "attributes": {}}),
             Item(2, "identify", {"id": "b" * 151, "attributes": {}}),
             Item(3, "identify", {"id": "c", "attributes": {}}),
             Item(4, "identify", {"id": "d", "attributes": {}})]
    outcomes, recorder = send(RESPONSES["207"], items)
    ops = json.loads(recorder.requests[0].content)["batch"]
    assert [op["identifiers"]["id"] for op in ops] == ["a", "c", "d"]
    assert [(o.kind, o.status) for o in outcomes] == [(SENT, 207), (DEAD, 0), (DEAD, 207),
                                                       (SENT, 207)]


def test_400_refuses_the_whole_request_for_good(jane: list[Item]) -> None:
    outcomes, _ = send(RESPONSES["400"], jane)
    # "the entire request was malformed or invalid": sending it again cannot help
    assert {(o.kind, o.status) for o in outcomes} == {(DEAD, 400)}
    assert all("batch must be an array" in o.response for o in outcomes)


def test_401_stops_the_job_not_the_items(jane: list[Item]) -> None:
    outcomes, _ = send(RESPONSES["401"], jane)
    assert {(o.kind, o.status) for o in outcomes} == {(AUTH, 401)}


def test_429_waits_as_long_as_retry_after_says(jane: list[Item]) -> None:
    outcomes, _ = send(RESPONSES["429"], jane)
    assert {(o.kind, o.status, o.retry_after_s) for o in outcomes} == {(RETRY, 429, 7.0)}


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_5xx_is_retried(jane: list[Item], status: str) -> None:
    answer = RESPONSES[status]
    outcomes, _ = send(answer, jane)
    wait = float(answer["headers"]["Retry-After"]) if "Retry-After" in answer["headers"] else None
    assert {(o.kind, o.status, o.retry_after_s) for o in outcomes} == {
        (RETRY, answer["status"], wait)}


@pytest.mark.parametrize(("item", "name"), [
    (Item(1, "event", {"id": "42", "name": "purchase", "timestamp": 1772013598,
                       "attributes": {"product": "Widget", "price": 29.99}}),
     "person_event.json"),
    (Item(2, "merge", {"primary": {"id": "42"}, "secondary": {"id": "known-user-456"},
                       "timestamp": 1772013598}), "person_merge.json"),
    (Item(3, "suppress", {"id": "42", "timestamp": 1772013598}), "person_suppress.json"),
    (Item(4, "unsuppress", {"id": "42", "timestamp": 1772013598}), "person_unsuppress.json"),
    (Item(5, "delete", {"id": "42", "timestamp": 1772013598}), "person_delete.json"),
])
def test_every_operation_is_the_published_one_with_its_time(item: Item, name: str) -> None:
    _outcomes, recorder = send(RESPONSES["200"], [item])
    (request,) = recorder.requests
    (op,) = json.loads(request.content)["batch"]
    assert op.pop("timestamp") == 1772013598  # Unix seconds: the change's time
    assert op == published(name)


def test_identifiers_by_email_and_cio_id_are_published_shapes() -> None:
    items = [Item(1, "identify", {"email": "jane@example.com", "attributes": {"plan": "pro"},
                                  "timestamp": 1772013598}),
             Item(2, "identify", {"cio_id": "a3000001", "attributes": {"gone": None},
                                  "timestamp": 1772013598})]
    _outcomes, recorder = send(RESPONSES["200"], items)
    batch = json.loads(recorder.requests[0].content)["batch"]
    assert [op["identifiers"] for op in batch] == [{"email": "jane@example.com"},
                                                   {"cio_id": "a3000001"}]  # bare, no prefix
    assert batch[1]["attributes"] == {"gone": None}  # null: Customer.io deletes it
