"""One request the log cannot store must not fail the requests committed with it.

Found by posting one webhook whose `timestamp` was 18446744073709551615 among 60 concurrent
innocent ones: the log writer commits the requests that wait together in one transaction, the
one unstorable event failed it, 55 innocent requests answered 503 `storage_unavailable` and the
writer paused. Now a group that fails on its data is committed again request by request: only
the offending request fails (422 `unstorable_event`), the others get 200, the writer goes on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from engine import load_config
from engine.engine import Engine
from engine.pipeline.intake import Record
from engine.server.writer import Writer
from engine.store.base import LogRow, NewEvent
from tests.helpers import webhook
from tests.hostile.conftest import served
from tests.server.conftest import TOKEN, start, write_config

REQUESTS = 60
POISON = 37


async def _post_all(url: str, bodies: Sequence[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as c:
        return list(await asyncio.gather(*(
            c.post(f"/collect/json/customerio?key={TOKEN}", json=b) for b in bodies)))


def test_a_huge_timestamp_among_concurrent_requests_fails_nobody(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path))
    try:
        bodies = [webhook(f"e{i}", 18446744073709551615 if i == POISON else None)
                  for i in range(REQUESTS)]
        answers = asyncio.run(_post_all(daemon.url, bodies))
        assert [r.status_code for r in answers] == [200] * REQUESTS
        with daemon.client() as c:
            r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied",
                       json=webhook("after"))
            assert r.status_code == 200
            ready = c.get("/readyz").json()
            assert ready["ready"] is True and ready["last_error"] is None
    finally:
        daemon.close()


class _Gate:
    """Holds the writer's first commit until every request is queued behind it, so that
    the other requests are committed as one group (deterministic, no sleeps)."""

    def __init__(self, writer: Writer, engine: Engine, requests: int) -> None:
        self.entered = threading.Event()
        self.queued = threading.Event()
        self.submitted = 0
        self.requests = requests
        submit, log = writer.submit_async, engine.log

        def counting_submit(stream: str, records: list[Record]) -> Any:
            future = submit(stream, records)
            self.submitted += 1
            if self.submitted == requests:
                self.queued.set()
            return future

        def held_log(requests: Sequence[tuple[str, Sequence[Record]]]) -> Any:
            if not self.entered.is_set():
                self.entered.set()
                assert self.queued.wait(30)
            return log(requests)

        writer.submit_async = counting_submit  # type: ignore[method-assign]
        engine.log = held_log  # type: ignore[method-assign]


def test_an_event_the_log_refuses_fails_only_its_own_request(tmp_path: Path) -> None:
    """Whatever the store refuses on the data of one event (here the store is told to refuse
    one event id), only that request is refused; its group's other requests are stored."""
    config = load_config(write_config(tmp_path))
    engines: list[Engine] = []

    def open_engine(c: Any) -> Engine:
        eng = Engine(c, drain=False, locks=("log",))
        append_events = eng.store.append_events

        def refuse_poison(stream: str, received: int, events: Sequence[NewEvent]
                          ) -> list[LogRow]:
            if any(event[0] == f"e{POISON}" for event in events):
                raise OverflowError("Python int too large to convert to SQLite INTEGER")
            return append_events(stream, received, events)

        eng.store.append_events = refuse_poison  # type: ignore[method-assign]
        engines.append(eng)
        return eng

    writer = Writer(open_engine, config, max_queue_events=100_000)
    with served(config, writer, tmp_path) as url:
        assert writer.ready.wait(30)
        gate = _Gate(writer, engines[0], REQUESTS)

        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                first = asyncio.create_task(
                    c.post(f"/collect/json/customerio?key={TOKEN}", json=webhook("e0")))
                await asyncio.to_thread(gate.entered.wait, 30)
                rest = await _post_all(url, [webhook(f"e{i}") for i in range(1, REQUESTS)])
                return [await first, *rest]

        answers = asyncio.run(run())
        codes = {i: r.status_code for i, r in enumerate(answers)}
        assert codes.pop(POISON) == 422
        assert set(codes.values()) == {200}
        refused = answers[POISON].json()
        assert refused["error"] == "unstorable_event"
        assert "OverflowError" in refused["message"]
        assert writer.last_error is None  # a data failure does not pause the writer
        with httpx.Client(base_url=url, timeout=30) as c:
            r = c.post(f"/collect/json/customerio?key={TOKEN}", json=webhook("after"))
            assert r.json() == {"accepted": 1, "duplicates": 0}
    with Engine(config, read_only=True) as eng:
        assert eng.store.last_seq() == REQUESTS  # 59 of the 60, and the one after
