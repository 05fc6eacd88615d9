"""Driving `engine serve`'s collect API, for the HTTP benchmarks (`http.py`, `scale.py`).

`serve` starts a daemon on a listening socket it binds and hands over (`engine serve
--listen-fd`, docs/http.md), so that no other process can take the port between picking it
and the daemon binding it, and returns once the daemon listens. `drive` posts request bodies
over raw keep-alive connections from asyncio, so that the client costs as little as it can;
the benchmarks run it in a load-generator process of their own. `webhook_bodies` builds the
bodies from the generated Customer.io webhooks of `webhooks.py`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import orjson
from webhooks import webhooks

ROOT = Path(__file__).resolve().parent.parent
ENGINE = Path(sys.executable).parent / "engine"
TOKEN = "dev-token"  # what config.example.yaml accepts unless ENGINE_COLLECT_TOKEN says otherwise


def serve(
    args: Sequence[str],
    *,
    log: IO[str] | int = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[str], int]:
    """`engine serve ARGS` on a free loopback port, once it listens: the process and the port.
    Its log (JSON lines on stderr) goes to `log`."""
    with socket.socket() as sock:  # the daemon keeps its own copy of the socket
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port: int = sock.getsockname()[1]
        fd = sock.fileno()
        proc = subprocess.Popen(
            [str(ENGINE), "serve", "--listen-fd", str(fd), *args],
            pass_fds=(fd,),
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=ROOT,
            env={**os.environ, "ENGINE_COLLECT_TOKEN": TOKEN, **(env or {})},
        )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:  # the banner comes once it listens (and nothing after it)
            if " profile get " in line:
                return proc, port
    except BaseException:  # interrupted while it starts: it must not outlive the caller
        stop(proc)
        raise
    stop(proc)
    raise SystemExit(f"engine serve {' '.join(args)} did not start (exit {proc.returncode})")


def stop(proc: subprocess.Popen[str], timeout: float = 60) -> int:
    """Stop a daemon gracefully (SIGTERM), or kill it once `timeout` passed: its exit code."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


def webhook_bodies(total: int, people: int, start: int, count: int, size: int) -> list[bytes]:
    """Request bodies for the webhooks `start` to `start + count` of `total` generated ones
    (`webhooks.py`, seed 11, `people` people): `size` events per body as a JSON array, or
    one bare object each when `size` is 1."""
    hooks = webhooks(total, people, seed=11)
    events = [orjson.dumps(h) for h in hooks][start : start + count]
    if size == 1:
        return events
    return [b"[" + b",".join(events[i : i + size]) + b"]" for i in range(0, len(events), size)]


def _request(port: int, body: bytes) -> bytes:
    return (
        f"POST /collect/json/customerio?key={TOKEN} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(port: int, requests: list[bytes], latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    failures = 0
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                failures += 1
    finally:
        writer.close()
    return failures


async def _drive(
    port: int, bodies: list[bytes], connections: int
) -> tuple[float, float, list[float], int]:
    requests = [_request(port, b) for b in bodies]
    shares = [requests[i::connections] for i in range(connections)]
    latencies: list[float] = []
    started = time.time()
    start = time.perf_counter()
    failures = await asyncio.gather(*(_connection(port, s, latencies) for s in shares))
    return started, time.perf_counter() - start, latencies, sum(failures)


def drive(
    port: int, bodies: list[bytes], connections: int
) -> tuple[float, float, list[float], int]:
    """POST every body to the collect API on `connections` keep-alive connections at once:
    when the first was sent (`time.time()`, comparable across processes), the seconds until
    the last answer, each request's latency in seconds, and how many did not answer 200."""
    try:
        import uvloop  # the fastest loop there is for the client, where installed

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_drive(port, bodies, connections))
