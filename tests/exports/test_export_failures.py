"""Export delivery under failure (docs/exports.md): 429 storms, 5xx, timeouts, refused items, bad
credentials. No member is lost, nothing is sent more than at-least-once asks, and the dead
letters keep what was refused with the reason. Waiting is done on an injected clock, and a
slow peer is a request the sandbox holds until the test releases it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from engine import load_config
from engine.config.model import AuthorizationSpec
from engine.engine import Engine
from engine.errors import RuntimeFailure
from engine.exports import service
from engine.exports.customerio import (
    DEAD,
    RETRY,
    SENT,
    CredentialsError,
    Item,
    TrackClient,
    translated,
)
from engine.exports.sandbox import Sandbox, parse_script, running_sandbox
from engine.pipeline.files import read_events
from tests.exports.test_export_jobs import T_FIXTURES, Clock, _config, _fixtures


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


class FakeTime:
    """The engine's clock, advanced by the runner's sleeps instead of waiting."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.ms += int(seconds * 1000) + 1


def _engine(tmp_path: Path, url: str, **job: object) -> tuple[Engine, FakeTime]:
    clock = Clock(T_FIXTURES)
    eng = Engine(load_config(_config(tmp_path, url, "exists(email)", **job)), clock=clock)
    eng.ingest("customerio", read_events(_fixtures()))
    return eng, FakeTime(clock)


def _statuses(box: Sandbox) -> list[int | None]:
    return [r["status"] for r in box.requests() if r["path"] == "/api/v2/batch"]


def test_a_429_storm_honours_retry_after_and_delivers_everyone(
        tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    box.add_script(parse_script([{"status": 429, "retry_after": 30, "times": 4}]))
    eng, fake = _engine(tmp_path, url)
    with eng:
        stats, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep)
        assert eng.store.outbox_depth() == 0
    # the credentials check met the first 429 (and let the job start); the batch the rest
    assert _statuses(box) == [429, 429, 429, 200]
    assert fake.slept[:3] == [30.0, 30.0, 30.0]  # Customer.io's Retry-After, exactly
    assert (stats.sent, stats.dead) == (3, 0) and stats.retried == 3 * 3
    assert sorted(box.people()) == ["usr_31555", "usr_48213", "usr_90077"]


def test_5xx_and_timeouts_are_retried_with_backoff(tmp_path: Path,
                                                   sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    # the third answer is held until the client has given up: its timeout must fire, however
    # slow the machine; the 1 s only has to outlast the other (immediate) answers
    box.add_script(parse_script([{"status": 500}, {"status": 503}, {"hold": True}]))
    eng, fake = _engine(tmp_path, url)
    try:
        with eng:
            stats, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep,
                                   timeout_s=1.0)
        assert box.wait_for(lambda: box.held() == 1)  # it did arrive, and is still unanswered
        assert stats.sent == 3 and stats.dead == 0
        # the credentials check met the 500; the batch a 503, then a timeout, then got
        # through: two waits, exponential with jitter (1 s, then 2 s, times 0.5 to 1), the
        # items together
        batches = [(r["status"], len(r["body"]["batch"])) for r in box.requests()
                   if r["path"] == "/api/v2/batch"]
        assert batches == [(503, 3), (None, 3), (200, 3)]  # None: still held, client gone
    finally:
        box.release()
    assert len(fake.slept) == 2
    assert 0.5 <= fake.slept[0] <= 1.0 and 1.0 <= fake.slept[1] <= 2.0
    assert sorted(box.people()) == ["usr_31555", "usr_48213", "usr_90077"]


def test_an_item_over_the_limits_is_a_dead_letter_the_rest_is_sent(
        tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    eng, fake = _engine(tmp_path, url, extra_attributes=["cio_subjects"])
    with eng:
        huge = {"event_id": "huge-1", "object_type": "email", "metric": "opened",
                "timestamp": 1769420000, "data": {"identifiers": {"id": "usr_90077"},
                                                   "subject": "S" * 1200}}
        first, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep)
        eng.ingest("customerio", [huge])
        stats, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep)
        dead = eng.store.export_dead()
    # the three members went out; the later identify with the huge subject list did not (sent
    # before the first went, it would have replaced it: a person's newest identify is sent)
    assert (first.sent, first.dead, stats.sent, stats.dead) == (3, 0, 0, 1)
    ((_id, job, _pid, action, body, status, response, _at),) = dead
    assert (job, action, orjson.loads(body)["id"]) == ("engaged_to_customerio", "identify",
                                                        "usr_90077")
    assert status == 0 and "cio_subjects" in response and "1000" in response
    assert all(len(s) < 1000 for s in box.people()["usr_90077"].get("cio_subjects", []))


