"""The NATS JetStream transport against a real server (docs/transport.md): each test its own
stream, through `open_transport` or `NatsLog` as the engine's callers use them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config.model import TransportSpec
from engine.errors import TransportUnavailable
from engine.transport import (
    NatsLog,
    NatsTransport,
    open_transport,
    stream_of_token,
    subject_token,
)

Opener = Callable[..., NatsTransport]


@pytest.fixture
def spec(nats_url: str, nats_stream: str) -> TransportSpec:
    return TransportSpec(backend="nats", url=nats_url, stream=nats_stream)


@pytest.fixture
def opened(spec: TransportSpec) -> Iterator[Opener]:
    """Open transports on the test's stream (each a node of its own); all closed afterwards."""
    made: list[NatsTransport] = []

    def open_one(**options: Any) -> NatsTransport:
        transport = open_transport(spec, **options)
        assert isinstance(transport, NatsTransport)
        made.append(transport)
        return transport

    yield open_one
    for transport in made:
        transport.close()


def poll(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@given(st.text())
def test_any_stream_name_is_one_subject_token(name: str) -> None:
    token = subject_token(name)
    assert token and not set(token) & set(". *>\t\r\n")
    assert stream_of_token(token) == name


def test_local_has_no_transport() -> None:
    assert open_transport(TransportSpec(backend="local")) is None


def test_publish_fetch_ack_round_trip(opened: Opener) -> None:
    t = opened()
    events = [("k1", 1_000, b'{"a": 1}'), (None, 2_000, b"\x00raw"), ("k 2/ü", 3_000, b"")]
    results = t.publish("web.events/ü", 42, events)
    assert [r.duplicate for r in results] == [False, False, False]
    assert [r.seq for r in results] == [1, 2, 3]
    got = t.fetch(10, timeout=2.0)
    assert [d.row for d in got] == [(i + 1, "web.events/ü", key, time_ms, 42, body)
                                    for i, (key, time_ms, body) in enumerate(events)]
    assert all(d.attempt == 1 for d in got)
    t.ack(got)
    assert t.fetch(10, timeout=0.2) == []
    assert t.info().backlog == 0


def test_dedupe_within_the_window(opened: Opener) -> None:
    t = opened()
    first = t.publish("web", 1, [("k", 1, b"a")])
    again = t.publish("web", 2, [("k", 1, b"a"), ("other", 1, b"b")])
    assert again[0].duplicate and again[0].seq == first[0].seq
    assert not again[1].duplicate
    # a key is a key of its stream, as in the store; keyless events are never duplicates
    assert not t.publish("app", 3, [("k", 1, b"a")])[0].duplicate
    keyless = t.publish("web", 4, [(None, 1, b"same"), (None, 1, b"same")])
    assert [r.duplicate for r in keyless] == [False, False]
    assert keyless[0].seq != keyless[1].seq
    assert t.info().collected == {"app": 1, "web": 4}


def test_nak_hands_the_event_to_another_node(opened: Opener) -> None:
    one, two = opened(), opened()
    one.publish("web", 1, [("k", 5, b"x")])
    [first] = one.fetch(5, timeout=2.0)
    assert two.fetch(5, timeout=0.2) == []  # it is node one's until acked or handed back
    one.nak([first])
    [again] = two.fetch(5, timeout=2.0)
    assert (again.seq, again.body, again.attempt) == (first.seq, b"x", 2)
    two.ack([again])
    assert two.info().backlog == 0


def test_unacked_events_come_back_after_ack_wait(opened: Opener) -> None:
    one = opened(ack_wait=1.0)
    two = opened(ack_wait=1.0)
    one.publish("web", 1, [(None, 5, b"x")])
    [first] = one.fetch(5, timeout=2.0)  # node one "dies" holding it
    again: list[Any] = []
    assert poll(lambda: bool(again.extend(two.fetch(5, timeout=0.5)) or again))
    assert again[0].seq == first.seq and again[0].attempt == 2


def test_two_fetchers_never_share_an_event(opened: Opener) -> None:
    one, two = opened(), opened()
    one.publish("web", 1, [(f"k{i}", i, b"%d" % i) for i in range(60)])
    seen: dict[str, list[int]] = {"one": [], "two": []}

    deadline = time.monotonic() + 30

    def work(name: str, t: NatsTransport) -> None:
        while len(seen["one"]) + len(seen["two"]) < 60 and time.monotonic() < deadline:
            batch = t.fetch(7, timeout=0.2)
            seen[name].extend(d.seq for d in batch)
            t.ack(batch)

    threads = [threading.Thread(target=work, args=(n, t)) for n, t in (("one", one),
                                                                        ("two", two))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(seen["one"]) & set(seen["two"])
    assert sorted(seen["one"] + seen["two"]) == list(range(1, 61))
    assert one.info().backlog == 0


def test_read_returns_the_log_in_order_without_touching_the_consumer(opened: Opener) -> None:
    t = opened()
    t.publish("web", 10, [("a", 1, b"1"), (None, 2, b"2")])
    t.publish("app", 20, [("b", 3, b"3")])
    t.publish("web", 30, [("c", 4, b"4")])
    rows = t.read(0, 1000)
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (1, "web", "a", 10), (2, "web", None, 10), (3, "app", "b", 20), (4, "web", "c", 30)]
    assert t.read(1, 2) == rows[1:3]
    assert t.read(4, 10) == []
    assert t.get(3) == rows[2] and t.get(99) is None
    assert t.info().pending == 4  # replay left the shared consumer where it was


def test_read_many(opened: Opener) -> None:
    t = opened()
    t.publish("web", 1, [(None, i, b"%d" % i) for i in range(2500)])
    rows = t.read(100, 3000)
    assert [r[0] for r in rows] == list(range(101, 2501))


def test_info_counts_streams_and_the_backlog(opened: Opener) -> None:
    t = opened()
    t.publish("a", 1, [(None, 1, b"")] * 3)
    t.publish("b", 1, [(None, 1, b"")] * 2)
    info = t.info()
    assert (info.collected, info.last_seq, info.backlog) == ({"a": 3, "b": 2}, 5, 5)
    got = t.fetch(2, timeout=2.0)
    info = t.info()
    assert (info.pending, info.ack_pending, info.delivered_seq) == (3, 2, 2)
    t.ack(got)
    info = t.info()
    assert (info.backlog, info.ack_floor_seq) == (3, 2)


def test_ensure_is_idempotent_and_concurrent(opened: Opener, spec: TransportSpec) -> None:
    nodes = [NatsTransport(spec) for _ in range(3)]
    try:
        errors: list[BaseException] = []

        def ensure(t: NatsTransport) -> None:
            try:
                t.ensure()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ensure, args=(t,)) for t in nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    finally:
        for t in nodes:
            t.close()
    t = opened(ack_wait=3.0, duplicate_window=30.0)  # a changed setting updates in place
    t.publish("web", 1, [("k", 1, b"")])
    assert opened().publish("web", 1, [("k", 1, b"")])[0].duplicate


