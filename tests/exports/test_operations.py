"""Operating an export job (docs/customerio.md "Operations"): its dead letters listed and
replayed after the cause is fixed, and an operator's pause that the runner reads from the
store. The assertions hold to counts, statuses and the job and person keys, never to how an
item's body addresses the person."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from engine.engine import Engine
from engine.exports import operations, service
from engine.exports.customerio import TrackClient
from engine.exports.runner import JobRunner
from engine.exports.sandbox import Sandbox, parse_script, running_sandbox
from engine.store import Store
from tests.exports.test_export_failures import FakeTime, _engine
from tests.services import poll

JOB = "engaged_to_customerio"
PEOPLE = ["usr_31555", "usr_48213", "usr_90077"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


@pytest.fixture
def setup(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> tuple[Engine, Sandbox, FakeTime]:
    """An engine whose job has the three fixture members queued, and the sandbox emptied."""
    box, url = sandbox
    box.clear()
    eng, fake = _engine(tmp_path, url)
    return eng, box, fake


def _batches(box: Sandbox) -> list[int | None]:
    return [r["status"] for r in box.requests() if r["path"] == "/api/v2/batch"]


def _refused(eng: Engine, box: Sandbox, fake: FakeTime) -> None:
    """Send the job's outbox to a sandbox that refuses the batch: every member a dead letter."""
    box.add_script(parse_script([{"status": 200}, {"status": 400}]))  # the check, the batch
    stats, _ = service.run(eng, JOB, sleep=fake.sleep)
    assert (stats.sent, stats.dead) == (0, 3)


def test_dead_letters_are_listed_then_replayed_once_after_the_fix(
    setup: tuple[Engine, Sandbox, FakeTime]
) -> None:
    eng, box, fake = setup
    with eng:
        queued = {row[1] for row in eng.store.due_outbox(JOB, eng.clock(), 10)}
        _refused(eng, box, fake)
        letters = operations.dead_letters(eng.store, JOB)
        assert [(d.job, d.action, d.status) for d in letters] == [(JOB, "identify", 400)] * 3
        assert {d.profile_id for d in letters} == queued
        assert all(d.identifiers and d.response for d in letters)
        assert operations.dead_letters(eng.store, "another_job") == []
        doc = letters[0].as_dict()
        assert doc["at"].endswith("Z") and doc["status"] == 400

        assert operations.replay(eng.store, JOB, eng.clock()) == 3
        assert operations.replay(eng.store, JOB, eng.clock()) == 0  # nothing twice
        assert eng.store.export_dead(JOB) == [] and eng.store.outbox_depth(JOB) == 3
        assert {row[1] for row in eng.store.due_outbox(JOB, eng.clock(), 10)} == queued

        box.clear("requests")  # the sandbox accepts again: the cause is fixed
        stats, _ = service.run(eng, JOB, sleep=fake.sleep)
        assert (stats.sent, stats.dead) == (3, 0)
        assert eng.store.outbox_depth(JOB) == 0
    assert _batches(box) == [200]
    assert sorted(box.people()) == PEOPLE


