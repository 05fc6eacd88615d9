"""Slow and surplus clients must not hold the daemon: headers and bodies have deadlines, and
connections a cap.

Found with a slowloris client: 3000 connections, each sending a header byte now and then, all
held open; and a request whose body stalled after its headers held its handler forever. Now a
request's headers are due within `server.header_timeout_s` (408 and closed), a body that
stalls for `server.body_timeout_s` answers 408 and closes, and past `server.max_connections`
open connections a new one is answered 503 and closed. The deadlines are set to a fraction of
a second here; every wait below is for an event (an answer, a close), bounded by a generous
deadline so that a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.server.conftest import TOKEN, Daemon, start, write_config

DEADLINE_S = 30  # for an attack to be dealt with; it takes a second or so
COLLECT = f"/collect/json/customerio?key={TOKEN}"
SLOW = 200


@contextmanager
def daemon_with(tmp_path: Path, server: str) -> Iterator[Daemon]:
    daemon = start(write_config(tmp_path, extra_server=server))
    try:
        yield daemon
    finally:
        daemon.close()


def connect(daemon: Daemon) -> socket.socket:
    parts = urlsplit(daemon.url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=DEADLINE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a trickled byte leaves at once
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the daemon sends until it closes the connection (or the deadline passes)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_until(sock: socket.socket, end: bytes) -> bytes:
    received = b""
    while not received.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, f"closed before {end!r}: {received!r}"
        received += chunk
    return received


def answer(raw: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def works(daemon: Daemon, event_id: str) -> None:
    """`/healthz` answers and a good event is collected, each on a fresh connection."""
    with daemon.client() as c:
        assert c.get("/healthz").status_code == 200
        r = c.post(COLLECT, json={"event_id": event_id})
        assert r.json() == {"accepted": 1, "duplicates": 0}, r.text


def test_trickled_headers_are_cut_off_and_the_daemon_keeps_answering(tmp_path: Path) -> None:
    with daemon_with(tmp_path, "  header_timeout_s: 0.5") as daemon:
        slow = [connect(daemon) for _ in range(SLOW)]
        try:
            for sock in slow:
                sock.sendall(b"POST " + COLLECT.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Pad: ")
                sock.setblocking(False)
            works(daemon, "while-slow")
            received = {sock: b"" for sock in slow}
            selector = selectors.DefaultSelector()
            for sock in slow:
                selector.register(sock, selectors.EVENT_READ)
            open_ = set(slow)
            give_up = time.monotonic() + DEADLINE_S
            while open_ and time.monotonic() < give_up:
                # One more header byte on each connection the daemon has not answered, then
                # wait (briefly) for answers and closes.
                for sock in open_:
                    try:
                        sock.send(b"a")
                    except BlockingIOError:
                        pass
                    except OSError:
                        pass  # closed meanwhile: its answer is read below
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        chunk = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        chunk = b""
                    received[sock] += chunk
                    if not chunk:
                        selector.unregister(sock)
                        open_.discard(sock)
            selector.close()
            assert not open_, f"{len(open_)} of {SLOW} trickling connections are still open"
            answered = [answer(raw) for raw in received.values() if raw]
            assert answered, "no trickling connection was answered before it was closed"
            for status, headers, body in answered:
                assert (status, body["error"]) == (408, "header_timeout"), body
                assert headers["connection"] == "close"
                assert "server.header_timeout_s" in body["message"]
            works(daemon, "after-slow")
            with connect(daemon) as kept:  # on a kept-alive connection, from the first byte
                kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                read_until(kept, b'{"status":"ok"}')
                kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                status, _headers, body = answer(read_to_close(kept))
                assert (status, body["error"]) == (408, "header_timeout"), body
        finally:
            for sock in slow:
                sock.close()


HEAD = (f"POST {COLLECT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100000\r\n\r\n").encode()


def test_a_stalled_or_trickled_body_answers_408_and_closes(tmp_path: Path) -> None:
    server = "  body_timeout_s: 0.5\n  body_total_timeout_s: 1.5"
    with daemon_with(tmp_path, server) as daemon:
        for sent in (b"", b'{"event_id": '):  # stalled before any byte of it, or midway
            with connect(daemon) as sock:
                sock.sendall(HEAD + sent)
                status, headers, body = answer(read_to_close(sock))
            assert (status, body["error"]) == (408, "body_timeout"), body
            assert headers["connection"] == "close"
            assert "server.body_timeout_s" in body["message"]
        with connect(daemon) as sock:  # a byte at a time, never pausing for long
            sock.sendall(HEAD + b"[")
            give_up = time.monotonic() + DEADLINE_S
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ)
                while not selector.select(0.02) and time.monotonic() < give_up:
                    sock.sendall(b" ")
            status, headers, body = answer(read_to_close(sock))
        assert (status, body["error"]) == (408, "body_timeout"), body
        assert headers["connection"] == "close"
        assert "server.body_total_timeout_s" in body["message"]
        works(daemon, "after-stall")
        with daemon.client() as c:
            assert ('engine_requests_rejected_total{code="body_timeout",stream="customerio"} 3.0'
                    in c.get("/metrics").text)


def test_past_max_connections_new_ones_get_503_until_some_close(tmp_path: Path) -> None:
    cap = 3
    with daemon_with(tmp_path, f"  max_connections: {cap}\n  header_timeout_s: 60") as daemon:
        held = [connect(daemon) for _ in range(cap)]
        try:
            for sock in held:
                # Served (so surely counted), then the next request's headers left half-sent.
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_until(sock, b'{"status":"ok"}').startswith(b"HTTP/1.1 200 ")
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            with connect(daemon) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                status, headers, body = answer(read_to_close(extra))
            assert (status, body["error"]) == (503, "too_many_connections"), body
            assert headers["connection"] == "close" and headers["retry-after"] == "1"
            assert f"over {cap} connections" in body["message"]
            with daemon.client() as c:
                assert c.get("/healthz").status_code == 503
            for sock in held:  # the held requests end: they are answered, then closed
                sock.sendall(b"Connection: close\r\n\r\n")
                assert read_to_close(sock).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in held:
                sock.close()
        give_up = time.monotonic() + DEADLINE_S
        status_code = 0
        while status_code != 200 and time.monotonic() < give_up:
            with httpx.Client(base_url=daemon.url, timeout=10) as c:
                status_code = c.get("/healthz").status_code
        assert status_code == 200
        works(daemon, "after-cap")
