"""Export jobs inside the daemon: webhooks in over HTTP → audience → the sandbox receives the
identify; a disabled job says why; kill -9 in the middle of an export loses nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.exports.sandbox import Sandbox, parse_script, running_sandbox
from tests.server.conftest import ADMIN, TOKEN, start, write_config
from tests.services import poll

AUDIENCE = ('audiences:\n  - {name: engaged_email, filter: '
            '\'last_active_ts > "now-30d" AND exists(email)\'}')


def _exports(**job: Any) -> str:
    spec = {"name": "to_cio", "provider": "customerio", "authorization": "cio_main",
            "audience": "engaged_email", "id_field": "cio_customer_id", "email_field": "email",
            "extra_attributes": ["cio_channels"], "rate_limit_per_s": 0, **job}
    return f"exports:\n  - {json.dumps(spec)}"


def _cio(url: str) -> str:
    return f"    site_id: site-1\n    api_key: key-1\n    base_url: \"{url}\""


def _hook(i: int, person: int) -> dict[str, Any]:
    # a fresh webhook: the audience asks for activity in the last 30 days of the real clock
    return {"event_id": f"x{i}", "object_type": "email", "metric": "opened",
            "timestamp": int(time.time()),
            "data": {"identifiers": {"id": f"usr_{person}", "email": f"p{person}@example.com"}}}


@pytest.fixture
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


def test_a_member_arrives_in_the_sandbox(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    daemon = start(write_config(tmp_path, audiences=AUDIENCE, cio=_cio(url),
                                exports=_exports()))
    try:
        with daemon.client() as c:
            r = c.post("/collect/json/customerio", params={"key": TOKEN},
                       content=json.dumps([_hook(1, 1), _hook(2, 2)]))
            assert r.status_code == 200
            assert box.wait_for(lambda: {"usr_1", "usr_2"} <= set(box.people()))

            def states() -> list[tuple[str, str]]:
                jobs = c.get("/api/exports", params={"key": ADMIN}).json()["exports"]
                return [(j["name"], j["state"]) for j in jobs]

            # the processor reports the jobs' state about once a second
            assert poll(lambda: states() == [("to_cio", "running")], 10), states()
        assert box.people()["usr_1"] == {"email": "p1@example.com", "cio_channels": ["email"]}
    finally:
        assert daemon.stop() == 0
        daemon.close()


def test_a_job_without_credentials_is_disabled_and_says_why(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path, audiences=AUDIENCE, exports=_exports()))
    try:
        with daemon.client() as c:
            (job,) = c.get("/api/exports", params={"key": ADMIN}).json()["exports"]
    finally:
        daemon.close()
    assert job["state"] == "disabled" and "site_id" in job["last_error"]


def _batches(box: Sandbox) -> list[dict[str, Any]]:
    return [r for r in box.requests() if r["path"] == "/api/v2/batch"]


def test_kill_9_in_the_middle_of_an_export_loses_no_member(
        tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    config = write_config(tmp_path, audiences=AUDIENCE, cio=_cio(url),
                          exports=_exports(batch={"max_items": 5, "max_bytes": 500000},
                                           concurrency=1))
    # The daemon's first request (its credentials check) is answered at once; its first batch
    # is held until the daemon is dead, then refused: the members it carried count as sent
    # nowhere, so only sending them again gets them to Customer.io.
    box.add_script(parse_script([{"status": 200}, {"hold": True, "status": 503}]))
    daemon = start(config)
    people = {f"usr_{p}" for p in range(20)}
    try:
        with daemon.client() as c:
            r = c.post("/collect/json/customerio", params={"key": TOKEN, "wait": "applied"},
                       content=json.dumps([_hook(i, i) for i in range(20)]))
            assert r.json()["accepted"] == 20
        assert box.wait_for(lambda: box.held() == 1)  # a batch is in flight
        daemon.proc.kill()
    finally:
        daemon.close()
    (held,) = _batches(box)
    in_flight = {op["identifiers"]["id"] for op in held["body"]["batch"]}
    assert box.release() == 1
    assert box.wait_for(lambda: _batches(box)[0]["status"] == 503)
    assert in_flight and not in_flight & set(box.people())
    again = start(config)
    try:
        assert box.wait_for(lambda: people <= set(box.people()), timeout_s=20), (
            f"never sent again: {sorted(people - set(box.people()))}")
    finally:
        assert again.stop() == 0
        again.close()
    sent_again = {op["identifiers"]["id"] for r in _batches(box)[1:] if r["status"] == 200
                  for op in r["body"]["batch"]}
    assert in_flight <= sent_again


def test_a_failing_job_does_not_hold_up_another(tmp_path: Path,
                                                sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    wrong = (f"{_cio(url)}\n  cio_wrong:\n    provider: customerio\n    site_id: site-1\n"
             f"    api_key: not-the-key\n    base_url: \"{url}\"")
    jobs = (_exports() + "\n  - " + json.dumps(
        {"name": "to_wrong", "provider": "customerio", "authorization": "cio_wrong",
         "audience": "engaged_email", "id_field": "cio_customer_id"}))
    daemon = start(write_config(tmp_path, audiences=AUDIENCE, cio=wrong, exports=jobs))
    try:
        with daemon.client() as c:
            c.post("/collect/json/customerio", params={"key": TOKEN},
                   content=json.dumps([_hook(1, 1)]))
            assert box.wait_for(lambda: "usr_1" in box.people())
            paused = daemon.wait_log("export job paused")
    finally:
        daemon.close()
    assert paused["job"] == "to_wrong" and "refused the credentials" in paused["reason"]
    assert "not-the-key" not in paused["reason"]