def test_a_401_pauses_the_job_with_a_clear_error(tmp_path: Path) -> None:
    box = Sandbox("site-1", "another-key")
    with running_sandbox(box) as url:
        eng, fake = _engine(tmp_path, url)
        with eng:
            stats, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep)
            paused, _ = eng.store.job_state("engaged_to_customerio")
            left = eng.store.outbox_depth()
    assert paused is not None and "refused the credentials" in paused and "cio_main" in paused
    assert stats.paused == paused and stats.sent == 0
    assert left == 3  # nothing lost: sent once the credentials are fixed
    assert "key-1" not in paused


def test_a_401_while_sending_pauses_the_job_and_its_items_are_due_again_at_once(
        tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    # the credentials check meets a 503 (which says nothing of them), the batch a 401
    box.add_script(parse_script([{"status": 503}, {"status": 401}]))
    eng, fake = _engine(tmp_path, url)
    with eng:
        stats, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep)
        assert stats.paused is not None and stats.sent == 0
        # not claimed any more: the job resumes with them, not after a lease
        assert len(eng.store.due_outbox("engaged_to_customerio", eng.clock(), 10)) == 3
        assert eng.store.due_outbox("engaged_to_customerio", eng.clock(), 10)[0][4] == 0


def test_207_marks_only_the_refused_items_dead() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/batch":
            return httpx.Response(207, json={"errors": [
                {"batch_index": 1, "reason": "invalid", "field": "identifiers",
                 "message": "bad id"}]})
        return httpx.Response(200, json={})

    auth = AuthorizationSpec("cio", "customerio", site_id="s", api_key="k",
                             base_url="http://cio.test")
    client = TrackClient(auth, transport=httpx.MockTransport(answer))
    items = [Item(i, "identify", {"id": f"u{i}", "attributes": {"plan": "pro"}})
             for i in range(3)]
    outcomes = client.send("v2", items)
    client.close()
    assert [o.kind for o in outcomes] == [SENT, DEAD, SENT]
    assert "bad id" in outcomes[1].response and outcomes[1].status == 207


@pytest.mark.parametrize(("raised", "message", "retry"), [
    (httpx.ReadTimeout("slow"), "timed out: ReadTimeout", True),
    (httpx.ConnectError("refused"), "network error: ConnectError", True),
    (httpx.DecodingError("bad gzip"), "unreadable answer: DecodingError", True),
    (httpx.InvalidURL("no host"), "not a URL Customer.io can be reached at: no host", False),
])
def test_httpx_errors_are_translated_in_one_place(raised: Exception, message: str,
                                                  retry: bool) -> None:
    assert isinstance(raised, httpx.HTTPError | httpx.InvalidURL)
    error = translated(raised)
    assert isinstance(error, RuntimeFailure)
    assert (str(error), error.retry) == (message, retry)

    def answer(request: httpx.Request) -> httpx.Response:
        raise raised

    auth = AuthorizationSpec("cio", "customerio", site_id="s", api_key="k",
                             base_url="http://cio.test")
    client = TrackClient(auth, transport=httpx.MockTransport(answer))
    if retry:  # says nothing about the credentials
        client.check_credentials()
    else:
        with pytest.raises(CredentialsError, match="not a URL"):
            client.check_credentials()
    (outcome,) = client.send("v2", [Item(1, "identify", {"id": "u1", "attributes": {}})])
    client.close()
    assert (outcome.kind, outcome.response) == (RETRY if retry else DEAD, message)


def test_a_base_url_that_is_no_url_pauses_the_job(tmp_path: Path) -> None:
    eng, fake = _engine(tmp_path, "http://[::1")
    with eng:
        stats, _ = service.run(eng, "engaged_to_customerio", sleep=fake.sleep)
        paused, _ = eng.store.job_state("engaged_to_customerio")
        left = eng.store.outbox_depth()
    assert paused is not None and "not a URL" in paused and "cio_main" in paused
    assert stats.paused == paused and stats.sent == 0 and left == 3
