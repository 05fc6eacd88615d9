"""The daemon's processing loop, in a process of its own (docs/pipeline.md, docs/http.md).

Applying events — transforms, mappings, identity resolution, merges — is Python work that
would compete with the HTTP server for the interpreter lock; in its own process it runs on
another core while the server keeps answering. The processor reads the event log after the
processed position, applies a slice, and commits the profiles with the new position in one
transaction, exactly as `engine ingest` does, so a crash of either process loses nothing and
applies nothing twice.

The daemon's main process holds the store lock and writes only the log; the processor applies
it. They talk over a pipe: the processor reports each slice (position, counts, failures per
field) for `/metrics`, `/readyz` and `?wait=applied`; the daemon sends `reload` and `stop`,
and rings a doorbell after each commit so an idle processor wakes at once.

Under a steady flow of small commits, a processor that caught up waits a moment
(`GATHER_S`) before its next slice, so that each slice holds more events and costs less
per event; a request with `?wait=applied` cuts the wait short (``hurry``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from engine.engine import Engine
from engine.errors import RuntimeFailure
from engine.exports import service
from engine.exports.daemon import Exporters
from engine.pipeline.processor import Stats
from engine.program import Config, load_config
from engine.server.logs import setup_logging
from engine.server.metrics import Metrics
from engine.server.transported import TransportSource
from engine.transport import open_transport

log = logging.getLogger("engine.server")

PR_SET_PDEATHSIG = 1  # prctl(2)
# The processor's CPU priority, the lowest there is: a sender waits on every collect request,
# while applying is asynchronous and catches up when the load drops. Each slice it applies
# then holds more events, and costs less per event (docs/performance.md).
PROCESSOR_NICE = 19
SLICE_EVENTS = 2000  # events applied per transaction (the log writer never waits for it)
# After a slice of fewer events than this (it caught up with a steady flow of small commits),
# the processor waits this long before the next, so that slices hold more events: a slice
# of 50 costs about 1.7 times as much per event as one of 2000 (docs/performance.md).
GATHER_EVENTS = 500
GATHER_S = 0.025
STATUS_EVERY_S = 1.0  # how often a busy processor reports its export jobs
REPORT_EVERY_S = 0.05  # how often a busy processor reports at all (an idle one: at once)
IDLE_WAIT_S = 5.0  # an idle processor also looks at the log this often
RETRY_FIRST_S = 0.1  # a failed slice is tried again after this, doubling up to RETRY_MAX_S
RETRY_MAX_S = 30.0
RETRY_LOG_EVERY_S = 60.0  # a failure that repeats is logged once per this, with its count
FETCH_WAIT_S = 1.0  # over a transport: how long one fetch waits for events
HEARTBEAT_S = 2.0  # how often a node says it is alive (`engine status`)
SCHEDULER = "audience-scheduler"  # the singleton that re-evaluates memberships over time
PRUNE_EVERY_S = 3600.0  # over a transport: how often the scheduler's node prunes the log copy
DAY_MS = 86_400_000


class Doorbell:
    """How the daemon wakes its processor: one non-blocking byte into a pipe, and only when
    the processor sleeps.

    The writer thread rings after every group commit, so a ring must cost it next to nothing
    and never wait for the processor (a shared `multiprocessing.Event` makes the setter wait
    until the sleeper has woken). While the processor is busy it reads the log again anyway:
    a ring then is skipped, not a syscall and a wake-up. A full pipe already says "wake up",
    so a ring that finds it full is dropped.
    """

    def __init__(self, ctx: Any) -> None:
        self.reader, self._writer = ctx.Pipe(duplex=False)
        os.set_blocking(self._writer.fileno(), False)
        self.asleep = ctx.RawValue("b", 0)  # shared memory: set while the processor sleeps

    def ring(self) -> None:
        if self.asleep.value:
            with contextlib.suppress(OSError):  # full (it rings already) or closed (stopping)
                os.write(self._writer.fileno(), b"\0")


class Sleeper:
    """The processor's side of the `Doorbell`: sleeps until a ring, a command from the daemon
    or the timeout, and takes every ring since the last sleep as one.

    It says it sleeps before it looks whether work came in meanwhile (`pending`): a commit
    either comes before that look, which then finds it, or after it, and its ring wakes
    the sleeper."""

    def __init__(self, bell: Connection, asleep: Any, commands: Connection) -> None:
        self._bell = bell
        self._asleep = asleep
        self._commands = commands
        os.set_blocking(bell.fileno(), False)

    def gather(self, timeout: float) -> None:
        """Let events gather for the next slice: wait out `timeout` unless the daemon sends a
        command (``hurry`` among them, for a request that waits until its events are
        applied). Commits meanwhile do not ring: the processor is not asleep."""
        self._commands.poll(timeout)

    def wait(self, timeout: float, pending: Callable[[], bool] = lambda: False) -> None:
        self._asleep.value = 1
        try:
            if not self._commands.poll(0) and not pending():
                multiprocessing.connection.wait([self._bell, self._commands], timeout)
        finally:
            self._asleep.value = 0
        with contextlib.suppress(BlockingIOError):
            while os.read(self._bell.fileno(), 4096):
                pass


@dataclass
class Report:
    """What the processor last said about itself."""

    position: int = 0
    profiles: int = 0
    failures: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> field -> n
    audiences: dict[str, int] = field(default_factory=dict)  # members per audience
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)  # status per job
    # While applying fails (the store, not an event: events that fail become dead letters):
    # {"failures": consecutive failed attempts, "reason": the latest one}; None when healthy.
    retrying: dict[str, Any] | None = None


class Processing:
    """The daemon's handle on its processor process."""

    def __init__(self, path: str, overrides: Mapping[str, str], *,
                 metrics: Metrics | None = None, slice_events: int = SLICE_EVENTS) -> None:
        self.path = path
        self.overrides = dict(overrides)
        self.metrics = metrics
        self.slice_events = slice_events
        self._ctx = multiprocessing.get_context("spawn")
        self.bell = Doorbell(self._ctx)
        self.report = Report()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._replays: dict[int, asyncio.Future[dict[str, Any]]] = {}  # ticket -> answer
        self._tickets = 0
        self._stopping = False
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._conn = parent
        self._process = self._ctx.Process(
            target=_main, name="engine-processor", daemon=True,
            args=(self.path, self.overrides, child, self.bell.reader, self.bell.asleep,
                  self.slice_events,
                  os.getpid()))
        self._process.start()
        child.close()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def fileno(self) -> int:
        assert self._conn is not None
        return self._conn.fileno()

    def notify(self, _last_seq: int = 0) -> None:
        """New events are in the log (from the writer thread, after each commit)."""
        self.bell.ring()

    def reload(self) -> None:
        """The config files passed their checks and tests: the processor loads them too."""
        self._send(("reload",))

    def replay_errors(self, stream: str | None) -> asyncio.Future[dict[str, Any]]:
        """Ask the processor to apply the dead letters (of `stream`, or all) again, between
        two slices: it is the daemon's one applier, so the replay never races the applying
        of the log (docs/pipeline.md). Resolves with what it did (`ErrorReplay.as_dict`), or
        fails with `RuntimeFailure`."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_exception(RuntimeFailure("the processor is not running"))
            return future
        self._tickets += 1
        self._replays[self._tickets] = future
        self._send(("replay-errors", self._tickets, stream))
        return future

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is not None and self.alive:
            with contextlib.suppress(OSError):  # it died: `_lost` starts a new one
                self._conn.send(message)

    def applied(self, seq: int) -> asyncio.Future[None]:
        """Resolves once every event up to `seq` is applied (`?wait=applied`)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seq <= self.report.position:
            future.set_result(None)
        else:
            if not self._waiters:  # a processor letting a slice gather goes at once
                self._send(("hurry",))
            self._waiters.append((seq, future))
        return future

    def on_readable(self) -> None:
        """In the event loop: take what the processor reported."""
        assert self._conn is not None
        try:
            while self._conn.poll():
                self._take(self._conn.recv())
        except (EOFError, OSError):
            self._lost()

    def _take(self, message: dict[str, Any]) -> None:
        r = self.report
        r.position = max(r.position, message["position"])
        r.profiles = message["profiles"]
        r.failures = message["failures"]
        r.audiences = message["audiences"]
        retrying = message.get("retrying")
        if self.metrics is not None and retrying is not None and (
                r.retrying is None or retrying["failures"] > r.retrying["failures"]):
            self.metrics.processor_failures.inc()
        r.retrying = retrying
        exports = message.get("exports")  # not in every report: it costs a count per job
        if exports is not None:
            r.exports = exports
        m = self.metrics
        if m is not None:
            for name, size in r.audiences.items():
                m.audience_size.labels(name).set(size)
            for name, job in (exports or {}).items():
                for outcome, count in job["delta"].items():
                    if count:
                        m.export_items.labels(name, outcome).inc(count)
            for name, direction, count in message.get("moves", ()):
                m.audience_transitions.labels(name, direction).inc(count)
        if m is not None and message.get("events"):
            m.events_applied.inc(message["events"])
            m.profiles_created.inc(message["created"])
            m.merges.inc(message["merges"])
            m.overmerge_skipped.inc(message["overmerge_skipped"])
            m.unidentified.inc(message["unidentified"])
            m.dead_letters.inc(message["dead_letters"])
            for seconds in message["seconds"]:
                m.process_seconds.observe(seconds)
        replayed = message.get("replayed")
        if replayed is not None:
            answer = self._replays.pop(replayed["ticket"], None)
            if answer is not None and not answer.done():
                if "error" in replayed:
                    answer.set_exception(RuntimeFailure(replayed["error"]))
                else:
                    answer.set_result(replayed["result"])
        still = []
        for seq, future in self._waiters:
            if seq <= r.position:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((seq, future))
        self._waiters = still

    def _lost(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.fileno)
        for answer in self._replays.values():  # the new processor knows nothing of them
            if not answer.done():
                answer.set_exception(RuntimeFailure("the processor stopped during the replay"))
        self._replays = {}
        if self._stopping:
            return
        code = self._process.exitcode if self._process is not None else None
        log.error("the processor stopped; starting a new one", extra={"exit_code": code})
        self._process.join(1)
        self.start()
        loop.add_reader(self.fileno, self.on_readable)

    def catch_up(self) -> None:
        """Take the reports already sent (once the event loop no longer reads them)."""
        self._waiters = []  # their event loop has ended: no request waits any more
        conn = self._conn
        try:
            while conn is not None and conn.poll():
                self._take(conn.recv())
        except (EOFError, OSError):
            pass

    def stop(self, *, drain: bool = True) -> None:
        """Apply the rest of the log (unless `drain` is false), then end the processor.

        Runs after the event loop has ended, so it reads the processor's reports itself:
        a processor whose reports went unread would block on a full pipe.
        """
        self._stopping = True
        self._waiters = []  # their event loop has ended: no request waits any more
        self._send(("stop", drain))
        process, conn = self._process, self._conn
        while process is not None and process.is_alive():
            try:
                if conn is not None and conn.poll(0.2):
                    self._take(conn.recv())
            except (EOFError, OSError):
                break
        if process is not None:
            process.join()

    def skip_drain(self) -> None:
        """Stop applying at the next slice: what is left stays in the log for the next start."""
        self._send(("stop", False))

    def terminate(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(10)


def _idle_wait(engine: Engine) -> float:
    """Seconds to sleep when idle: until the next scheduled audience check, at most a while."""
    due = engine.next_due()
    if due is None:
        return IDLE_WAIT_S
    return min(IDLE_WAIT_S, max(0.0, (due - engine.clock()) / 1000))


def open_apply_engine(config: Config) -> Engine:
    """The engine the processor applies the log with.

    Over a transport it is one of many appliers of a shared store (no locks) and commits with
    full durability: the batch is acknowledged after the commit, and nothing else would
    apply it again.

    The apply lock: a processor left over from a daemon killed with -9 (where the kernel
    could not end it along with its parent) finishes its slice before this one starts. Its
    commits survive a crash but not a power cut (`durability="crash"`) and so hold the
    store's write lock briefly: what a power cut takes back - profiles with their position,
    and the outbox entries they made - is applied again from the log, which the server
    fsyncs.
    """
    if config.settings.transport.backend != "local":
        return Engine(config, drain=False, shared=True)
    return Engine(config, drain=False, locks=("apply",), wait_for_locks=True,
                  durability="crash", background_checkpoints=True)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the daemon dies (kill -9 included): a processor
    must not outlive the server whose log it applies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # the apply lock still keeps two processors apart
    if os.getppid() != parent:  # it died before the request was made
        os._exit(0)


def _main(path: str, overrides: dict[str, str], conn: Connection, bell: Connection,
          asleep: Any, slice_events: int, parent: int) -> None:
    """The processor process: apply the log, slice by slice, until told to stop."""
    _die_with_parent(parent)
    with contextlib.suppress(OSError):
        os.nice(PROCESSOR_NICE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when this stops
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = load_config(path, overrides)
    setup_logging(config)
    transport = open_transport(config.settings.transport, name="engine-process")
    source = None if transport is None else TransportSource(transport)
    try:
        with open_apply_engine(config) as engine:
            loop = _Processor(engine, conn, Sleeper(bell, asleep, conn), slice_events, path,
                              overrides, source)
            try:
                loop.run()
            finally:
                loop.exporters.stop()
    finally:
        if source is not None:
            source.close()


class _Processor:
    """The processor's loop, and what it reports to the daemon after each slice."""

    def __init__(self, engine: Engine, conn: Connection, sleeper: Sleeper, slice_events: int,
                 path: str, overrides: dict[str, str],
                 source: TransportSource | None = None) -> None:
        self.engine = engine
        self.source = source  # None: the store's own log, drained after the position
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self.heartbeat_at = -HEARTBEAT_S
        self.pruned_at = -PRUNE_EVERY_S
        self.conn = conn
        self.sleeper = sleeper
        self.slice_events = slice_events
        self.path = path
        self.overrides = overrides
        self.profiles = engine.profile_count()
        self.sizes = engine.audience_sizes()
        self.queued = 0
        self.status_at = 0.0  # monotonic seconds of the last export status sent
        self.exporters = Exporters(engine.store)
        self._start_exports()

    def _start_exports(self) -> None:
        """Queue the backfills the jobs owe, then start their runners."""
        jobs = self.engine.export_jobs.jobs
        for job in jobs.values():
            if job.disabled() is None:
                try:
                    service.backfill(self.engine, job)
                except Exception as exc:
                    log.error("the backfill of an export job failed",
                              extra={"job": job.name, "reason": str(exc)})
        self.exporters.start(jobs)

    def report(self, **extra: Any) -> None:
        engine = self.engine
        moves = engine.take_moves()
        for (name, direction), count in moves.items():
            self.sizes[name] = self.sizes.get(name, 0) + (count if direction == "enter"
                                                          else -count)
        queued = sum(engine.export_counts.values())
        if queued != self.queued:  # new outbox items are committed: the runners look
            self.queued = queued
            self.exporters.wake()
        position = engine.applied if self.source is None else self.source.position
        message = {"position": position, "profiles": self.profiles,
                   "failures": engine.field_failures(), "audiences": dict(self.sizes),
                   "moves": [(n, d, c) for (n, d), c in moves.items()], **extra}
        # The export status counts each job's outbox: at most once a second while busy
        clock = time.monotonic()
        if not extra.get("events") or clock - self.status_at >= STATUS_EVERY_S:
            try:
                message["exports"] = self.exporters.status(engine.store)
            except Exception as exc:  # a store that fails is reported, not a reason to die
                log.debug("no export status", extra={"reason": str(exc)})
            self.status_at = clock
        self.conn.send(message)

    def _reload(self) -> None:
        try:
            fresh = load_config(self.path, self.overrides)
        except Exception as exc:
            log.error("the processor could not load the new config; it goes on with the old "
                      "one", extra={"reason": str(exc)})
            return
        self.exporters.stop()
        self.engine.reconfigure(fresh)
        self.sizes = self.engine.audience_sizes()
        self._start_exports()

    def _replay_errors(self, ticket: int, stream: str | None) -> None:
        """Apply the dead letters again, as the daemon asked, and answer it."""
        try:
            result = self.engine.replay_errors(stream=stream)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            log.error("replaying the dead letters failed", extra={"reason": reason})
            self.report(replayed={"ticket": ticket, "error": reason})
            return
        stats = result.stats
        self.profiles += stats.profiles_created - stats.merges
        log.info("replayed the dead letters", extra={"stream": stream, **result.as_dict()})
        self.report(replayed={"ticket": ticket, "result": result.as_dict()})

    def run(self) -> None:
        engine = self.engine
        stopping, drain = False, True
        failures, logged_at = 0, -RETRY_LOG_EVERY_S
        # While busy, slices are reported together at most every REPORT_EVERY_S: the daemon
        # reads each report on its event loop, between collect requests.
        unreported, slices, reported_at = Stats(), list[float](), time.monotonic()
        self.report()
        while True:
            while self.conn.poll():
                command = self.conn.recv()
                if command[0] == "reload":
                    self._reload()
                elif command[0] == "stop":
                    stopping, drain = True, command[1]
                elif command[0] == "replay-errors":
                    self._replay_errors(command[1], command[2])
                # "hurry": a request waits for its events to be applied; reading it ended
                # the gathering wait, if there was one
            if stopping and not drain:
                return
            start = time.perf_counter()
            try:
                stats, handled = self._step()
                due = engine.run_due() \
                    if handled < self.slice_events and self._scheduling() else 0
            except Exception as exc:
                # The store failed (an event that fails is a dead letter, not an exception
                # here): wait, longer each time, and say so once a while, not per attempt.
                failures += 1
                reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                clock = time.monotonic()
                if stopping:  # what is left stays in the log for the next start
                    log.error("applying the event log failed while stopping; the rest is "
                              "applied at the next start", extra={"reason": reason})
                    return
                if clock - logged_at >= RETRY_LOG_EVERY_S:
                    log.error("applying the event log failed; retrying",
                              extra={"reason": reason, "failures": failures})
                    logged_at = clock
                self.report(retrying={"failures": failures, "reason": reason})
                self.sleeper.wait(min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(failures - 1, 16)))
                continue
            if failures:
                log.info("applying the event log works again", extra={"failures": failures})
                failures, logged_at = 0, -RETRY_LOG_EVERY_S
            self.profiles += stats.profiles_created - stats.merges
            unreported.add(stats)
            slices.append(time.perf_counter() - start)
            idle = handled == 0 and not due
            # Caught up with a flow of small commits: the next slice waits to be bigger.
            gather = (not idle and not stopping and self.source is None
                      and handled < GATHER_EVENTS)
            clock = time.monotonic()
            if idle or gather or stopping or clock - reported_at >= REPORT_EVERY_S:
                self.report(events=unreported.events, created=unreported.profiles_created,
                            merges=unreported.merges,
                            overmerge_skipped=unreported.overmerge_skipped,
                            unidentified=unreported.unidentified,
                            dead_letters=unreported.dead_letters, seconds=slices)
                unreported, slices, reported_at = Stats(), [], clock
            if idle:
                if stopping:
                    return
                if self.source is None:  # over a transport, the fetch itself waited
                    self.sleeper.wait(_idle_wait(engine), self._more_logged)
            elif gather:
                self.sleeper.gather(GATHER_S)
            elif stopping and self.source is not None:
                return  # the rest stays in the transport, for the other nodes

    def _more_logged(self) -> bool:
        """Whether events were logged since the last slice (a store that fails to say is
        looked at again after the sleep)."""
        try:
            return self.engine.backlog() > 0
        except Exception:
            return False

    def _step(self) -> tuple[Stats, int]:
        """Apply one slice: from the store's log, or a batch from the transport."""
        engine = self.engine
        self._heartbeat()
        if self.source is None:
            stats = engine.drain(self.slice_events)
            return stats, stats.events
        return self.source.step(engine, self.slice_events,
                                min(FETCH_WAIT_S, _idle_wait(engine)))

    def _scheduling(self) -> bool:
        """Whether this node runs the audience scheduler: the one that holds it, over a
        transport; another takes it over when that node dies (docs/scale-out.md). That node
        also forgets the store's copy of events older than `storage.dedupe_days`."""
        if self.source is None:
            return True
        store = self.engine.store
        if not store.hold_singleton(SCHEDULER):
            return False
        clock = time.monotonic()
        if clock - self.pruned_at >= PRUNE_EVERY_S:
            self.pruned_at = clock
            days = self.engine.config.settings.storage.dedupe_days
            with store.transaction():
                pruned = store.prune_log(self.engine.clock() - days * DAY_MS)
            if pruned:
                log.info("forgot the dedupe keys of old events",
                         extra={"events": pruned, "days": days})
        return True

    def _heartbeat(self) -> None:
        clock = time.monotonic()
        if self.source is None or clock - self.heartbeat_at < HEARTBEAT_S:
            return
        self.heartbeat_at = clock
        self.engine.store.heartbeat(self.node, "process", self.engine.clock())
