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
import logging
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette

from engine.config import Config, load_config
from engine.config.report import render
from engine.engine import Engine
from engine.errors import ConfigError, RuntimeFailure
from engine.server.app import Daemon, create_app
from engine.server.connections import ConnectionLimits, guarded_protocol
from engine.server.metrics import Live, Metrics
from engine.server.processing import Processing
from engine.server.writer import Writer, open_log_engine
from engine.store import open_maintenance
from engine.testing import run_config_tests

log = logging.getLogger("engine.server")

DEV_TOKEN = "dev-token"  # noqa: S105 -- the public default of config.example.yaml
# Attributes every record has; anything else on a record is an `extra` to log (but uvicorn's
# terminal-coloured copy of its message).
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "color_message"}
_QUERY_KEY = re.compile(r"(?i)([?&](?:key|token|api_key)=)[^&\s\"']+")
# `scheme://` then user-info up to the last `@` before the host: no `/`, `?`, `#` (they end the
# authority), no space or quote (they end the URL in a log line).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s\"'\\]+@")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; secrets redacted from the finished line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is redacted whole.
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                doc[name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return self.redact(orjson.dumps(doc, default=str).decode())

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        if "@" in text:
            text = _URL_USERINFO.sub(r"\1***@", text)
        return _QUERY_KEY.sub(r"\1[redacted]", text)


def secrets_of(config: Config) -> list[str]:
    settings = config.settings
    found = [*settings.server.collect_tokens, settings.server.admin_token]
    for auth in settings.authorizations:
        found += [auth.api_key, *auth.webhook_signing_keys]
    dsn = settings.storage.dsn
    match = re.search(r"://[^:/@]*:([^@]+)@", dsn)
    if match:
        found.append(match.group(1))
    return found


def setup_logging(config: Config) -> JsonFormatter:
    formatter = JsonFormatter(secrets_of(config))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    return formatter


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


def serve(path: str, overrides: Mapping[str, str], listen_fd: int | None = None) -> int:
    config = load_and_test(path, overrides)
    formatter = setup_logging(config)
    host, port = listen_address(config.settings.server.listen)
    sockets = None
    if listen_fd is not None:  # the socket replaces server.listen (docs/http.md)
        sockets = [inherited_socket(listen_fd)]
        host, port = sockets[0].getsockname()[:2]
    processing = Processing(path, overrides)
    writer = Writer(open_log_engine, config,
                    max_queue_events=config.settings.server.max_queue_events,
                    on_commit=processing.notify)
    metrics = Metrics(Live(failures=lambda: processing.report.failures,
                           queue_events=lambda: writer.queued_events,
                           backlog_events=lambda: daemon.backlog,
                           profiles=lambda: processing.report.profiles,
                           retrying=lambda: (processing.report.retrying or {}).get(
                               "failures", 0)))
    writer.metrics = processing.metrics = metrics
    writer.start()  # takes the log lock: no other engine writes this store's log
    writer.ready.wait()
    if writer.failure is not None:
        raise RuntimeFailure(str(writer.failure))
    processing.start()
    checkpointer = open_maintenance(config.settings.storage)
    checkpointer.start()
    reader = Engine(config, read_only=True)
    daemon = Daemon(config, writer, reader, metrics, processing)
    limits = ConnectionLimits()
    limits.use(config.settings.server)

    async def reload() -> None:
        log.info("reloading the config", extra={"config": path})
        loop = asyncio.get_running_loop()
        try:
            fresh = await loop.run_in_executor(None, load_and_test, path, overrides)
            await asyncio.wrap_future(writer.reload(fresh))
        except ConfigError as exc:
            metrics.reloads.labels("failed").inc()
            log.error("config reload failed; the running config stays",
                      extra={"reason": render(exc.diagnostics, "text")})
            return
        except Exception as exc:
            metrics.reloads.labels("failed").inc()
            log.error("config reload failed; the running config stays",
                      extra={"reason": str(exc)})
            return
        if fresh.settings.server.listen != daemon.config.settings.server.listen:
            log.warning("server.listen changed; it takes effect at the next start")
        processing.reload()
        reader.reconfigure(fresh)
        daemon.use(fresh)
        limits.use(fresh.settings.server)
        formatter.set_secrets([*formatter.secrets, *secrets_of(fresh)])
        metrics.reloads.labels("ok").inc()
        log.info("config reloaded", extra={"config": path})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()

        def on_hup() -> None:
            task = loop.create_task(reload())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def announce() -> None:
            # Lifespan runs before uvicorn binds: the banner waits until it listens, so that
            # whoever reads it (a user, a test) can use the URL at once.
            while not server.started and not server.should_exit:
                await asyncio.sleep(0.01)
            if server.started:
                sys.stdout.write(banner(config, host, port))
                sys.stdout.flush()

        loop.add_signal_handler(signal.SIGHUP, on_hup)
        loop.add_reader(processing.fileno, processing.on_readable)
        announcing = loop.create_task(announce())
        yield
        announcing.cancel()
        loop.remove_reader(processing.fileno)
        loop.remove_signal_handler(signal.SIGHUP)

    app = create_app(daemon, lifespan=lifespan)
    server = _Server(uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
        loop="auto", http=guarded_protocol(limits), timeout_graceful_shutdown=30))
    try:
        server.run(sockets=sockets)
    finally:
        _stop(writer, processing, daemon)
        checkpointer.stop()
        reader.close()
    return 0 if server.started else 3


def _stop(writer: Writer, processing: Processing, daemon: Daemon) -> None:
    """Commit what is queued, then apply the log; a second signal skips the applying."""
    start = time.perf_counter()
    writer.stop()
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