def test_a_starting_node_keeps_the_limits_an_operator_set(opened: Opener,
                                                          spec: TransportSpec) -> None:
    opened()

    async def tune() -> tuple[int, float]:
        import nats

        nc = await nats.connect(spec.url)
        try:
            js = nc.jetstream()
            config = (await js.stream_info(spec.stream)).config
            config.max_bytes, config.max_age = 50_000_000, 86_400.0
            await js.update_stream(config)
            opened()  # another node starts
            held = (await js.stream_info(spec.stream)).config
            return held.max_bytes or 0, held.max_age or 0.0
        finally:
            await nc.close()

    assert asyncio.run(tune()) == (50_000_000, 86_400.0)


def test_the_async_core(spec: TransportSpec) -> None:
    async def run() -> None:
        log = await NatsLog.connect(spec)
        try:
            await log.ensure()
            assert log.ready()
            results = await log.publish("web", 7, [("k", 1, b"x"), ("k", 1, b"x")])
            assert [tuple(r) for r in results] == [(1, False), (1, True)]
            [d] = await log.fetch(5, timeout=2.0)
            await log.ack([d])
            assert (await log.info()).backlog == 0
        finally:
            await log.close()

    asyncio.run(run())


def test_unreachable_server() -> None:
    from tests.services import free_port

    started = time.monotonic()
    with pytest.raises(TransportUnavailable):
        NatsTransport(TransportSpec(backend="nats", url=f"nats://127.0.0.1:{free_port()}"),
                      timeout=1.0)
    assert time.monotonic() - started < 10


def test_a_closed_transport_refuses(opened: Opener) -> None:
    t = opened()
    t.close()
    with pytest.raises(TransportUnavailable):
        t.info()
    t.close()  # twice is harmless
