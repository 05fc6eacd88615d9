"""The ceilings the HTTP benchmark compares the engine with (docs/performance.md).

Two minimal ASGI apps served by uvicorn with httptools and uvloop, as `engine serve` is, each in
a process of its own on a socket the benchmark binds and hands over, driven by the same load
generator as the engine:

- **bare**: reads the body, parses it as JSON and answers. No server can answer faster on this
  stack; nothing is durable.
- **durable**: the same, and the answer waits for an fsync covering the request's bytes. One
  thread appends whatever is queued to a file and fsyncs it, back to back, as soon as the
  previous fsync ends (a group commit with no database around it). The engine's collect API
  keeps the same promise (docs/http.md), so this is the most it could reach on this disk.

    .venv/bin/python bench/ceiling.py {bare,durable} --fd FD --file PATH
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEADERS = [(b"content-type", b"application/json")]
KINDS = ("bare", "durable")


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, events: int) -> None:
    body = b'{"accepted":%d,"duplicates":0}' % events
    headers = [*HEADERS, (b"content-length", b"%d" % len(body))]  # else chunked
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _events(body: bytes) -> int:
    doc = orjson.loads(body)
    return len(doc) if isinstance(doc, list) else 1


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message["type"].rpartition(".")[2]
        await send({"type": f"lifespan.{kind}.complete"})
        if kind == "shutdown":
            return


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    """Parse and answer."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body = await _read(receive)
    await _answer(send, _events(body))


class GroupFsync:
    """One thread appending queued bodies to a file and fsyncing, back to back; each waiter
    is woken on its event loop once an fsync covers its bytes."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._cond = threading.Condition()
        self._queue: list[tuple[bytes, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        threading.Thread(target=self._run, name="group-fsync", daemon=True).start()

    def submit(self, body: bytes) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            self._queue.append((body, loop, future))
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                group, self._queue = self._queue, []
            os.write(self._fd, b"\n".join(body for body, _loop, _future in group) + b"\n")
            os.fsync(self._fd)
            loop = group[0][1]
            loop.call_soon_threadsafe(_wake, [future for _body, _loop, future in group])


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def durable(path: Path) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Parse, make durable (group fsync), answer."""
    log: list[GroupFsync] = []  # made on first use, inside the server's process

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            log.append(GroupFsync(path))
            await _lifespan(receive, send)
            return
        body = await _read(receive)
        events = _events(body)
        await log[0].submit(body)
        await _answer(send, events)

    return app


def start(kind: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The ceiling app `kind` in a process of its own on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        port: int = sock.getsockname()[1]
        fd = sock.fileno()
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                kind,
                "--fd",
                str(fd),
                "--file",
                str(workdir / f"{kind}.log"),
            ],
            pass_fds=(fd,),
            stdout=subprocess.DEVNULL,
            cwd=Path(__file__).parent,
        )
    return proc, port  # the socket listens already: connections wait in its backlog


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--file", type=Path, required=True)
    args = parser.parse_args()
    app = bare if args.kind == "bare" else durable(args.file)
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )
    # socket(fileno=) reads the family from the socket, where uvicorn's fd= assumes AF_UNIX
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=args.fd)])


if __name__ == "__main__":
    main()
