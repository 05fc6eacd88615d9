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

The queue is bounded (`server.max_queue_events`): when it is full, `submit` refuses, and the
collect API answers 429 so the sender retries later instead of the daemon running out of memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
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


@dataclass
class _Submission:
    stream: str
    records: list[Record]
    future: Future[tuple[int, int, int]] = field(default_factory=Future)


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
        sub = _Submission(stream, records)
        with self._cond:
            if self._stopping or self.failure is not None:
                raise WriterStopped("the daemon is shutting down")
            if self._queue and self.queued_events + len(records) > self.max_queue_events:
                raise QueueFull(f"{self.queued_events} events are waiting to be written")
            self._queue.append(sub)
            self.queued_events += len(records)
            self._cond.notify()
        return sub.future

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
                    sub.future.set_exception(exc)
                self._pause()
            elif len(group) == 1:
                self._refuse(group[0], exc)
            else:
                for sub in group:  # find the request it comes from; the others are stored
                    self._commit(engine, [sub])
            return
        m = self.metrics
        newest = 0
        for sub, (accepted, duplicates, last) in zip(group, counts, strict=True):
            if m is not None:
                m.events_accepted.labels(sub.stream).inc(accepted)
                m.events_duplicate.labels(sub.stream).inc(duplicates)
            newest = max(newest, last)
            sub.future.set_result((accepted, duplicates, last))
        if m is not None:
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
        sub.future.set_exception(Unstorable(reason))

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
                self._queue.popleft().future.set_exception(exc)
            self.queued_events = 0
