"""The writer thread and the app in-process: the queue bound (429), storage failures (503)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine import Config, load_config
from engine.engine import Engine
from engine.pipeline.intake import Record
from engine.server.app import Daemon, create_app
from engine.server.metrics import Live, Metrics
from engine.server.writer import QueueFull, Writer
from tests.server.conftest import TOKEN, write_config


class BlockedEngine:
    """A log sink whose writes wait for `release`, or fail with `error`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.error: Exception | None = None

    def log(self, requests: Sequence[tuple[str, Sequence[Record]]]
            ) -> list[tuple[int, int, int]]:
        self.entered.set()
        self.release.wait(30)
        if self.error is not None:
            raise self.error
        return [(len(records), 0, 0) for _stream, records in requests]

    def last_seq(self) -> int:
        return 0

    def reconfigure(self, config: Config) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(write_config(tmp_path, extra_server="  max_queue_events: 3"))


@pytest.fixture
def blocked(config: Config) -> Iterator[tuple[BlockedEngine, Writer]]:
    engine = BlockedEngine()
    writer = Writer(lambda _c: engine, config, max_queue_events=3)
    writer.start()
    yield engine, writer
    engine.release.set()
    writer.stop()


def _record(i: int) -> Record:
    return (f"k{i}", 0, b"{}", None)


def test_the_queue_refuses_once_full_and_accepts_again_after_the_commit(
        blocked: tuple[BlockedEngine, Writer]) -> None:
    engine, writer = blocked
    first = writer.submit("customerio", [_record(0)])  # taken at once: the log write blocks
    assert engine.entered.wait(10)
    waiting = writer.submit("customerio", [_record(1), _record(2)])
    with pytest.raises(QueueFull):
        writer.submit("customerio", [_record(3), _record(4)])
    engine.release.set()
    assert first.result(10) == (1, 0, 0)
    assert waiting.result(10) == (2, 0, 0)
    assert writer.submit("customerio", [_record(5)]).result(10) == (1, 0, 0)


def _post(config: Config, writer: Writer, tmp_path: Path, *bodies: bytes
          ) -> list[httpx.Response]:
    """Post each body in turn to the app, in this process (no server, no lifespan)."""
    metrics = Metrics(Live(failures=dict, queue_events=lambda: writer.queued_events,
                           backlog_events=lambda: 0, profiles=lambda: 0,
                           retrying=lambda: 0))
    reader = Engine(config, read_only=True, store_path=tmp_path / "read.db")
    app = create_app(Daemon(config, writer, reader, metrics))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://engine") as c:
            return [await c.post(f"/collect/json/customerio?key={TOKEN}", content=body)
                    for body in bodies]

    try:
        return asyncio.run(run())
    finally:
        reader.close()


def test_a_full_queue_answers_429_with_retry_after(
        config: Config, blocked: tuple[BlockedEngine, Writer], tmp_path: Path) -> None:
    engine, writer = blocked
    writer.submit("customerio", [_record(0)])
    assert engine.entered.wait(10)
    writer.submit("customerio", [_record(1), _record(2), _record(3)])
    (r,) = _post(config, writer, tmp_path, b'{"event_id": "x"}')
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"] == "queue_full"


def test_a_failed_commit_answers_503_and_the_writer_goes_on(
        config: Config, blocked: tuple[BlockedEngine, Writer], tmp_path: Path) -> None:
    engine, writer = blocked
    engine.error = OSError("disk full")
    engine.release.set()
    (r,) = _post(config, writer, tmp_path, b'{"event_id": "x"}')
    assert r.status_code == 503 and r.json()["error"] == "storage_unavailable"
    assert "disk full" not in r.text  # the reason goes to the log, not to the sender
    assert writer.last_error is not None and "disk full" in writer.last_error
    engine.error = None
    (ok,) = _post(config, writer, tmp_path, b'{"event_id": "y"}')
    assert ok.status_code == 200


def test_waiters_on_an_event_loop_are_answered_with_one_wake_up_per_commit(
        blocked: tuple[BlockedEngine, Writer]) -> None:
    engine, writer = blocked

    async def run() -> tuple[list[tuple[int, int, int]], int]:
        loop = asyncio.get_running_loop()
        wakes = 0
        call_soon_threadsafe = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal wakes
            wakes += getattr(callback, "__module__", "") == "engine.server.writer"
            return call_soon_threadsafe(callback, *args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        first = writer.submit_async("customerio", [_record(0)])  # the log write blocks on it
        await asyncio.to_thread(engine.entered.wait, 10)
        rest = [writer.submit_async("customerio", [_record(1)]),
                writer.submit_async("customerio", [_record(2)])]  # one group, queued behind
        engine.release.set()
        answers = [await first, *[await f for f in rest]]
        return answers, wakes

    answers, wakes = asyncio.run(run())
    assert answers == [(1, 0, 0), (1, 0, 0), (1, 0, 0)]
    assert wakes == 2  # two commits, one wake-up each


def test_a_collect_path_starlette_would_not_route_still_gets_its_answer(
        config: Config, tmp_path: Path) -> None:
    writer = Writer(Engine, config, max_queue_events=100)
    metrics = Metrics(Live(failures=dict, queue_events=lambda: 0, backlog_events=lambda: 0,
                           profiles=lambda: 0, retrying=lambda: 0))
    reader = Engine(config, read_only=True, store_path=tmp_path / "read.db")
    app = create_app(Daemon(config, writer, reader, metrics))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://engine") as c:
            return [await c.post(f"/collect/json/customerio/more?key={TOKEN}", content=b"{}"),
                    await c.post(f"/collect/json/?key={TOKEN}", content=b"{}")]

    try:
        answers = asyncio.run(run())
    finally:
        reader.close()
    assert [(r.status_code, r.json()["error"]) for r in answers] == [
        (404, "not_found"), (404, "not_found")]


def test_a_group_commit_appends_each_stream_once_and_answers_each_request(
        config: Config) -> None:
    """The requests of one group are logged with one append per stream; a key two of them
    carry is a duplicate in the later one, as if each had been logged alone in turn."""
    with Engine(config, drain=False, locks=("log",)) as engine:
        counts = engine.log([("customerio", [_record(1)]),
                             ("customerio", [_record(1), _record(2)]),
                             ("customerio", []),
                             ("customerio", [_record(3)])])
        assert counts == [(1, 0, 1), (1, 1, 2), (0, 0, 0), (1, 0, 3)]
        [(accepted, duplicates, newest)] = engine.log(
            [("customerio", [_record(2), _record(4)])])
        assert (accepted, duplicates) == (1, 1) and newest > 3
        assert [row[2] for row in engine.store.read_log(0, 10)] == ["k1", "k2", "k3", "k4"]
