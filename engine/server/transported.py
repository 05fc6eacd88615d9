"""The daemon over a transport (docs/scale-out.md): its writer publishes, its processor
consumes.

With ``transport.backend: nats`` the event log of record is the transport's. The writer's
group commit becomes a publish that returns once the transport acknowledged every event
(`TransportLog`, the writer's `LogSink`), so a 200 still means durable; the processor takes
batches from the shared consumer, applies each in one store transaction, and acknowledges it
after the commit (`TransportSource`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from engine.engine import Delivered, Engine
from engine.pipeline.intake import Record
from engine.pipeline.processor import Stats
from engine.program import Config
from engine.transport import Delivery, NatsTransport


class TransportLog:
    """The writer's sink over a transport: each request's events published and acknowledged
    before the request is answered."""

    def __init__(self, transport: NatsTransport, config: Config,
                 clock: Callable[[], int]) -> None:
        self.transport = transport
        self.config = config
        self.clock = clock

    def log(self, requests: Sequence[tuple[str, Sequence[Record]]]
            ) -> list[tuple[int, int, int]]:
        now = self.clock()
        counts: list[tuple[int, int, int]] = []
        for stream, records in requests:
            events = [(key, ts, body) for key, ts, body, error in records
                      if error is None and body is not None]
            results = self.transport.publish(stream, now, events)
            duplicates = sum(1 for r in results if r.duplicate)
            newest = max((r.seq for r in results if not r.duplicate), default=0)
            counts.append((len(results) - duplicates, duplicates, newest))
        return counts

    def last_seq(self) -> int:
        return self.transport.info().last_seq

    def reconfigure(self, config: Config) -> None:
        self.config = config

    def close(self) -> None:
        self.transport.close()


def delivered(deliveries: Sequence[Delivery]) -> list[Delivered]:
    """What the engine applies of each delivery; a keyless event is keyed by its place in
    the transport's log, so that its second delivery is a duplicate too."""
    return [(d.stream, d.key if d.key is not None else f"~{d.seq}", d.time_ms, d.body)
            for d in deliveries]


class TransportSource:
    """The processor's input over a transport: a batch fetched from the shared consumer,
    applied in one transaction, acknowledged after the commit (nakked if it failed, so that
    some node applies it again)."""

    def __init__(self, transport: NatsTransport) -> None:
        self.transport = transport
        self.position = 0  # the newest transport seq this node applied

    def step(self, engine: Engine, limit: int, wait_s: float) -> tuple[Stats, int]:
        """Apply one batch of up to `limit` events, waiting up to `wait_s` for the first:
        what applying did, and how many events were handled (duplicates included)."""
        deliveries = self.transport.fetch(limit, wait_s)
        if not deliveries:
            return Stats(), 0
        try:
            stats, duplicates = engine.apply_delivered(delivered(deliveries))
        except BaseException:
            self.transport.nak(deliveries)
            raise
        self.transport.ack(deliveries)
        self.position = max(self.position, max(d.seq for d in deliveries))
        return stats, stats.events + duplicates

    def close(self) -> None:
        self.transport.close()
