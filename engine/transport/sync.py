"""`NatsTransport`: `NatsLog` for callers without an event loop (the processor, the CLI).

It runs an asyncio loop of its own in a daemon thread and hands each call to it, waiting a
bounded time for the answer; the HTTP server, which has a loop, uses `NatsLog` directly
(docs/transport.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from engine.config.model import TransportSpec
from engine.errors import TransportUnavailable
from engine.store import LogRow, NewEvent
from engine.transport.base import Delivery, PublishResult, TransportInfo
from engine.transport.nats import NatsLog

T = TypeVar("T")

_MARGIN = 2.0  # seconds past an operation's own bound before its caller stops waiting


class NatsTransport:
    """The same methods as `NatsLog`, synchronous; safe to call from several threads."""

    def __init__(self, spec: TransportSpec, **options: Any) -> None:
        """Connect at once (raising `TransportUnavailable` when NATS cannot be reached);
        `options` are those of `NatsLog.connect`."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="nats-transport")
        self._thread.start()
        timeout = float(options.get("timeout", 5.0))
        try:
            self._log = self._call(NatsLog.connect(spec, **options), timeout)
        except BaseException:
            self._stop()
            raise
        self.stream = self._log.stream
        self.url = self._log.url

    def _call(self, coro: Coroutine[Any, Any, T], seconds: float) -> T:
        if self._loop.is_closed():
            coro.close()
            raise TransportUnavailable("the NATS transport is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(seconds + _MARGIN)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TransportUnavailable(f"NATS did not answer within {seconds + _MARGIN} s"
                                       ) from exc

    @property
    def connected(self) -> bool:
        return self._log.connected

    def ready(self) -> bool:
        return self._log.ready()

    def ensure(self) -> None:
        self._call(self._log.ensure(), self._log.timeout)

    def publish(self, stream: str, received_ms: int, events: Sequence[NewEvent]
                ) -> list[PublishResult]:
        return self._call(self._log.publish(stream, received_ms, events), self._log.timeout)

    def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        return self._call(self._log.fetch(batch, timeout), timeout + self._log.timeout)

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        self._call(self._log.ack(deliveries), self._log.timeout)

    def nak(self, deliveries: Sequence[Delivery]) -> None:
        self._call(self._log.nak(deliveries), self._log.timeout)

    def read(self, after_seq: int, limit: int) -> list[LogRow]:
        return self._call(self._log.read(after_seq, limit), 10 * self._log.timeout)

    def get(self, seq: int) -> LogRow | None:
        return self._call(self._log.get(seq), self._log.timeout)

    def info(self) -> TransportInfo:
        return self._call(self._log.info(), self._log.timeout)

    def close(self) -> None:
        """Disconnect and stop the loop's thread."""
        if self._loop.is_closed():
            return
        try:
            self._call(self._log.close(), self._log.timeout)
        except TransportUnavailable:
            pass  # closing anyway: what was not acked is handed out again
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> NatsTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