def test_a_replay_moves_every_dead_letter_whatever_their_number(
    setup: tuple[Engine, Sandbox, FakeTime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operations, "REPLAY_BATCH", 2)  # three items: two transactions
    eng, box, fake = setup
    with eng:
        _refused(eng, box, fake)
        assert operations.replay(eng.store, JOB, eng.clock()) == 3
        assert eng.store.export_dead(JOB) == [] and eng.store.outbox_depth(JOB) == 3


def test_an_operator_pause_stops_sends_and_the_outbox_keeps_filling(
    setup: tuple[Engine, Sandbox, FakeTime]
) -> None:
    eng, box, fake = setup
    with eng:
        since = operations.pause(eng.store, JOB, eng.clock())
        assert operations.pause(eng.store, JOB, eng.clock() + 5) == since  # kept, not moved
        assert operations.pause_state(eng.store, JOB)[0] == operations.OPERATOR
        stats, _ = service.run(eng, JOB, sleep=fake.sleep)
        assert stats.sent == 0 and stats.paused and "paused by the operator" in stats.paused
        later = {
            "event_id": "later-1",
            "object_type": "email",
            "metric": "clicked",
            "timestamp": 1769499000,
            "data": {"identifiers": {"id": "usr_31555", "email": "new.address@example.com"}},
        }
        eng.ingest("customerio", [later])
        # collected while paused: the newer identify of usr_31555 replaced its queued one
        assert eng.store.outbox_depth(JOB) == 3
        queued = [orjson.loads(row[3]) for row in eng.store.due_outbox(JOB, 2**62, 10)]
        assert [q["attributes"]["email"] for q in queued if q["id"] == "usr_31555"] == [
            "new.address@example.com"]
        assert eng.status()["exports"][0] | {"reason": None} == {
            "job": JOB,
            "state": "paused",
            "paused_by": "operator",
            "reason": None,
            "outbox": 3,
        }

        assert operations.resume(eng.store, JOB) is True
        assert operations.resume(eng.store, JOB) is False
        assert operations.pause_state(eng.store, JOB) == (None, None)
        stats, _ = service.run(eng, JOB, sleep=fake.sleep)
        assert stats.sent == 3 and not stats.paused
    assert _batches(box) == [200]  # the backlog, in one batch; nothing before the resume
    assert box.people()["usr_31555"]["email"] == "new.address@example.com"


def test_a_credentials_pause_is_told_apart_from_the_operators(
    setup: tuple[Engine, Sandbox, FakeTime]
) -> None:
    eng, _box, _fake = setup
    with eng:
        with eng.store.transaction():
            eng.store.set_paused(JOB, "Customer.io refused the credentials (401)")
        assert operations.pause_state(eng.store, JOB) == (
            operations.ERROR,
            "Customer.io refused the credentials (401)",
        )
        operations.pause(eng.store, JOB, eng.clock())
        by, why = operations.pause_state(eng.store, JOB)
        assert by == operations.OPERATOR and why is not None
        assert "operator" in why and "refused the credentials" in why


def test_the_runner_notices_a_pause_and_a_resume_made_on_another_connection(
    setup: tuple[Engine, Sandbox, FakeTime]
) -> None:
    eng, box, _fake = setup
    with eng:
        job = eng.export_jobs.jobs[JOB]
        assert job.authorization is not None
        other: Store = eng.store.connect()  # as another process, or another node, would
        runner_store = eng.store.connect()
        client = TrackClient(job.authorization)
        runner = JobRunner(job, runner_store, client, clock=eng.clock)
        stop, wake = threading.Event(), threading.Event()
        try:
            operations.pause(other, JOB, eng.clock())
            thread = threading.Thread(
                target=runner.run, kwargs={"until_empty": False, "stop": stop, "wake": wake}
            )
            thread.start()
            # the runner wakes for new items, looks at the store, and sends nothing
            wake.set()
            assert poll(lambda: not wake.is_set(), 10)
            assert _batches(box) == [] and eng.store.outbox_depth(JOB) == 3
            operations.resume(other, JOB)
            wake.set()
            assert box.wait_for(lambda: sorted(box.people()) == PEOPLE)
        finally:
            stop.set()
            wake.set()
            runner.close()
            client.close()
        thread.join(10)
        runner_store.close()
        other.close()
    assert runner.stats.sent == 3


class _PausedWhileClaiming:
    """A runner's store on which the operator's pause arrives, from another connection, just
    after the runner claimed its round."""

    def __init__(self, store: Store, other: Store, now: int) -> None:
        self.store, self.other, self.now = store, other, now

    def claim_outbox(self, *args: int | str) -> list[tuple[int, int, str, bytes, int, int]]:
        rows = self.store.claim_outbox(*args)  # type: ignore[arg-type]
        operations.pause(self.other, JOB, self.now)
        return rows

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def test_a_round_claimed_as_the_pause_came_goes_back_unsent_in_order(
    setup: tuple[Engine, Sandbox, FakeTime]
) -> None:
    eng, box, fake = setup
    with eng:
        job = eng.export_jobs.jobs[JOB]
        assert job.authorization is not None
        before = eng.store.due_outbox(JOB, eng.clock(), 10)
        other = eng.store.connect()
        client = TrackClient(job.authorization)
        store = _PausedWhileClaiming(eng.store, other, eng.clock())
        runner = JobRunner(
            job,
            store,
            client,
            clock=eng.clock,  # type: ignore[arg-type]
            sleep=fake.sleep,
        )
        try:
            assert runner.step() is True
        finally:
            runner.close()
            client.close()
            other.close()
        assert runner.stats.sent == runner.stats.requests == 0
        assert eng.store.due_outbox(JOB, eng.clock(), 10) == before  # due, unattempted, in order
        assert eng.store.outbox_unclaim(JOB) == 0  # none left claimed
    assert _batches(box) == []
