"""`engine serve`: the daemon's lifecycle around uvicorn (docs/http.md).

Start: open the store on the writer thread, then listen. SIGTERM or SIGINT: uvicorn stops
accepting and lets in-flight requests finish (each waits for its durable commit); then the
writer commits what is queued and applies the log; a second SIGINT (or a SIGTERM) skips the
applying, which the next start does instead, since the log is durable. SIGHUP: load, compile
and test the config again off the event loop, then swap it in between two writes; on any
failure the running config stays and the log says why.

Logs are JSON lines on stderr, with every configured secret and every ``key=`` query value
replaced by ``[redacted]``, and the user-info of every URL (``user:pass@``) by ``***@``, in
the final text, whichever library wrote the message (httpx logs the URLs it requests, and a
base URL may carry credentials).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from engine.config.report import render
from engine.engine import Engine
from engine.errors import ConfigError, EngineError, RuntimeFailure
from engine.program import Config, load_config
from engine.server.app import Daemon, create_app
from engine.server.connections import ConnectionLimits, guarded_protocol
from engine.server.console import DaemonConsole
from engine.server.logs import JsonFormatter, secrets_of, setup_logging
from engine.server.metrics import Live, Metrics
from engine.server.processing import HEARTBEAT_S, Processing
from engine.server.transported import TransportLog
from engine.server.writer import LogSink, Writer, open_log_engine
from engine.store import Store, open_maintenance
from engine.testing import run_config_tests
from engine.transport import NatsTransport, open_transport

log = logging.getLogger("engine.server")

DEV_TOKEN = "dev-token"  # noqa: S105 -- the public default of config.example.yaml
ROLES = ("all", "collect", "process")


def check_role(config: Config, role: str) -> None:
    """A node that only collects or only processes needs a transport between them."""
    if role not in ROLES:
        raise EngineError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if role != "all" and config.settings.transport.backend == "local":
        raise EngineError(f"--role {role} needs a transport between the nodes: set "
                          "transport.backend: nats (docs/scale-out.md); with the local "
                          "transport one node does everything (--role all)")


class StoreWatch:
    """Asks the store, on a connection of its own every few seconds, whether it answers, so
    that a node over a transport knows without asking on every request: while it does not,
    `/readyz` says so and collect answers 503 (docs/scale-out.md "Failures"). A collect node's
    question is its heartbeat (`engine status` lists the live nodes); a processing node's
    processor sends its own."""

    def __init__(self, store: Store, node: str, role: str) -> None:
        self.store = store
        self.node, self.role = node, role
        self.failure: str | None = None  # why the store did not answer last time
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="engine-store-watch",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    @property
    def ok(self) -> bool:
        return self.failure is None

    def _run(self) -> None:
        while True:
            failure = self._ask()
            if failure is not None:
                failure = self._ask()  # a lost session alone: the store opens a new one
            if failure is None and self.failure is not None:
                log.info("the store answers again")
            elif failure is not None and self.failure is None:
                log.warning("the store does not answer", extra={"reason": failure})
            self.failure = failure
            if self.stop_event.wait(HEARTBEAT_S):
                return

    def _ask(self) -> str | None:
        try:
            if self.role == "collect":
                self.store.heartbeat(self.node, self.role, int(time.time() * 1000))
            else:
                self.store.last_seq()
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()
        self.store.close()
def load_and_test(path: str, overrides: Mapping[str, str]) -> Config:
    """A config that compiles and passes its own tests; `ConfigError` or `RuntimeFailure`."""
    config = load_config(path, overrides)
    failed = [r for r in run_config_tests(config) if not r.ok]
    if failed:
        names = "; ".join(f"{r.case.name}: {r.failures[0]}" for r in failed)
        raise RuntimeFailure(f"{len(failed)} config test(s) failed: {names}")
    return config


def listen_address(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise RuntimeFailure(f"server.listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def inherited_socket(fd: int) -> socket.socket:
    """The listening TCP socket a parent handed over as `fd` (``--listen-fd``): whoever bound
    it knows the port before the daemon starts, and no other process can take it meanwhile."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise RuntimeFailure(f"--listen-fd {fd} is not an open socket: {exc.strerror}") from exc
    if (sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6)
            or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)):
        sock.detach()  # not ours to close
        raise RuntimeFailure(f"--listen-fd {fd} is not a listening TCP socket")
    return sock


