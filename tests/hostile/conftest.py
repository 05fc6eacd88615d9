"""Shared by the hostile tests: the daemon's app served in this process, on a real socket.

For attacks that need a hand inside the daemon (an engine whose log refuses one event), the
app runs under uvicorn on a thread, listening on a socket bound before it starts, so a client
can connect at once without waiting for a banner.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from engine import Config
from engine.engine import Engine
from engine.server.app import Daemon, create_app
from engine.server.metrics import Live, Metrics
from engine.server.writer import Writer


@contextmanager
def served(config: Config, writer: Writer, tmp_path: Path) -> Iterator[str]:
    """The collect API over `writer` at the URL yielded; stops the server and writer after."""
    metrics = Metrics(Live(failures=dict, queue_events=lambda: writer.queued_events,
                           backlog_events=lambda: 0, profiles=lambda: 0, retrying=lambda: 0))
    writer.metrics = metrics
    writer.start()
    reader = Engine(config, read_only=True, store_path=tmp_path / "read.db")
    app = create_app(Daemon(config, writer, reader, metrics))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        writer.stop(30)
        reader.close()
