"""The daemon's log writer: group commits for the collect API.

SQLite has one writer at a time, and fsync is what a durable answer costs, so one thread owns
the intake `Engine`. Collect requests queue their events; the thread takes everything queued,
appends it to the log in one transaction with one fsync (a group commit: under load many
requests share the cost of one fsync), and only then answers them. Applying the log to
profiles happens in another process (`engine.server.processing`), told by `on_commit`, so
neither waits for the other's CPU.

A group commit that fails on its data (an event the store cannot hold), not on the storage, is
committed again one request at a time: only the request that holds the event fails, with
`Unstorable`, and the writer does not pause, so one bad request never fails its neighbours.

A request on the event loop waits on an asyncio future of its own (`submit_async`): after a
commit the thread wakes each event loop once with every answer of the group, instead of once
per request as `asyncio.wrap_future` would, and counters move once per stream per commit.

The queue is bounded (`server.max_queue_events`): when it is full, `submit` refuses, and the
collect API answers 429 so the sender retries later instead of the daemon running out of memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from engine.engine import Engine
from engine.pipeline.intake import Record
from engine.program import Config
from engine.server.metrics import Metrics
from engine.store import is_unavailable

log = logging.getLogger("engine.server")

GROUP_EVENTS = 50_000  # most events per group commit
RETRY_S = 1.0  # wait after a failed write before trying again


class QueueFull(Exception):
    """The ingest queue holds `server.max_queue_events` events already."""


class WriterStopped(Exception):
    """The writer is stopping or has failed; nothing more is accepted."""


class Unstorable(Exception):
    """A request holds an event the log cannot store; retrying it will not help."""


class LogSink(Protocol):
    """Where the writer makes events durable: the store's log (`Engine`), or a transport's
    (`engine.server.transported.TransportLog`)."""

    def log(self, requests: Sequence[tuple[str, Sequence[Record]]]
            ) -> list[tuple[int, int, int]]: ...

    def last_seq(self) -> int: ...

    def reconfigure(self, config: Config) -> None: ...

    def close(self) -> None: ...


def open_log_engine(config: Config) -> Engine:
    """The engine the writer appends with: its commits survive a power cut (the store's
    default durability), since a 200 promises the events do; upkeep runs in the background
    (the daemon's store maintenance), so that no commit waits for it."""
    return Engine(config, drain=False, locks=("log",), background_checkpoints=True)


Counts = tuple[int, int, int]  # accepted, duplicates, newest seq


@dataclass
class _Submission:
    stream: str
    records: list[Record]
    future: Future[Counts] | None = None  # for `submit`
    # for `submit_async`: the future its answer goes to, on its event loop
    waiter: asyncio.Future[Counts] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def settle(self, result: Counts | None, exc: BaseException | None = None) -> None:
        """Give the answer, from the writer thread (one wake-up of the loop per call)."""
        if self.loop is None:
            assert self.future is not None
            if exc is None:
                assert result is not None
                self.future.set_result(result)
            else:
                self.future.set_exception(exc)
            return
        _wake(self.loop, [(self, result, exc)])


Outcome = tuple[_Submission, Counts | None, BaseException | None]


def _wake(loop: asyncio.AbstractEventLoop, outcomes: list[Outcome]) -> None:
    """Hand answers to waiters on `loop`; a loop that has closed has no one left to answer."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[Outcome]) -> None:
    """On the event loop: set each waiter's answer, unless its request gave up waiting."""
    for sub, result, exc in outcomes:
        waiter = sub.waiter
        if waiter is None or waiter.done():
            continue
        if exc is None:
            assert result is not None
            waiter.set_result(result)
        else:
            waiter.set_exception(exc)


class Writer:
    """Owns the engine; `submit` from any thread, everything else happens on its thread."""

    def __init__(self, open_engine: Callable[[Config], LogSink], config: Config, *,
                 max_queue_events: int, metrics: Metrics | None = None,
                 on_commit: Callable[[int], None] | None = None) -> None:
        self._open_engine = open_engine
        self.config = config
        self.max_queue_events = max_queue_events
        self.metrics = metrics
        self.on_commit = on_commit
        self._cond = threading.Condition()
        self._queue: deque[_Submission] = deque()
        self.queued_events = 0
        self._reload: tuple[Config, Future[None]] | None = None
        self._stopping = False
        self.ready = threading.Event()  # the engine is open
        self.failure: BaseException | None = None  # why the writer could not start
        self.last_error: str | None = None
        self.last_seq = 0  # the newest logged event
        self._thread = threading.Thread(target=self._run, name="engine-writer", daemon=True)

    # ---- any thread

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.failure is None

    def submit(self, stream: str, records: list[Record]) -> Future[tuple[int, int, int]]:
        """Queue events for the log; the future gives ``(accepted, duplicates, newest seq)``
        once they are durable. Raises `QueueFull` or `WriterStopped` instead of queueing."""
        sub = _Submission(stream, records, future=Future())
        self._queue_up(sub)
        assert sub.future is not None
        return sub.future

    def submit_async(self, stream: str, records: list[Record]) -> asyncio.Future[Counts]:
        """`submit` for a caller on an event loop: awaiting the result costs no thread hop
        per request (the writer wakes the loop once per group commit)."""
        loop = asyncio.get_running_loop()
        sub = _Submission(stream, records, waiter=loop.create_future(), loop=loop)
        self._queue_up(sub)
        assert sub.waiter is not None
        return sub.waiter

    def _queue_up(self, sub: _Submission) -> None:
        records = sub.records
        with self._cond:
            if self._stopping or self.failure is not None:
                raise WriterStopped("the daemon is shutting down")
            if self._queue and self.queued_events + len(records) > self.max_queue_events:
                raise QueueFull(f"{self.queued_events} events are waiting to be written")
            self._queue.append(sub)
            self.queued_events += len(records)
            self._cond.notify()

    def reload(self, config: Config) -> Future[None]:
        """Swap to a compiled and tested config between two writes."""
        future: Future[None] = Future()
        with self._cond:
            self._reload = (config, future)
            self._cond.notify()
        return future

    def stop(self, timeout: float | None = None) -> None:
        """Commit what is queued, then close the store."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # ---- the writer thread

    def _run(self) -> None:
        try:
            engine = self._open_engine(self.config)
        except BaseException as exc:
            self.failure = exc
            log.error("the store cannot be opened", extra={"reason": str(exc)})
            self.ready.set()
            self._fail_queue(WriterStopped(str(exc)))
            return
        try:
            self.last_seq = engine.last_seq()
            self.ready.set()
            self._loop(engine)
        finally:
            try:
                engine.close()
            except Exception as exc:
                log.error("closing the store failed", extra={"reason": str(exc)})

    def _loop(self, engine: LogSink) -> None:
        while True:
            with self._cond:
                while not (self._queue or self._reload or self._stopping):
                    self._cond.wait()
                group = self._take()
                reload, self._reload = self._reload, None
                stopping = self._stopping and not self._queue
            if group:
                self._commit(engine, group)
            if reload is not None:
                self._swap(engine, *reload)
            if stopping:
                return

    def _take(self) -> list[_Submission]:
        group: list[_Submission] = []
        events = 0
        while self._queue and (not group or events + len(self._queue[0].records)
                               <= GROUP_EVENTS):
            sub = self._queue.popleft()
            group.append(sub)
            events += len(sub.records)
        self.queued_events -= events
        return group

    def _commit(self, engine: LogSink, group: list[_Submission]) -> None:
        start = time.perf_counter()
        try:
            counts = engine.log([(sub.stream, sub.records) for sub in group])
        except Exception as exc:
            if is_unavailable(exc):
                self.last_error = f"writing the event log failed: {exc}"
                log.error("group commit failed", extra={"reason": str(exc),
                                                        "requests": len(group)})
                for sub in group:
                    sub.settle(None, exc)
                self._pause()
            elif len(group) == 1:
                self._refuse(group[0], exc)
            else:
                for sub in group:  # find the request it comes from; the others are stored
                    self._commit(engine, [sub])
            return
        m = self.metrics
        newest = 0
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        by_stream: dict[str, list[int]] = {}
        for sub, (accepted, duplicates, last) in zip(group, counts, strict=True):
            tally = by_stream.setdefault(sub.stream, [0, 0])
            tally[0] += accepted
            tally[1] += duplicates
            newest = max(newest, last)
            if sub.loop is None:
                sub.settle((accepted, duplicates, last))
            else:
                by_loop.setdefault(sub.loop, []).append((sub, (accepted, duplicates, last), None))
        for loop, outcomes in by_loop.items():
            _wake(loop, outcomes)
        if m is not None:
            for stream, (accepted, duplicates) in by_stream.items():
                m.events_accepted.labels(stream).inc(accepted)
                m.events_duplicate.labels(stream).inc(duplicates)
            m.commit_seconds.observe(time.perf_counter() - start)
            m.commit_events.observe(sum(len(sub.records) for sub in group))
        if newest:
            self.last_seq = max(self.last_seq, newest)
            if self.on_commit is not None:
                self.on_commit(self.last_seq)

    def _refuse(self, sub: _Submission, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        log.warning("a request holds an event the log cannot store; it is refused",
                    extra={"stream": sub.stream, "events": len(sub.records), "reason": reason})
        sub.settle(None, Unstorable(reason))

    def _swap(self, engine: LogSink, config: Config, future: Future[None]) -> None:
        try:
            engine.reconfigure(config)
        except Exception as exc:
            future.set_exception(exc)
            return
        self.config = config
        future.set_result(None)

    def _pause(self) -> None:
        """After a failed write (disk full, …): wait before the next try, unless stopping."""
        with self._cond:
            if not self._stopping:
                self._cond.wait(RETRY_S)

    def _fail_queue(self, exc: BaseException) -> None:
        with self._cond:
            while self._queue:
                self._queue.popleft().settle(None, exc)
            self.queued_events = 0