def banner(config: Config, host: str, port: int) -> str:
    """What `engine serve` prints first: the collect URL and a curl to paste."""
    streams = [i.stream for i in config.settings.imports] or sorted(config.pipeline.streams)
    stream = streams[0] if streams else "STREAM"
    tokens = config.settings.server.collect_tokens
    key = DEV_TOKEN if DEV_TOKEN in tokens else "$ENGINE_COLLECT_TOKEN"
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/collect/json/{stream}"
    sample = Path("tests/fixtures/customerio/email_opened.json")
    body = f"@{sample}" if sample.is_file() else "'{\"event_id\": \"1\"}'"
    # The command as this process was started (`.venv/bin/engine` from a checkout), so that
    # the line works pasted in the same directory.
    program = Path(sys.argv[0]).absolute()
    inside = program.name == "engine" and program.is_relative_to(Path.cwd())
    engine = str(program.relative_to(Path.cwd())) if inside else "engine"
    return (f"engine: collecting at {url}\n"
            f"engine: try it from another terminal:\n"
            f"  curl -sS -X POST '{url}?key={key}' -H 'Content-Type: application/json' "
            f"--data-binary {body}\n"
            f"  {engine} profile get cio_customer_id=usr_48213 --config {config.path}\n")


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the stop signal once it has shut down: the daemon still has
    to commit and close its store after that, and then exits 0."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class _Run:
    """One run of the daemon: its parts, and what SIGHUP and the lifespan do with them."""

    def __init__(self, path: str, overrides: Mapping[str, str], config: Config,
                 formatter: JsonFormatter, role: str = "all") -> None:
        self.path = path
        self.overrides = overrides
        self.config = config
        self.formatter = formatter
        self.role = role
        self.transport: NatsTransport | None = open_transport(
            config.settings.transport, name=f"engine-{role}")
        processing = Processing(path, overrides) if role != "collect" else None
        self.processing = processing
        self.writer = writer = Writer(self._open_sink, config,
                                      max_queue_events=config.settings.server.max_queue_events,
                                      on_commit=None if processing is None
                                      else processing.notify)
        self.metrics = metrics = Metrics(Live(
            failures=lambda: processing.report.failures if processing else {},
            queue_events=lambda: writer.queued_events,
            backlog_events=lambda: self.daemon.backlog,
            profiles=lambda: processing.report.profiles if processing else 0,
            retrying=lambda: ((processing.report.retrying or {}).get("failures", 0)
                              if processing else 0)))
        writer.metrics = metrics
        if processing is not None:
            processing.metrics = metrics
        writer.start()  # takes the log lock: no other engine writes this store's log
        writer.ready.wait()
        if writer.failure is not None:
            raise RuntimeFailure(str(writer.failure))
        if processing is not None:
            processing.start()
        self.checkpointer = open_maintenance(config.settings.storage)
        self.checkpointer.start()
        self.reader = Engine(config, read_only=True)
        self.watch: StoreWatch | None = None
        if self.transport is not None:
            self.watch = StoreWatch(self.reader.store.connect(),
                                    f"{socket.gethostname()}:{os.getpid()}", role)
            self.watch.start()
        watch = self.watch
        self.daemon = Daemon(config, writer, self.reader, metrics, processing,
                             collects=role != "process",
                             transport_ready=None if self.transport is None
                             else self.transport.ready,
                             store_failure=None if watch is None else lambda: watch.failure)
        self.limits = ConnectionLimits()
        self.limits.use(config.settings.server)
        self.server: uvicorn.Server | None = None

    def _open_sink(self, config: Config) -> LogSink:
        """Where the writer makes events durable: the transport, or the store's log."""
        if self.transport is None:
            return open_log_engine(config)
        return TransportLog(self.transport, config, lambda: int(time.time() * 1000))

    async def reload(self) -> str | None:
        """Load, compile and test the config again off the event loop, then swap it in; on
        any failure the running config stays and the log says why. Why it failed, or None."""
        path, metrics = self.path, self.metrics
        log.info("reloading the config", extra={"config": path})
        loop = asyncio.get_running_loop()
        try:
            fresh = await loop.run_in_executor(None, load_and_test, path, self.overrides)
            await asyncio.wrap_future(self.writer.reload(fresh))
        except ConfigError as exc:
            metrics.reloads.labels("failed").inc()
            reason = render(exc.diagnostics, "text")
            log.error("config reload failed; the running config stays",
                      extra={"reason": reason})
            return reason
        except Exception as exc:
            metrics.reloads.labels("failed").inc()
            log.error("config reload failed; the running config stays",
                      extra={"reason": str(exc)})
            return str(exc)
        if fresh.settings.server.listen != self.daemon.config.settings.server.listen:
            log.warning("server.listen changed; it takes effect at the next start")
        if self.processing is not None:
            self.processing.reload()
        self.reader.reconfigure(fresh)
        self.daemon.use(fresh)
        self.limits.use(fresh.settings.server)
        self.formatter.set_secrets([*self.formatter.secrets, *secrets_of(fresh)])
        metrics.reloads.labels("ok").inc()
        log.info("config reloaded", extra={"config": path})
        return None

    def lifespan(self, host: str, port: int
                 ) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
        """SIGHUP reloads, the processor's reports are read, and the banner is printed once
        `server` listens."""

        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            loop = asyncio.get_running_loop()
            tasks: set[asyncio.Task[None]] = set()

            async def reloading() -> None:
                await self.reload()

            def on_hup() -> None:
                task = loop.create_task(reloading())
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            async def announce() -> None:
                server = self.server
                # Lifespan runs before uvicorn binds: the banner waits until it listens, so
                # that whoever reads it (a user, a test) can use the URL at once.
                assert server is not None
                while not server.started and not server.should_exit:
                    await asyncio.sleep(0.01)
                if server.started:
                    sys.stdout.write(banner(self.config, host, port))
                    sys.stdout.flush()

            processing = self.processing
            loop.add_signal_handler(signal.SIGHUP, on_hup)
            if processing is not None:
                loop.add_reader(processing.fileno, processing.on_readable)
            announcing = loop.create_task(announce())
            # What start-up made (the compiled config, the app) lives as long as the daemon:
            # the cyclic collector need not walk it again at every pass over young objects.
            gc.collect()
            gc.freeze()
            yield
            announcing.cancel()
            if processing is not None:
                loop.remove_reader(processing.fileno)
            loop.remove_signal_handler(signal.SIGHUP)

        return lifespan

    def close(self) -> None:
        _stop(self.writer, self.processing, self.daemon)
        if self.watch is not None:
            self.watch.stop()
        self.checkpointer.stop()
        self.reader.close()


