"""Slow and surplus clients: the daemon's connections under a deadline and a cap (docs/http.md).

uvicorn closes a keep-alive connection that stays idle (`timeout_keep_alive`), but any byte
cancels that: a client that sends a header byte now and then, or headers and then a body that
never ends, holds its connection, and its request, forever. `GuardedProtocol` is uvicorn's
httptools protocol with one timer per connection, armed only while something is due from the
client and no request is complete:

- headers (`server.header_timeout_s`): from the connection's opening, or from the first byte of
  a request on a kept-alive one (until then uvicorn's keep-alive timeout bounds the idle time),
  to the end of its headers. Late, the connection gets 408 ``header_timeout`` and is closed.
- body: the most time between two reads of a body (`server.body_timeout_s`), and for the whole
  body (`server.body_total_timeout_s`, else a trickle of a byte now and then holds it). Late,
  the request is marked (`BODY_LATE` in its scope's state, with the reason) and its reader
  woken; the collect handler then answers 408 ``body_timeout`` itself and the connection is
  closed.

A request that arrives whole in one read (every request of a healthy client) arms and cancels
nothing: the checks after each read are a few attribute reads, the cost of keeping this out of
the hot path. Past `server.max_connections` open connections, a new one is answered 503
``too_many_connections`` at its first byte and closed.

Each connection writes through `OneWrite`, so an answer's head and body leave in one send.
"""

from __future__ import annotations

import asyncio
from asyncio import TimerHandle
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from engine.config.model import ServerSpec

# Key in a request's ASGI ``scope["state"]``: why its body came too slowly (the handler answers
# 408 with it).
BODY_LATE = "engine.body_late"


def error_body(code: str, message: str) -> bytes:
    """Every error the daemon answers, whether a handler or the protocol writes it."""
    return orjson.dumps({"error": code, "message": message})


@dataclass
class ConnectionLimits:
    """The settings the protocol reads at each deadline; a reload updates them in place."""

    header_timeout_s: float = ServerSpec.header_timeout_s
    body_timeout_s: float = ServerSpec.body_timeout_s
    body_total_timeout_s: float = ServerSpec.body_total_timeout_s
    max_connections: int = ServerSpec.max_connections

    def use(self, server: ServerSpec) -> None:
        self.header_timeout_s = server.header_timeout_s
        self.body_timeout_s = server.body_timeout_s
        self.body_total_timeout_s = server.body_total_timeout_s
        self.max_connections = server.max_connections


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """The protocol class to hand uvicorn (``http=``): it builds each connection's protocol
    itself, with uvicorn's arguments only, so the limits travel on the class."""
    return type("GuardedProtocol", (GuardedProtocol,), {"limits": limits})


class OneWrite(asyncio.Transport):
    """A connection's transport whose writes in one turn of the event loop leave in one send.

    uvicorn writes a response's head and its body separately: two system calls, and for the
    client two segments to wake up for. An answer is whole within one turn of the loop, so
    holding what is written until the turn ends sends it together. Whatever ends or hands
    over the byte stream (close, EOF, a protocol switch) sends what is held first, and every
    write on the connection goes through here, so bytes leave in the order they were
    written."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.transport = transport
        self.loop = loop
        self.held: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self.held
        if held is None:
            self.held = [bytes(data)]
            self.loop.call_soon(self.flush)
        else:
            held.append(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def get_write_buffer_size(self) -> int:
        held = self.held
        return self.transport.get_write_buffer_size() + (sum(map(len, held)) if held else 0)

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self.held = None
        self.transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self.transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.transport.get_protocol()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def is_reading(self) -> bool:
        return self.transport.is_reading()

    def can_write_eof(self) -> bool:
        return self.transport.can_write_eof()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None
                                ) -> None:
        self.transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.transport.get_write_buffer_limits()


class GuardedProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, config: UvicornConfig, server_state: ServerState,
                 app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
                 ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.deadline: TimerHandle | None = None
        self.body_due = False  # the deadline is a body's (else a request's headers)
        self.body_read_at = 0.0  # loop time of the last read of an incomplete body
        self.body_since = 0.0  # loop time of the end of its headers
        self.refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWrite(transport, self.loop))
        self.refused = len(self.connections) > self.limits.max_connections
        self.arm(self.limits.header_timeout_s)  # the first request's headers are due

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            if self.transport.is_closing():
                return
            self.answer(503, "too_many_connections",
                        f"over {self.limits.max_connections} connections are open "
                        "(server.max_connections); retry later", retry_after=True)
            return
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or cycle.scope is not self.scope:
            # A request's headers are arriving (or a body nobody reads, or stray bytes).
            if self.deadline is None and not self.transport.is_closing():
                self.arm(self.limits.header_timeout_s)
        elif cycle.more_body:  # the handler has the request; its body is still coming
            self.body_read_at = self.loop.time()
            if not self.body_due:  # the headers were due until now
                self.body_since = self.body_read_at
                self.disarm()
                self.arm(self.limits.body_timeout_s, body=True)
        elif self.deadline is not None:  # the request is whole: nothing is due
            self.disarm()

    def arm(self, seconds: float, body: bool = False) -> None:
        self.deadline = self.loop.call_later(seconds, self.expired)
        self.body_due = body

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
            self.body_due = False

    def expired(self) -> None:
        """What was due is late, or the phase changed since the timer was armed: decide on the
        state now (the one timer serves both phases)."""
        self.deadline = None
        self.body_due = False
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.scope is self.scope:
            if not cycle.more_body:
                return
            limits, now = self.limits, self.loop.time()
            idle, total = now - self.body_read_at, now - self.body_since
            if total >= limits.body_total_timeout_s:
                why = f"the body took over {limits.body_total_timeout_s:g}s " \
                      "(server.body_total_timeout_s)"
            elif idle >= limits.body_timeout_s:
                why = f"the body stalled for over {limits.body_timeout_s:g}s " \
                      "(server.body_timeout_s)"
            else:
                why = ""
            if not why or self.flow.read_paused:
                # In time, or not read because the handler has not taken what came.
                left = min(limits.body_timeout_s - idle, limits.body_total_timeout_s - total)
                self.arm(max(left, 0.001), body=True)
                return
            cycle.scope["state"][BODY_LATE] = why
            cycle.message_event.set()  # the handler's receive() returns; it answers 408
            return
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # a pipelined request is late: close after the one served
            return
        if self.scope is not None and (cycle is None or cycle.scope is not self.scope):
            self.answer(408, "header_timeout", f"the request headers did not arrive within "
                        f"{self.limits.header_timeout_s:g}s (server.header_timeout_s)")
        else:
            self.transport.close()  # nothing was asked: nobody waits for an answer

    def answer(self, status: int, code: str, message: str, retry_after: bool = False) -> None:
        """An error written below the application (no request reached it), then close."""
        body = error_body(code, message)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        if retry_after:
            head.append(b"retry-after: 1\r\n")
        head += [b"content-type: application/json\r\ncontent-length: ",
                 str(len(body)).encode(), b"\r\nconnection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()
