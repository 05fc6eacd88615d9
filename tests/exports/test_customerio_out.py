"""The Customer.io export options end to end (docs/customerio.md, "Export options"): profiles →
audience → outbox → the sandbox over real HTTP on loopback, for identifiers by email and cio_id,
the membership attribute, events, manual segments, suppress, cleared attributes, merges and
coalescing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import load_config
from engine.engine import Engine
from engine.exports import service
from engine.exports.customerio import RETRY, Item, Outcome
from engine.exports.runner import JobRunner
from engine.exports.sandbox import Sandbox, running_sandbox
from engine.testing import run_case
from tests.exports.test_export_jobs import Clock, write_job_config

JOB = "engaged_to_customerio"
T0 = 1_769_500_000_000  # 2026-01-27T07:46:40Z
DAY = 86_400_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


def _config(tmp_path: Path, url: str, **job: Any) -> Path:
    spec = {
        "name": JOB,
        "provider": "customerio",
        "authorization": "cio_main",
        "audience": "engaged_email",
        "id_field": "email",
        "extra_attributes": ["cio_channels"],
        "rate_limit_per_s": 0,
        **job,
    }
    return write_job_config(tmp_path, url, spec, 'last_active_ts > "now-30d" AND exists(email)')


def _open(
    email: str, n: int, ts: int = 1769490000, channel: str = "email", **identifiers: str
) -> dict[str, Any]:
    return {
        "event_id": f"ev-{email}-{n}",
        "object_type": channel,
        "metric": "clicked",
        "timestamp": ts,
        "data": {
            "identifiers": {"email": email, **identifiers},
            "recipient": email if channel == "email" else "+1555",
        },
    }


def _requests(box: Sandbox) -> list[dict[str, Any]]:
    return [r for r in box.requests() if not r["path"].endswith("/region")]


def _ops(box: Sandbox) -> list[dict[str, Any]]:
    return [op for r in _requests(box) if r["path"] == "/api/v2/batch" for op in r["body"]["batch"]]


def test_enter_and_exit_by_email_with_attribute_event_and_segment(
    tmp_path: Path, sandbox: tuple[Sandbox, str]
) -> None:
    box, url = sandbox
    box.clear()
    clock = Clock(T0)
    config = _config(
        tmp_path,
        url,
        identifier="email",
        membership_attribute=True,
        events={"on_enter": "audience_entered", "on_exit": "audience_exited"},
        segment_id=7,
    )
    with Engine(load_config(config), clock=clock) as eng:
        eng.ingest("customerio", [_open("ana@example.com", 1)])
        stats, _ = service.run(eng, JOB)
        assert stats.dead == 0 and stats.sent == 3
        identify, event = _ops(box)
        assert identify == {
            "type": "person",
            "action": "identify",
            "identifiers": {"email": "ana@example.com"},
            "attributes": {"cio_channels": ["email"], "in_engaged_email": True},
            "timestamp": T0 // 1000,
        }
        assert event == {
            "type": "person",
            "action": "event",
            "identifiers": {"email": "ana@example.com"},
            "name": "audience_entered",
            "attributes": {"audience": "engaged_email"},
            "timestamp": T0 // 1000,
        }
        (segment,) = [r for r in _requests(box) if "/segments/" in r["path"]]
        assert (segment["method"], segment["path"], segment["body"], segment["status"]) == (
            "POST",
            "/api/v1/segments/7/add_customers?id_type=email",
            {"ids": ["ana@example.com"]},
            200,
        )
        assert box.people()["ana@example.com"]["in_engaged_email"] is True
        assert box.segments() == {7: ["ana@example.com"]}
        assert [e["name"] for e in box.events()] == ["audience_entered"]

        # 30 days later she leaves: the mirror image
        box.clear("requests")
        clock.ms = 1769490000_000 + 30 * DAY
        assert eng.run_due() == 1
        stats, _ = service.run(eng, JOB)
        assert stats.dead == 0 and stats.sent == 3
        identify, event = _ops(box)
        assert identify["identifiers"] == {"email": "ana@example.com"}
        assert identify["attributes"] == {"in_engaged_email": False}
        assert identify["timestamp"] == clock.ms // 1000
        assert (event["name"], event["timestamp"]) == ("audience_exited", clock.ms // 1000)
        (segment,) = [r for r in _requests(box) if "/segments/" in r["path"]]
        assert segment["path"] == "/api/v1/segments/7/remove_customers?id_type=email"
        assert segment["body"] == {"ids": ["ana@example.com"]}
    assert box.people()["ana@example.com"]["in_engaged_email"] is False
    assert box.segments() == {7: []}


def test_merge_of_two_sent_people(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    config = _config(tmp_path, url, id_field="cio_customer_id", email_field="email")
    with Engine(load_config(config), clock=Clock(T0)) as eng:
        eng.ingest(
            "customerio",
            [
                {
                    "event_id": "m1",
                    "object_type": "email",
                    "metric": "clicked",
                    "timestamp": 1769490000,
                    "data": {
                        "identifiers": {"id": "a1", "email": "a@example.com"},
                        "recipient": "a@example.com",
                    },
                },
                {
                    "event_id": "m2",
                    "object_type": "email",
                    "metric": "clicked",
                    "timestamp": 1769490000,
                    "data": {
                        "identifiers": {"id": "b1", "email": "b@example.com"},
                        "recipient": "b@example.com",
                    },
                },
            ],
        )
        assert service.run(eng, JOB)[0].sent == 2
        assert sorted(box.people()) == ["a1", "b1"]
        box.clear("requests")
        # one event names both: the profiles merge, and so do the people in Customer.io
        eng.ingest(
            "customerio",
            [
                {
                    "event_id": "m3",
                    "object_type": "email",
                    "metric": "clicked",
                    "timestamp": 1769490100,
                    "data": {
                        "identifiers": {"id": "a1", "email": "b@example.com"},
                        "recipient": "b@example.com",
                    },
                }
            ],
        )
        stats, _ = service.run(eng, JOB)
        assert stats.dead == 0
        ops = _ops(box)
        merges = [op for op in ops if op["action"] == "merge"]
        assert len(merges) == 1
        (merge,) = merges
        assert {merge["primary"]["id"], merge["secondary"]["id"]} == {"a1", "b1"}
        assert merge["timestamp"] == T0 // 1000
        assert ops[0] == merge  # before the survivor's identify
        survivor, gone = merge["primary"]["id"], merge["secondary"]["id"]
        assert survivor in box.people() and gone not in box.people()


def test_suppress_on_exit_and_unsuppress_on_reentry_by_cio_id(
    tmp_path: Path, sandbox: tuple[Sandbox, str]
) -> None:
    box, url = sandbox
    box.clear()
    clock = Clock(T0)
    # the value of cio_customer_id stands for a cio_id here
    config = _config(
        tmp_path,
        url,
        identifier="cio_id",
        id_field="cio_customer_id",
        email_field="email",
        on_exit="suppress",
    )
    with Engine(load_config(config), clock=clock) as eng:
        eng.ingest("customerio", [_open("c@example.com", 1, id="abc123")])
        service.run(eng, JOB)
        unsuppress, identify = _ops(box)
        assert (unsuppress["action"], unsuppress["identifiers"]) == (
            "unsuppress",
            {"cio_id": "abc123"},
        )
        assert identify["identifiers"] == {"cio_id": "abc123"}
        assert "cio_abc123" in box.people()
        box.clear("requests")
        clock.ms = 1769490000_000 + 30 * DAY
        eng.run_due()
        service.run(eng, JOB)
        (suppress,) = _ops(box)
        assert (suppress["action"], suppress["identifiers"]) == ("suppress", {"cio_id": "abc123"})
        assert box.suppressed() == ["cio_abc123"] and "cio_abc123" not in box.people()
        # back again: unsuppressed before the identify
        box.clear("requests")
        eng.ingest("customerio", [_open("c@example.com", 2, clock.ms // 1000, id="abc123")])
        service.run(eng, JOB)
        assert [op["action"] for op in _ops(box)] == ["unsuppress", "identify"]
    assert box.suppressed() == [] and "cio_abc123" in box.people()


def test_a_newer_identify_replaces_the_queued_one_and_a_failed_one_is_superseded(
    tmp_path: Path, sandbox: tuple[Sandbox, str]
) -> None:
    box, url = sandbox
    box.clear()
    config = _config(tmp_path, url, identifier="email")
    with Engine(load_config(config), clock=Clock(T0)) as eng:
        eng.ingest("customerio", [_open("d@example.com", 1)])
        eng.ingest("customerio", [_open("d@example.com", 2, 1769490001, channel="sms")])
        rows = eng.store.due_outbox(JOB, 2**62, 10)
        assert [r[2] for r in rows] == ["identify"]  # one, the newest
        assert sorted(orjson.loads(rows[0][3])["attributes"]["cio_channels"]) == ["email", "sms"]
        # the queued identify is claimed and fails; a newer one came meanwhile
        ((item_id, _pid, action, body, attempts, created),) = eng.store.claim_outbox(
            JOB, T0, 10, 60_000
        )
        eng.ingest("customerio", [_open("d@example.com", 3, 1769490002, channel="push")])
        assert eng.store.outbox_superseded([item_id]) == {item_id}
        job = eng.export_jobs.jobs[JOB]
        runner = JobRunner(job, eng.store, None, clock=eng.clock)  # type: ignore[arg-type]
        try:
            runner._apply(
                [(Item(item_id, action, orjson.loads(body)), Outcome(RETRY, 503))],
                {item_id: (attempts, created)},
                1,
            )
        finally:
            runner.close()
        assert (runner.stats.superseded, runner.stats.retried, runner.stats.sent) == (1, 0, 0)
        stats, _ = service.run(eng, JOB)
    assert stats.sent == 1 and stats.dead == 0
    assert sorted(box.people()["d@example.com"]["cio_channels"]) == ["email", "push", "sms"]


def test_config_tests_name_every_new_action(tmp_path: Path) -> None:
    """`expect.requests` (docs/config.md) lists events, segment calls and suppress too."""
    path = _config(
        tmp_path,
        "http://127.0.0.1:9",
        identifier="email",
        membership_attribute=True,
        on_exit="suppress",
        events={"on_enter": "audience_entered"},
        segment_id=7,
    )
    with path.open("a") as f:
        f.write("""\
tests:
  - name: an email click enters the audience
    stream: customerio
    events:
      - {event_id: c1, object_type: email, metric: clicked, timestamp: 1769420700,
         data: {identifiers: {email: ana@example.com}, recipient: ana@example.com}}
    expect:
      requests:
        - {job: engaged_to_customerio, action: unsuppress, id: ana@example.com}
        - {job: engaged_to_customerio, action: identify, id: ana@example.com,
           attributes: {cio_channels: [email], in_engaged_email: true}}
        - {job: engaged_to_customerio, action: event, id: ana@example.com,
           name: audience_entered}
        - {job: engaged_to_customerio, action: segment_add, id: ana@example.com,
           segment_id: 7}
""")
    config = load_config(path)
    (case,) = [c for c in config.settings.tests if c.name.startswith("an email click")]
    result = run_case(config, case)
    assert result.ok, result.failures
