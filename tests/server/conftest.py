"""The daemon as users run it: `engine serve` in a subprocess on a free loopback port.

The test binds the port and hands the listening socket over (`engine serve --listen-fd`,
docs/http.md): a port picked, closed and bound again by the daemon could be taken by another
process in between, which a loaded machine running several suites makes likely enough."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "customerio"
ENGINE = Path(sys.executable).parent / "engine"
TOKEN = "test-collect-token"
ADMIN = "test-admin-token"
SIGNING_KEY = "whsk_3f9a6c2e71d04b58a1c7e2f90d4b6a13"
START_TIMEOUT_S = 30


def listening_socket() -> socket.socket:
    """A socket listening on a free loopback port, bound for as long as the test holds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def write_config(directory: Path, *, signing_keys: list[str] | None = None,
                 max_age_s: int = 300, extra_server: str = "", tokens: list[str] | None = None,
                 mapping: Path | None = None, admin: str = ADMIN, audiences: str = "",
                 cio: str = "", exports: str = "", on_undecodable: str = "") -> Path:
    path = directory / "config.yaml"
    keys = json.dumps(signing_keys or [])
    undecodable = f", on_undecodable: {on_undecodable}" if on_undecodable else ""
    path.write_text(f"""\
version: 1
storage: {{backend: sqlite, path: {directory / "engine.db"}}}
server:
  listen: 127.0.0.1:1  # never bound: `start` hands the daemon a socket instead
  collect_tokens: {json.dumps(tokens or [TOKEN])}
  admin_token: "{admin}"
{extra_server}
authorizations:
  cio_main:
    provider: customerio
    webhook_signing_keys: {keys}
    webhook_max_age_s: {max_age_s}
{cio}
imports:
  - {{name: customerio_activity, provider: customerio, authorization: cio_main,
     stream: customerio{undecodable}}}
mappings: [{mapping or ROOT / "mappings" / "customerio.yaml"}]
{audiences}
{exports}
""")
    return path


def _pump(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


@dataclass
class Daemon:
    """A running `engine serve`: its URL, its output, and how to stop it."""

    config: Path
    proc: subprocess.Popen[str]
    url: str = ""
    out: queue.Queue[str | None] = field(default_factory=queue.Queue)
    err: queue.Queue[str | None] = field(default_factory=queue.Queue)
    banner: list[str] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)

    def close(self) -> None:
        """Kill the process if it runs, and release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pump in self.pumps:
            pump.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)

    def wait_log(self, message: str, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """The next JSON log line whose message is `message` (earlier ones are kept)."""
        for seen in self.logs:
            if seen.get("message") == message:
                self.logs.remove(seen)
                return seen
        while True:
            line = self.err.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"the daemon exited before logging {message!r}")
            doc = json.loads(line)
            if doc.get("message") == message:
                return doc
            self.logs.append(doc)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        while (line := self.err.get(timeout=timeout)) is not None:
            self.logs.append(json.loads(line))
        return code

    def all_logs(self) -> str:
        return "\n".join(json.dumps(d) for d in self.logs)


def start(config: Path, *, env: dict[str, str] | None = None, args: Sequence[str] = ()
          ) -> Daemon:
    """`engine serve` on `config` with more `args` (``--role``, ``--set``), once it listens."""
    with listening_socket() as sock:  # the daemon has its own copy once started
        fd = sock.fileno()
        proc = subprocess.Popen([str(ENGINE), "serve", "--config", str(config),
                                 "--listen-fd", str(fd), *args], pass_fds=(fd,),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {})}, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    daemon = Daemon(config, proc)
    daemon.pumps = [threading.Thread(target=_pump, args=(proc.stdout, daemon.out), daemon=True),
                    threading.Thread(target=_pump, args=(proc.stderr, daemon.err), daemon=True)]
    for pump in daemon.pumps:
        pump.start()
    while True:
        line = daemon.out.get(timeout=START_TIMEOUT_S)
        if line is None:
            errors = []
            while (e := daemon.err.get(timeout=5)) is not None:
                errors.append(e)
            daemon.close()
            raise AssertionError("engine serve exited at start:\n" + "".join(errors))
        daemon.banner.append(line)
        if "collecting at" in line:
            daemon.url = line.split("collecting at ", 1)[1].split("/collect/")[0].strip()
        if " profile get " in line:
            return daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start(write_config(tmp_path))
    yield d
    d.close()


def fixture_bodies() -> list[tuple[str, bytes]]:
    """Every sample webhook, as the exact bytes of its file."""
    return [(p.name, p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]
