"""The daemon's one writer: group commits for the collect API, and the processing loop.

SQLite has one writer at a time, so one thread owns the `Engine` and does every write. Collect
requests queue their events; the thread takes everything queued, appends it to the log in one
transaction with one fsync (a group commit: under load, many requests share the cost of one
fsync), and only then answers them. Between commits it applies a slice of the log to profiles,
in a transaction with the processed position (SPEC §6.5). Slices stay small so that a commit
never waits long behind them; under load the processing falls behind the log and catches up
when the load drops, and no event is lost either way because the log is durable first.

The queue is bounded (`server.max_queue_events`): when it is full, `submit` refuses, and the
collect API answers 429 so the sender retries later instead of the daemon running out of memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from engine.config import Config
from engine.engine import Engine
from engine.pipeline.intake import Record
from engine.server.metrics import Metrics

log = logging.getLogger("engine.server")

SLICE_EVENTS = 2000  # events applied per processing transaction
GROUP_EVENTS = 50_000  # most events per group commit
RETRY_S = 1.0  # wait after a failed write before trying again


class QueueFull(Exception):
    """The ingest queue holds `server.max_queue_events` events already."""


class WriterStopped(Exception):
    """The writer is stopping or has failed; nothing more is accepted."""


@dataclass
class _Submission:
    stream: str
    records: list[Record]
    future: Future[tuple[int, int]] = field(default_factory=Future)


class Writer:
    """Owns the engine; `submit` from any thread, everything else happens on its thread."""

    def __init__(self, open_engine: Callable[[Config], Engine], config: Config, *,
                 max_queue_events: int, metrics: Metrics | None = None,
                 slice_events: int = SLICE_EVENTS) -> None:
        self._open_engine = open_engine
        self.config = config
        self.max_queue_events = max_queue_events
        self.metrics = metrics
        self.slice_events = slice_events
        self._cond = threading.Condition()
        self._queue: deque[_Submission] = deque()
        self.queued_events = 0
        self._reload: tuple[Config, Future[None]] | None = None
        self._stopping = False
        self._drain_on_stop = True
        self.ready = threading.Event()  # the engine is open
        self.failure: BaseException | None = None  # why the writer could not start
        self.last_error: str | None = None
        self.backlog = 0
        self.profiles = 0
        self._thread = threading.Thread(target=self._run, name="engine-writer", daemon=True)

    # ---- any thread

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.failure is None

    def submit(self, stream: str, records: list[Record]) -> Future[tuple[int, int]]:
        """Queue events for the log; the future gives ``(accepted, duplicates)`` once they are
        durable. Raises `QueueFull` or `WriterStopped` instead of queueing."""
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

    def stop(self, *, drain: bool = True, timeout: float | None = None) -> None:
        """Commit what is queued, apply the log (unless `drain` is false), close the store."""
        with self._cond:
            self._stopping = True
            self._drain_on_stop = drain
            self._cond.notify()
        self._thread.join(timeout)

    def skip_drain(self) -> None:
        """Stop applying the log at the next slice (it stays durable for the next start)."""
        with self._cond:
            self._drain_on_stop = False
            self._cond.notify()

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
            self.backlog = engine.backlog()
            self.profiles = engine.store.count_profiles()
            self.ready.set()
            self._loop(engine)
        finally:
            try:
                engine.close()
            except Exception as exc:
                log.error("closing the store failed", extra={"reason": str(exc)})

    def _loop(self, engine: Engine) -> None:
        while True:
            with self._cond:
                while not (self._queue or self._reload or self._stopping or self.backlog):
                    self._cond.wait()
                group = self._take()
                reload, self._reload = self._reload, None
                stopping = self._stopping and not self._queue
            if group:
                self._commit(engine, group)
            if reload is not None:
                self._swap(engine, *reload)
            if stopping:
                while self._drain_on_stop and self.backlog and self._process(engine):
                    pass
                return
            if self.backlog:
                self._process(engine)

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

    def _commit(self, engine: Engine, group: list[_Submission]) -> None:
        start = time.perf_counter()
        try:
            counts = engine.log([(sub.stream, sub.records) for sub in group])
        except Exception as exc:
            self.last_error = f"writing the event log failed: {exc}"
            log.error("group commit failed", extra={"reason": str(exc),
                                                    "requests": len(group)})
            for sub in group:
                sub.future.set_exception(exc)
            self._pause()
            return
        m = self.metrics
        for sub, (accepted, duplicates) in zip(group, counts, strict=True):
            if m is not None:
                m.events_accepted.labels(sub.stream).inc(accepted)
                m.events_duplicate.labels(sub.stream).inc(duplicates)
            self.backlog += accepted
            sub.future.set_result((accepted, duplicates))
        if m is not None:
            m.commit_seconds.observe(time.perf_counter() - start)
            m.commit_events.observe(sum(len(sub.records) for sub in group))

    def _process(self, engine: Engine) -> bool:
        """Apply one slice of the log; whether it went well."""
        start = time.perf_counter()
        try:
            stats = engine.drain(self.slice_events)
            self.backlog = engine.backlog()
        except Exception as exc:
            self.last_error = f"applying the event log failed: {exc}"
            log.error("processing failed; retrying", extra={"reason": str(exc)})
            self._pause()
            return False
        self.profiles += stats.profiles_created - stats.merges
        m = self.metrics
        if m is not None:
            m.process_seconds.observe(time.perf_counter() - start)
            m.events_applied.inc(stats.events)
            m.profiles_created.inc(stats.profiles_created)
            m.merges.inc(stats.merges)
            m.unidentified.inc(stats.unidentified)
            m.dead_letters.inc(stats.dead_letters)
        return True

    def _swap(self, engine: Engine, config: Config, future: Future[None]) -> None:
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
