"""What export runners share across nodes (docs/exports.md "Across nodes"): an authorization's
rate limit, which every job on it keeps together, and outbox claims, so that two runners of one
job (a takeover) never send the same item at once. Each runner has a store connection of its
own, as on two nodes; waiting is done on an injected clock, advanced by the runners' sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from engine.config.model import AuthorizationSpec, ExportSpec, StorageSpec
from engine.exports.customerio import Item, Outcome, TrackClient
from engine.exports.jobs import ExportJob
from engine.exports.runner import CLAIM_LEASE_MS, JobRunner
from engine.exports.sandbox import Sandbox, running_sandbox
from engine.store import Store, open_store
from tests.exports.test_export_jobs import T_FIXTURES, Clock

RATE = 4.0  # the authorization's requests per second, for every job on it together


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> StorageSpec:
    if request.param == "sqlite":
        return StorageSpec(backend="sqlite", path=str(tmp_path / "store.db"))
    return StorageSpec(backend="postgres", dsn=request.getfixturevalue("postgres_dsn"),
                       schema=request.getfixturevalue("pg_schema"))


class Timed(TrackClient):
    """A client that notes on the injected clock when each request starts."""

    def __init__(self, auth: AuthorizationSpec, clock: Callable[[], int]) -> None:
        super().__init__(auth)
        self.clock = clock
        self.starts: list[int] = []

    def send(self, api: str, items: Sequence[Item]) -> list[Outcome]:
        self.starts.append(self.clock())
        return super().send(api, items)


def _job(name: str, auth: AuthorizationSpec) -> ExportJob:
    return ExportJob(ExportSpec(
        name=name, provider="customerio", authorization=auth.name, audience="a",
        id_field="id", api="v1", rate_limit_per_s=0, concurrency=1), auth)


def _queue(store: Store, job: str, n: int) -> None:
    with store.transaction():
        store.add_outbox(job, [(i, "identify", orjson.dumps(
            {"id": f"{job}-{i}", "attributes": {"n": i}})) for i in range(n)], T_FIXTURES)


def _rated(sandbox: tuple[Sandbox, str]
           ) -> tuple[Sandbox, AuthorizationSpec, Clock, Callable[[float], None]]:
    """The emptied sandbox, an authorization sending to it at RATE a second, and a clock that
    a runner's sleep moves on instead of waiting."""
    box, url = sandbox
    box.clear()
    auth = AuthorizationSpec(name="cio_main", provider="customerio", site_id="site-1",
                             api_key="key-1", base_url=url, rate_limit_per_s=RATE)
    clock = Clock(T_FIXTURES)

    def sleep(seconds: float) -> None:
        clock.ms += int(seconds * 1000)

    return box, auth, clock, sleep


def test_jobs_on_one_authorization_keep_its_rate_together_across_connections(
        storage: StorageSpec, sandbox: tuple[Sandbox, str]) -> None:
    box, auth, clock, sleep = _rated(sandbox)
    stores = [open_store(storage), open_store(storage)]  # one per node
    client = Timed(auth, clock)  # one for both: their requests in the order they start
    runners = [JobRunner(_job(name, auth), store, client, clock=clock, sleep=sleep)
               for name, store in zip(("first", "second"), stores, strict=True)]
    try:
        _queue(stores[0], "first", 10)
        _queue(stores[1], "second", 10)
        while any([runner.step() for runner in runners]):  # in turns: both busy at once
            pass
        assert sum(r.stats.sent for r in runners) == 20
        assert len(box.people()) == 20
    finally:
        for runner in runners:
            runner.close()
        client.close()
        for store in stores:
            store.close()
    starts = client.starts
    # A token bucket's promise, for both jobs together: in any span of W ms, at most a burst
    # (one second's worth) and RATE a second. Each job alone would have sent all of its own
    # items within 1.5 s.
    assert len(starts) == 20
    burst = int(RATE)
    for span in (1, 1000, 2000, 5000):
        for i, start in enumerate(starts):
            within = [s for s in starts[i:] if s < start + span]
            assert len(within) <= burst + RATE * span / 1000, (start - T_FIXTURES, span)
    assert starts[-1] - starts[0] >= (20 - burst) * 1000 / RATE


def test_a_second_runner_of_a_job_leaves_the_items_the_first_claimed(
        storage: StorageSpec, sandbox: tuple[Sandbox, str]) -> None:
    box, url = sandbox
    box.clear()
    auth = AuthorizationSpec(name="cio_main", provider="customerio", site_id="site-1",
                             api_key="key-1", base_url=url)
    clock = Clock(T_FIXTURES)
    stores = [open_store(storage), open_store(storage)]
    client = TrackClient(auth)
    job = _job("job", auth)
    runners = [JobRunner(job, store, client, clock=clock) for store in stores]
    try:
        _queue(stores[0], "job", 3)
        # the first runner's node died after it claimed one item (v1: one per request)
        (claimed,) = stores[0].claim_outbox("job", clock(), 1, CLAIM_LEASE_MS)
        assert runners[1].step() and runners[1].step()  # v1, concurrency 1: one item a step
        assert runners[1].stats.sent == 2 and stores[1].outbox_depth("job") == 1
        assert not runners[1].step()  # still claimed
        clock.ms += CLAIM_LEASE_MS  # its lease ended: sent by the runner still alive
        assert runners[1].step()
        assert stores[1].outbox_depth("job") == 0
        assert sorted(box.people()) == ["job-0", "job-1", "job-2"]
        assert [r["path"] for r in box.requests()].count(
            f"/api/v1/customers/job-{claimed[1]}") == 1
    finally:
        for runner in runners:
            runner.close()
        client.close()
        for store in stores:
            store.close()



def test_segment_calls_take_from_the_authorizations_bucket(
        storage: StorageSpec, sandbox: tuple[Sandbox, str]) -> None:
    box, auth, clock, sleep = _rated(sandbox)
    store = open_store(storage)
    client = Timed(auth, clock)
    runner = JobRunner(_job("segments", auth), store, client, clock=clock, sleep=sleep)
    try:
        with store.transaction():  # eight segments: eight requests, however few people
            store.add_outbox("segments", [(i, "segment_add", orjson.dumps(
                {"id": f"p{i}", "segment_id": i + 1})) for i in range(8)], T_FIXTURES)
        while runner.step():
            pass
        assert runner.stats.sent == 8
    finally:
        runner.close()
        client.close()
        store.close()
    assert box.segments() == {i + 1: [f"p{i}"] for i in range(8)}
    starts = client.starts
    assert len(starts) == 8 and starts[-1] - starts[0] >= (8 - int(RATE)) * 1000 / RATE
