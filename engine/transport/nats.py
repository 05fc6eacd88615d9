"""The event log of record on NATS JetStream: `NatsLog`, the asyncio core (docs/transport.md).

One JetStream stream holds every collected event, one subject per event stream
(``<STREAM>.events.<encoded name>``); its durable pull consumer ``process`` hands them out to
processing nodes, which ack each batch after their commit. nats-py's exceptions are
translated into `TransportUnavailable` here and nowhere else, and every call is bounded in
time, so a node with NATS gone answers "unavailable" quickly instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Sequence
from urllib.parse import quote, unquote

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from engine.config.model import TransportSpec
from engine.errors import TransportUnavailable
from engine.store import LogRow, NewEvent
from engine.transport.base import Delivery, PublishResult, TransportInfo

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_STREAM = "ENGINE"
CONSUMER = "process"  # the durable consumer every processing node shares

# Headers of a published event; the body is the event's raw bytes.
TIME_HEADER = "Engine-Time"  # event time, epoch ms
RECEIVED_HEADER = "Engine-Received"  # when the collect node received it, epoch ms
KEY_HEADER = "Engine-Key"  # the dedupe key, percent-encoded (absent: none)
MSG_ID_HEADER = "Nats-Msg-Id"  # JetStream's dedupe: "<subject token>:<encoded key>"

_PLAIN = re.compile(r"[A-Za-z0-9_-]")
_STREAM_EXISTS = 10058  # JetStream: stream name already in use with a different config
_FAILURES = (nats.errors.Error, asyncio.TimeoutError, OSError)


def subject_token(stream: str) -> str:
    """An event stream's name as one subject token: letters, digits, ``_`` and ``-`` stay,
    every other byte of its UTF-8 becomes ``=XX``, so any name is a valid, distinct token."""
    token = "".join(ch if _PLAIN.fullmatch(ch) else "".join(f"={b:02X}" for b in ch.encode())
                    for ch in stream)
    return token or "="


def stream_of_token(encoded: str) -> str:
    """The event stream name `subject_token` encoded."""
    if encoded == "=":
        return ""
    out = bytearray()
    i = 0
    while i < len(encoded):
        if encoded[i] == "=":
            out.append(int(encoded[i + 1:i + 3], 16))
            i += 3
        else:
            out.extend(encoded[i].encode())
            i += 1
    return out.decode()


class NatsLog:
    """One JetStream stream as the event log: publish, hand out to the shared consumer, ack,
    read back by seq. Build it with `NatsLog.connect`; every method raises
    `TransportUnavailable` when NATS cannot answer within the time allowed."""

    def __init__(self, nc: Client, spec: TransportSpec, *, timeout: float, ack_wait: float,
                 duplicate_window: float, max_ack_pending: int) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream(timeout=timeout)
        self.url = spec.url or DEFAULT_URL
        self.stream = spec.stream or DEFAULT_STREAM
        self.timeout = timeout
        self.ack_wait = ack_wait
        self.duplicate_window = duplicate_window
        self.max_ack_pending = max_ack_pending
        self._subjects = f"{self.stream}.events.>"
        self._pull: JetStreamContext.PullSubscription | None = None

    @classmethod
    async def connect(cls, spec: TransportSpec, *, timeout: float = 5.0,
                      ack_wait: float = 30.0, duplicate_window: float = 120.0,
                      max_ack_pending: int = 100_000, reconnect_wait: float = 0.5,
                      name: str = "engine") -> NatsLog:
        """Connect to the server `spec` names; afterwards nats-py reconnects by itself for as
        long as it takes, while calls made meanwhile fail fast (see `connected`).

        `ack_wait`: seconds a handed-out event may stay unacknowledged before it is handed out
        again. `duplicate_window`: seconds JetStream remembers a dedupe key (the store's dedupe
        keys cover longer spans)."""
        url = spec.url or DEFAULT_URL
        nc = Client()

        async def quiet(_exc: Exception) -> None:
            return None  # connection trouble shows as `connected` and as failed calls

        try:
            async with asyncio.timeout(timeout):
                await nc.connect(servers=[url], name=name, connect_timeout=max(1, int(timeout)),
                                 allow_reconnect=True, max_reconnect_attempts=-1,
                                 # nats-py annotates int but sleeps any float
                                 reconnect_time_wait=reconnect_wait,  # type: ignore[arg-type]
                                 error_cb=quiet)
        except _FAILURES as exc:
            with contextlib.suppress(Exception):
                await nc.close()
            raise TransportUnavailable(f"cannot connect to NATS at {url}: {_why(exc)}") from exc
        return cls(nc, spec, timeout=timeout, ack_wait=ack_wait,
                   duplicate_window=duplicate_window, max_ack_pending=max_ack_pending)

    @property
    def connected(self) -> bool:
        """Whether the connection is up now; false while nats-py reconnects."""
        return bool(self._nc.is_connected)

    def ready(self) -> bool:
        return self.connected

    async def close(self) -> None:
        """Disconnect. Every publish and ack was confirmed before its call returned, so only
        naks may still be on their way: flush them (bounded). Events handed out to this node
        and not acked are handed out again after `ack_wait`."""
        with contextlib.suppress(Exception):
            if self._nc.is_connected:
                await self._nc.flush(timeout=max(1, int(self.timeout)))
        with contextlib.suppress(Exception):
            await self._nc.close()

    @contextlib.asynccontextmanager
    async def _translated(self, doing: str, seconds: float | None = None
                          ) -> AsyncIterator[None]:
        """The one place nats-py's failures become `TransportUnavailable`, with a bound on
        how long `doing` may take; refuses at once while the connection is down."""
        if not self.connected:
            raise TransportUnavailable(f"NATS at {self.url} is not connected ({doing})")
        try:
            async with asyncio.timeout(self.timeout if seconds is None else seconds):
                yield
        except _FAILURES as exc:
            raise TransportUnavailable(f"NATS at {self.url}: {doing} failed: {_why(exc)}"
                                       ) from exc

    async def ensure(self) -> None:
        """Create the stream and the shared consumer, or bring them to this configuration.
        Idempotent: any number of nodes may call it at once.

        Of an existing stream only what the engine owns is brought to this configuration (its
        subjects and duplicate window); its limits, replicas, placement and the rest are the
        operator's (docs/scale-out.md "Sizing"), and a node that starts keeps them."""
        stream = api.StreamConfig(
            name=self.stream, subjects=[self._subjects], storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS, duplicate_window=self.duplicate_window)
        consumer = api.ConsumerConfig(
            durable_name=CONSUMER, ack_policy=api.AckPolicy.EXPLICIT,
            deliver_policy=api.DeliverPolicy.ALL, ack_wait=self.ack_wait,
            max_ack_pending=self.max_ack_pending, filter_subject=self._subjects)
        async with self._translated("creating the stream"):
            try:
                await self._js.add_stream(stream)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_EXISTS:
                    raise
                held = (await self._js.stream_info(self.stream)).config
                wanted = dataclasses.replace(held, subjects=stream.subjects,
                                             duplicate_window=stream.duplicate_window)
                if wanted != held:
                    await self._js.update_stream(wanted)
            await self._js.add_consumer(self.stream, consumer)

    def subject(self, stream: str) -> str:
        return f"{self.stream}.events.{subject_token(stream)}"

    async def publish(self, stream: str, received_ms: int, events: Sequence[NewEvent]
                      ) -> list[PublishResult]:
        """Publish the events of one request and return once JetStream acknowledged every
        one: each event's seq, and whether its dedupe key made it a duplicate. The publishes
        are pipelined on the connection, so a request costs about one round trip."""
        subject = self.subject(stream)
        token = subject_token(stream)

        async def one(key: str | None, time_ms: int, body: bytes) -> PublishResult:
            headers = {TIME_HEADER: str(time_ms), RECEIVED_HEADER: str(received_ms)}
            if key is not None:
                encoded = quote(key, safe="")
                headers[KEY_HEADER] = encoded
                headers[MSG_ID_HEADER] = f"{token}:{encoded}"
            ack = await self._js.publish(subject, body, headers=headers, stream=self.stream)
            return PublishResult(ack.seq, bool(ack.duplicate))

        if not events:
            return []
        async with self._translated(f"publishing {len(events)} events"):
            return list(await asyncio.gather(*(one(*event) for event in events)))

    async def _subscription(self) -> JetStreamContext.PullSubscription:
        if self._pull is None:
            self._pull = await self._js.pull_subscribe_bind(CONSUMER, stream=self.stream)
        return self._pull

    async def fetch(self, batch: int, timeout: float) -> list[Delivery]:
        """Up to `batch` events from the shared consumer, waiting up to `timeout` seconds for
        the first; [] when none came. Each stays this node's until acked, nakked or
        `ack_wait` passes."""
        async with self._translated("fetching events", timeout + self.timeout):
            pull = await self._subscription()
            try:
                msgs = await pull.fetch(batch, timeout=timeout)
            except TimeoutError:  # nats-py raises its own or the builtin one: none came
                return []
        return [_delivery(msg, self.stream) for msg in msgs]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge events for good, after the caller committed what they did; returns
        once the server confirmed every ack, so a confirmed event is never handed out again."""
        if deliveries:
            async with self._translated(f"acknowledging {len(deliveries)} events"):
                await asyncio.gather(*(d.handle.ack_sync(timeout=self.timeout)
                                       for d in deliveries))

    async def nak(self, deliveries: Sequence[Delivery]) -> None:
        """Hand events back, to be delivered again (to any node) at once."""
        if deliveries:
            async with self._translated(f"handing back {len(deliveries)} events"):
                for d in deliveries:
                    await d.handle.nak()
                await self._nc.flush(timeout=max(1, int(self.timeout)))

    async def read(self, after_seq: int, limit: int) -> list[LogRow]:
        """Up to `limit` events past seq `after_seq`, in seq order, for `engine replay`:
        read through an ephemeral consumer of its own, leaving the shared one as it is."""
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE, deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after_seq + 1, filter_subject=self._subjects, mem_storage=True,
            inactive_threshold=max(self.timeout, 5.0), num_replicas=1)
        rows: list[LogRow] = []
        async with self._translated(f"reading after seq {after_seq}", 10 * self.timeout):
            info = await self._js.add_consumer(self.stream, config)
            try:
                want = min(limit, info.num_pending or 0)
                pull = await self._js.pull_subscribe_bind(info.name, stream=self.stream)
                try:
                    while len(rows) < want:
                        try:
                            msgs = await pull.fetch(min(want - len(rows), 1000),
                                                    timeout=self.timeout)
                        except TimeoutError:
                            break  # fewer than counted: some were removed meanwhile
                        rows.extend(_delivery(m, self.stream).row for m in msgs)
                finally:
                    await pull.unsubscribe()
            finally:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await self._js.delete_consumer(self.stream, info.name)
        return rows[:limit]

    async def get(self, seq: int) -> LogRow | None:
        """The event under `seq`, or None when the stream holds none there."""
        if seq < 1:
            return None
        async with self._translated(f"reading seq {seq}"):
            try:
                raw = await self._js.get_msg(self.stream, seq=seq)
            except nats.js.errors.NotFoundError:
                return None
        assert raw.subject is not None and raw.seq is not None
        return _row(raw.seq, raw.subject, raw.headers or {}, raw.data or b"")

    async def info(self) -> TransportInfo:
        """Per event stream the events held, and the shared consumer's backlog."""
        async with self._translated("reading stream info"):
            stream = await self._js.stream_info(self.stream, subjects_filter=self._subjects)
            consumer = await self._js.consumer_info(self.stream, CONSUMER)
        prefix = len(self._subjects) - 1
        collected = {stream_of_token(subject[prefix:]): count
                     for subject, count in (stream.state.subjects or {}).items()}
        return TransportInfo(
            collected=dict(sorted(collected.items())), last_seq=stream.state.last_seq,
            pending=consumer.num_pending or 0, ack_pending=consumer.num_ack_pending or 0,
            delivered_seq=consumer.delivered.stream_seq if consumer.delivered else 0,
            ack_floor_seq=consumer.ack_floor.stream_seq if consumer.ack_floor else 0)


def _row(seq: int, subject: str, headers: dict[str, str], body: bytes) -> LogRow:
    """An event as stored in the stream, back in the store's log layout."""
    stream = stream_of_token(subject.rsplit(".", 1)[-1])
    key = headers.get(KEY_HEADER)
    return (seq, stream, None if key is None else unquote(key),
            int(headers.get(TIME_HEADER, 0)), int(headers.get(RECEIVED_HEADER, 0)), body)


def _delivery(msg: Msg, stream: str) -> Delivery:
    meta = msg.metadata
    seq, name, key, time_ms, received_ms, body = _row(
        meta.sequence.stream, msg.subject, msg.headers or {}, msg.data)
    return Delivery(seq, name, key, time_ms, received_ms, body,
                    attempt=meta.num_delivered or 1, handle=msg)


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["CONSUMER", "NatsLog", "stream_of_token", "subject_token"]