def serve(path: str, overrides: Mapping[str, str], listen_fd: int | None = None,
          role: str = "all") -> int:
    config = load_and_test(path, overrides)
    check_role(config, role)
    formatter = setup_logging(config)
    host, port = listen_address(config.settings.server.listen)
    sockets = None
    if listen_fd is not None:  # the socket replaces server.listen (docs/http.md)
        sockets = [inherited_socket(listen_fd)]
        host, port = sockets[0].getsockname()[:2]
    run = _Run(path, overrides, config, formatter, role)
    console = DaemonConsole(run.daemon, run.reload, formatter.redact)
    app = create_app(run.daemon, lifespan=run.lifespan(host, port), console=console)
    run.server = server = _Server(uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
        loop="auto", http=guarded_protocol(run.limits), timeout_graceful_shutdown=30))
    try:
        server.run(sockets=sockets)
    finally:
        console.close()
        run.close()
    return 0 if server.started else 3


def _stop(writer: Writer, processing: Processing | None, daemon: Daemon) -> None:
    """Commit what is queued, then apply the log; a second signal skips the applying."""
    start = time.perf_counter()
    writer.stop()  # closes the writer's sink, the transport too
    if processing is None:
        log.info("stopped", extra={"seconds": round(time.perf_counter() - start, 3)})
        return
    processing.catch_up()
    backlog = daemon.backlog
    if backlog:
        log.info("applying the logged events before exit; interrupt again to exit now "
                 "(they are applied at the next start)", extra={"backlog": backlog})

    def skip(_sig: int, _frame: Any) -> None:
        processing.skip_drain()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, skip)
        signal.signal(signal.SIGTERM, skip)
    processing.stop(drain=True)
    log.info("stopped", extra={"seconds": round(time.perf_counter() - start, 3),
                               "backlog": daemon.backlog})
